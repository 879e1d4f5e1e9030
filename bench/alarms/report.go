package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/den-run/den/internal/mdtable"
)

// report is a whole run.
type report struct {
	date                  time.Time
	cpus                  int
	goVersion, workerd    string
	loadBefore, loadAfter string // /proc/loadavg's 1-minute load average
	results               []result
}

// markdown writes the report: a heading, what was run, one table, and a note
// per runtime on how its run went.
func (rep report) markdown(w io.Writer) {
	fmt.Fprintf(w, "# Alarms due while the server was down, Den vs workerd, %s\n\n", rep.date.Format("2006-01-02 15:04"))
	fmt.Fprintf(w, "%d CPUs (load average %s before the run, %s after), %s", rep.cpus, rep.loadBefore, rep.loadAfter, rep.goVersion)
	if rep.workerd != "" {
		fmt.Fprintf(w, ", workerd %s", rep.workerd)
	}
	fmt.Fprintf(w, ". Each object got one alarm, all due at the same moment; the server was stopped (SIGTERM) "+
		"before it and started again on the same data a second after it. Times are from the restart (process start) "+
		"to the first and the last alarm handler the harness saw (it counts every %s without touching the objects); "+
		"alarms/s is the objects over the time from the first to the last; CPU is the restarted server's user + system "+
		"time until the last, over the objects.\n\n", pollEvery)
	header := []string{"runtime", "objects", "first alarm", "all alarms", "alarms/s", "server CPU per alarm", "peak RSS", "Den/workerd, time to all"}
	rows := [][]string{header}
	for _, r := range rep.results {
		if r.err != nil {
			rows = append(rows, []string{r.runtime, fmt.Sprint(r.objects), "error", "", "", "", "", ""})
			continue
		}
		rows = append(rows, []string{
			r.runtime, fmt.Sprint(r.objects), seconds(r.first), seconds(r.all), rate(r),
			fmt.Sprintf("%.2f ms", float64(r.cpu)/float64(time.Millisecond)/float64(r.objects)),
			mib(r.peakRSS), rep.ratio(r),
		})
	}
	mdtable.Write(w, rows)
	fmt.Fprintln(w)
	for _, r := range rep.results {
		if r.err != nil {
			first, _, _ := strings.Cut(strings.TrimSpace(r.err.Error()), "\n") // the rest, such as the server's log, went to stderr
			fmt.Fprintf(w, "- %s: error: %s\n", r.runtime, first)
			continue
		}
		fmt.Fprintf(w, "- %s: scheduled in %s (%.0f/s over %d connections), stopped in %s, restarted %s after it stopped and %s after the alarms fell due, "+
			"with an open-file limit of %d; %s; %d warnings or errors at the end of its log; %d random objects read back (%d reads tried again), "+
			"each with its reminder delivered once, by handlers that started (their `delivered_at`) %s to %s after the restart.\n",
			r.runtime, seconds(r.scheduled), float64(r.objects)/r.scheduled.Seconds(), r.conns, seconds(r.stopped), seconds(r.down), seconds(r.late),
			r.nofile, r.counted, r.complaints, r.verified, r.readRetries, seconds(r.stamped[0]), seconds(r.stamped[1]))
	}
}

// ratio returns, on Den's row, Den's time to all alarms over workerd's.
func (rep report) ratio(r result) string {
	if r.runtime != "Den" {
		return ""
	}
	for _, o := range rep.results {
		if o.runtime == "workerd" && o.err == nil && o.all > 0 {
			return fmt.Sprintf("%.2f×", r.all.Seconds()/o.all.Seconds())
		}
	}
	return ""
}

// rate returns the alarms per second from the first to the last.
func rate(r result) string {
	if d := r.all - r.first; d > 0 {
		return fmt.Sprintf("%.0f", float64(r.objects)/d.Seconds())
	}
	return "-"
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// mib formats a byte count in MiB.
func mib(n int64) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
}
