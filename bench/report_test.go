package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestReportMarkdown(t *testing.T) {
	o, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	const hot = "(a) one hot object"
	rep := Report{
		Env: Environment{Date: time.Date(2026, 11, 27, 17, 0, 0, 0, time.UTC), Go: "go1.26.8", Wrk: "wrk 4.1.0 [epoll]", Workerd: "1.20261117.1", CPUs: 2, LoadBefore: "0.05", LoadAfter: "1.93", Opts: o},
		Results: []Result{
			{Workload: hot, Runtime: "Go net/http", Variant: "-", Conns: 16, Stats: Stats{Requests: 430000, Seconds: 10, RPS: 43000, P50: 300 * time.Microsecond, P99: 3 * time.Millisecond}, PeakRSS: 13 << 20},
			{Workload: hot, Runtime: "Den", Variant: "kv", Conns: 16, Stats: Stats{Requests: 200000, Seconds: 10, RPS: 20000, P50: 800 * time.Microsecond, P99: 2500 * time.Microsecond}, PeakRSS: 30 << 20},
			{Workload: hot, Runtime: "workerd", Variant: "kv", Conns: 16, Stats: Stats{Requests: 16000, Seconds: 10, RPS: 1600, P50: 9 * time.Millisecond, P99: 20 * time.Millisecond, Non2xx: 3, Socket: 1}, PeakRSS: 100 << 20},
			{Workload: hot, Runtime: "Den", Variant: "sql", Conns: 16, Stats: Stats{Requests: 100000, Seconds: 10, RPS: 10000, P50: 1500 * time.Microsecond, P99: 5 * time.Millisecond}, PeakRSS: 30 << 20},
			{Workload: hot, Runtime: "workerd", Variant: "sql", Conns: 16, Err: errors.New("probe answered 500\nmore detail")},
		},
	}
	var b strings.Builder
	rep.Markdown(&b)
	golden(t, "report.md", b.String())
}

func TestLatency(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                        "-",
		468 * time.Microsecond:   "468µs",
		1760 * time.Microsecond:  "1.76ms",
		24120 * time.Microsecond: "24.1ms",
		250 * time.Millisecond:   "250ms",
		12 * time.Second:         "12.0s",
	} {
		if got := latency(d); got != want {
			t.Errorf("latency(%v) = %q, want %q", d, got, want)
		}
	}
}
