package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/den-run/den/internal/proc"
)

func TestParseWrk(t *testing.T) {
	for _, tc := range []struct {
		file string
		want Stats
	}{
		{"wrk-hot.txt", Stats{Requests: 17818, Seconds: 1.02, RPS: 17512.74, P50: 468 * time.Microsecond, P99: 24120 * time.Microsecond}},
		{"wrk-errors.txt", Stats{Requests: 15820, Seconds: 2.05, RPS: 7699.56, P50: 259 * time.Microsecond, P99: 82800 * time.Microsecond, Non2xx: 1568, Socket: 164}},
		{"wrk-seq.txt", Stats{Requests: 10056, Seconds: 0.7434, RPS: 13527.11, P50: 7100 * time.Microsecond, P99: 25160 * time.Microsecond}},
	} {
		out, err := os.ReadFile(filepath.Join("testdata", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseWrk(string(out))
		if err != nil {
			t.Errorf("%s: %v", tc.file, err)
			continue
		}
		if !near(got.Seconds, tc.want.Seconds) {
			t.Errorf("%s: seconds %v, want %v", tc.file, got.Seconds, tc.want.Seconds)
		}
		got.Seconds = tc.want.Seconds
		if got.P50.Round(time.Microsecond) != tc.want.P50 || got.P99.Round(time.Microsecond) != tc.want.P99 {
			t.Errorf("%s: p50 %v p99 %v, want %v %v", tc.file, got.P50, got.P99, tc.want.P50, tc.want.P99)
		}
		got.P50, got.P99 = tc.want.P50, tc.want.P99
		if got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.file, got, tc.want)
		}
	}
	if _, err := parseWrk("unable to connect to 127.0.0.1:1 Connection refused\n"); err == nil {
		t.Error("a report without numbers parsed")
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

func TestScript(t *testing.T) {
	dir := t.TempDir()
	path, err := writeScript(dir, Load{Mode: "seq", Objects: 10_000, Tag: "n", Path: "/counter/{name}/increment", Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "load-seq.lua", string(b))
	for _, l := range []Load{
		{Mode: "hot", Path: "/no-name"},
		{Mode: "rr", Path: `/"{name}`},
	} {
		if _, err := writeScript(dir, l); err == nil {
			t.Errorf("writeScript accepted path %q", l.Path)
		}
	}
}

// TestWrkDrivesCeiling runs wrk with each mode's script against the ceiling
// server: the scripts run, and mode seq ends as soon as every name was sent.
func TestWrkDrivesCeiling(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a server and wrk")
	}
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		t.Skip("no wrk installed (go run ./bench installs it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin, err := proc.Build(ctx, dir, "github.com/den-run/den/bench/ceiling")
	if err != nil {
		t.Fatal(err)
	}
	p, err := proc.Start(ctx, proc.Spec{Path: bin, Args: []string{"--addr", "127.0.0.1:0"}, Ready: proc.DenListening})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(ctx)
	for _, mode := range []string{"hot", "rr", "seq"} {
		l := Load{Mode: mode, Objects: 500, Tag: "o", Path: "/x/{name}", Threads: 2, Conns: 4, Duration: time.Second, Timeout: time.Second}
		if mode == "seq" {
			l.Duration = 30 * time.Second // ends when the 500 names were sent, long before
		}
		start := time.Now()
		s, out, err := runWrk(ctx, wrk, dir, p.URL(), l)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if s.Requests == 0 || s.RPS == 0 || s.Non2xx+s.Socket > 0 {
			t.Errorf("%s: %+v\n%s", mode, s, out)
		}
		if mode == "seq" && (s.Requests < 500 || time.Since(start) > 20*time.Second) {
			t.Errorf("seq: %d requests in %s; want 500 at once\n%s", s.Requests, time.Since(start), out)
		}
	}
}

func TestWrkDuration(t *testing.T) {
	for in, want := range map[[2]string]time.Duration{
		{"468.00", "us"}: 468 * time.Microsecond,
		{"1.76", "ms"}:   1760 * time.Microsecond,
		{"2.5", "s"}:     2500 * time.Millisecond,
		{"1.5", "m"}:     90 * time.Second,
	} {
		got, err := wrkDuration(in[0], in[1])
		if err != nil || got.Round(time.Microsecond) != want {
			t.Errorf("wrkDuration(%s%s) = %v, %v; want %v", in[0], in[1], got, err, want)
		}
	}
	if !strings.HasPrefix(wrkVersion("/nonexistent/wrk"), "wrk") {
		t.Error("wrkVersion of a missing wrk")
	}
}
