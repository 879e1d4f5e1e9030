package main

import (
	"bufio"
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaks a goroutine.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseFlags(t *testing.T) {
	if _, err := parseFlags([]string{"-runtimes", "node"}); err == nil {
		t.Fatal("an unknown runtime passed")
	}
	if _, err := parseFlags([]string{"-objects", "0"}); err == nil {
		t.Fatal("zero objects passed")
	}
	o, err := parseFlags(nil)
	if err != nil || o.Objects != 10_000 || len(o.Runtimes) != 2 || o.Lead != 230*time.Second || o.leadSet {
		t.Fatalf("defaults: %+v %v", o, err)
	}
	o, err = parseFlags([]string{"-quick", "-runtimes", "den", "-lead", "5s"})
	if err != nil || o.Objects != 1000 || o.Runtimes[0] != "den" || o.Lead != 5*time.Second || !o.leadSet {
		t.Fatalf("-quick -runtimes den -lead 5s: %+v %v", o, err)
	}
	if o, err := parseFlags([]string{"-quick", "-objects", "7"}); err != nil || o.Objects != 7 {
		t.Fatalf("-quick -objects 7: %+v %v", o, err)
	}
}

func TestParseCounters(t *testing.T) {
	text := "# HELP den_alarms_run_total Alarm handler runs.\n# TYPE den_alarms_run_total counter\nden_alarms_run_total 9876\n" +
		"den_alarms_run_total_other 1\nden_alarms_retried_total 2\ngo_goroutines 12\n"
	m, err := parseCounters(bufio.NewScanner(strings.NewReader(text)), "den_alarms_run_total", "den_alarms_retried_total")
	if err != nil || m["den_alarms_run_total"] != 9876 || m["den_alarms_retried_total"] != 2 {
		t.Fatalf("parseCounters = %v, %v", m, err)
	}
	if _, err := parseCounters(bufio.NewScanner(strings.NewReader(text)), "den_alarms_abandoned_total"); err == nil {
		t.Fatal("a missing series passed")
	}
}

func TestCheck(t *testing.T) {
	ok := reminder{At: 1000, Message: "m", DeliveredAt: 1001}
	if p := check(list{Delivered: []reminder{ok}}, 1000, "m"); p != "" {
		t.Errorf("a reminder delivered once: %s", p)
	}
	early := ok
	early.DeliveredAt = 999
	for name, l := range map[string]list{
		"twice":   {Delivered: []reminder{ok, ok}},
		"early":   {Delivered: []reminder{early}},
		"pending": {Pending: []reminder{{At: 1000, Message: "m"}}},
		"none":    {},
	} {
		if check(l, 1000, "m") == "" {
			t.Errorf("%s passed", name)
		}
	}
	if check(list{Delivered: []reminder{ok}}, 1000, "other") == "" {
		t.Error("another message passed")
	}
}

// TestDen runs the case on Den with 50 objects and checks the table.
func TestDen(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a server")
	}
	shortRun(t, "den", "Den")
}

// TestWorkerd runs the case on workerd with 50 objects, counting its alarm
// handlers both ways, if go run ./bench has installed it.
func TestWorkerd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a server")
	}
	root, err := moduleRoot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := workerdBinary(filepath.Join(root, "bench", ".cache")); err != nil {
		t.Skip(err)
	}
	t.Run("schedule", func(t *testing.T) { shortRun(t, "workerd", "workerd") })
	t.Run("notify", func(t *testing.T) { shortRun(t, "workerd", "workerd", "-notify") })
}

// shortRun runs the case on runtime with 50 objects and checks the row and
// the notes of the table.
func shortRun(t *testing.T, runtime, row string, args ...string) {
	o, err := parseFlags(append([]string{"-runtimes", runtime, "-objects", "50", "-sample", "50", "-timeout", "1m", "-out", "-"}, args...))
	if err != nil {
		t.Fatal(err)
	}
	o.Lead = 5 * time.Second // doubled once if the machine is too slow for it
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var out, log bytes.Buffer
	if err := run(ctx, o, &out, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	for _, want := range []string{"| " + row + " ", "| 50 ", " s ", " ms ", "MiB", "50 random objects read back", "each with its reminder delivered once"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("no %q in:\n%s\nlog:\n%s", want, out.String(), log.String())
		}
	}
	t.Log(out.String())
}
