package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/den-run/den/internal/proc"
)

// newDen returns the Den target: examples/reminders, built as bin, run with
// its defaults (point-in-time history on) and its operator API on a free
// port, whose Prometheus metrics count the alarm handlers that ran.
func newDen(bin string) *target {
	return &target{
		name: "Den",
		start: func(ctx context.Context, dir string) (*proc.Process, error) {
			return proc.Start(ctx, proc.Spec{
				Path: bin,
				// The log level and format are the defaults, said so that the
				// "admin listening" line is there to read whatever DEN_* says.
				Args: []string{"--addr", "127.0.0.1:0", "--data", filepath.Join(dir, "data"),
					"--admin-addr", "127.0.0.1:0", "--log-level", "info", "--log-format", "text"},
				Dir:   dir, // no wrangler.jsonc there: the app's own configuration
				Ready: proc.DenListening,
			})
		},
		scheduled: func(ctx context.Context, dir string) (int, error) {
			return countSchedule(ctx, denSchedulePath(dir), denSchedule)
		},
		watch: func(ctx context.Context, p *proc.Process, dir string, held int) (counter, error) {
			return watchDen(ctx, p)
		},
	}
}

// adminLine is the log line in which a Den program says where its operator
// API listens.
var adminLine = regexp.MustCompile(`msg="admin listening" addr=(\S+)`)

// watchDen finds the operator API of the Den program p in its log and
// returns a counter reading den_alarms_run_total from its /metrics, which
// needs no token and touches no object.
func watchDen(ctx context.Context, p *proc.Process) (counter, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond) // the line is logged before the program says it listens
	defer tick.Stop()
	for {
		if m := adminLine.FindStringSubmatch(p.Stderr()); m != nil {
			return &denMetrics{url: "http://" + m[1] + "/metrics", client: &http.Client{Timeout: 10 * time.Second}}, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no \"admin listening\" line in the log: %w\n%s", context.Cause(ctx), p.Stderr())
		case <-tick.C:
		}
	}
}

// denMetrics reads a Den program's alarm counters.
type denMetrics struct {
	url    string
	client *http.Client
	last   map[string]float64 // the counters last read
}

func (d *denMetrics) count(ctx context.Context) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", d.url, resp.Status)
	}
	m, err := parseCounters(bufio.NewScanner(resp.Body), "den_alarms_run_total", "den_alarms_retried_total", "den_alarms_abandoned_total")
	if err != nil {
		return 0, fmt.Errorf("GET %s: %w", d.url, err)
	}
	d.last = m
	return int(m["den_alarms_run_total"]), nil
}

func (d *denMetrics) note() string {
	return fmt.Sprintf("den_alarms_run_total %.0f, den_alarms_retried_total %.0f, den_alarms_abandoned_total %.0f",
		d.last["den_alarms_run_total"], d.last["den_alarms_retried_total"], d.last["den_alarms_abandoned_total"])
}

func (d *denMetrics) close() { d.client.CloseIdleConnections() }

// parseCounters reads the named unlabeled series from a Prometheus text
// exposition and fails if one is missing.
func parseCounters(sc *bufio.Scanner, names ...string) (map[string]float64, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	got := map[string]float64{}
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || !want[name] {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return nil, fmt.Errorf("metric %s: %w", name, err)
		}
		got[name] = v
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, n := range names {
		if _, ok := got[n]; !ok {
			return nil, fmt.Errorf("no %s in the metrics", n)
		}
	}
	return got, nil
}
