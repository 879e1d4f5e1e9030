package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/den-run/den/internal/mdtable"
)

// Environment is what a report says about the run.
type Environment struct {
	Date             time.Time
	Go, Wrk, Workerd string
	CPUs             int
	// Load is /proc/loadavg's 1-minute load average before and after the
	// run: other work on the machine skews every number.
	LoadBefore, LoadAfter string
	Opts                  Options
}

// Result is one cell: a runtime running a variant under a workload.
type Result struct {
	Workload, Runtime, Variant string
	Conns                      int
	Stats
	PeakRSS int64 // bytes, VmHWM at the end of the cell
	Err     error // what went wrong, when the cell failed
}

// Summary is the result on one line, for the progress log.
func (r Result) Summary() string {
	if r.Err != nil {
		return "error: " + r.Err.Error()
	}
	return fmt.Sprintf("%.0f req/s, p50 %s, p99 %s, peak RSS %s, errors %s", r.RPS, latency(r.P50), latency(r.P99), mib(r.PeakRSS), r.errors())
}

func (r Result) errors() string {
	if r.Non2xx == 0 && r.Socket == 0 {
		return "0"
	}
	var parts []string
	if r.Non2xx > 0 {
		parts = append(parts, fmt.Sprintf("%d non-2xx", r.Non2xx))
	}
	if r.Socket > 0 {
		parts = append(parts, fmt.Sprintf("%d socket", r.Socket))
	}
	return strings.Join(parts, ", ")
}

// Report is a whole run.
type Report struct {
	Env     Environment
	Results []Result
}

// ratio returns Den's rate over workerd's for the same workload and variant,
// or "" when r is not a Den cell or either side has no rate.
func (rep Report) ratio(r Result) string {
	if r.Runtime != "Den" || r.Err != nil || r.RPS == 0 {
		return ""
	}
	for _, o := range rep.Results {
		if o.Runtime == "workerd" && o.Workload == r.Workload && o.Variant == r.Variant && o.Err == nil && o.RPS > 0 {
			return fmt.Sprintf("%.2f×", r.RPS/o.RPS)
		}
	}
	return ""
}

// Markdown writes the report: a few lines on the run, the table, and what
// the columns mean.
func (rep Report) Markdown(w io.Writer) {
	e, o := rep.Env, rep.Env.Opts
	fmt.Fprintf(w, "# Den vs workerd, %s\n\n", e.Date.Format("2006-01-02 15:04"))
	fmt.Fprintf(w, "%d CPUs (load average %s before the run, %s after), %s, %s", e.CPUs, e.LoadBefore, e.LoadAfter, e.Go, e.Wrk)
	if e.Workerd != "" {
		fmt.Fprintf(w, ", workerd %s", e.Workerd)
	}
	fmt.Fprintf(w, ". wrk -t%d, %s per cell (workload c: until %d objects were touched, at most %s)", o.Threads, o.Duration, o.Objects, o.NewCap)
	if len(o.DenFlags) > 0 {
		fmt.Fprintf(w, "; Den flags: `%s`", strings.Join(o.DenFlags, " "))
	}
	fmt.Fprintf(w, ".\n\n")

	header := []string{"workload", "variant", "runtime", "conns", "requests", "req/s", "p50", "p99", "peak RSS", "errors", "Den/workerd"}
	rows := [][]string{header}
	for _, r := range rep.Results {
		row := []string{r.Workload, r.Variant, r.Runtime, fmt.Sprint(r.Conns)}
		if r.Err != nil {
			msg, _, _ := strings.Cut(r.Err.Error(), "\n")
			row = append(row, "", "error: "+msg, "", "", "", "", "")
		} else {
			row = append(row, fmt.Sprint(r.Requests), fmt.Sprintf("%.0f", r.RPS), latency(r.P50), latency(r.P99),
				mib(r.PeakRSS), r.errors(), rep.ratio(r))
		}
		rows = append(rows, row)
	}
	mdtable.Write(w, rows)
	fmt.Fprint(w, `
- workload (a): every request increments one counter; (b): the counters are touched once
  first, then requests go round-robin over all of them; (c): every request increments a
  counter never used before, and the run ends when all of them were touched.
- variant kv: read the count, add one, write it back (Den: examples/counter; workerd:
  ctx.storage.get/put); sql: one INSERT … ON CONFLICT DO UPDATE … RETURNING (Den: bench/app;
  workerd: ctx.storage.sql.exec). Both runtimes keep every object in its own SQLite database
  and answer only once the write is durable (fsynced). Both evict an object's instance after
  10 s without events; Den keeps its database open for a minute more (--storage-idle-timeout),
  within its live-object cap, which the open-file limit sets (2 files per object).
- runtime Go net/http: a handler that writes "1" and touches no storage, this machine's ceiling.
- requests: responses completed; p50, p99: wrk's latency percentiles; peak RSS: the server
  process's VmHWM at the end of the cell (a fresh process per cell); errors: responses with a
  status ≥ 400, and socket errors (connect, read, write, timeout); Den/workerd: Den's req/s over
  workerd's in the same workload and variant.
`)
}

// latency formats a latency with three significant digits.
func latency(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < 100*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	case d < 10*time.Second:
		return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

// mib formats a byte count in MiB.
func mib(n int64) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
}

// loadAverage returns the 1-minute load average from /proc/loadavg, or "?".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}
