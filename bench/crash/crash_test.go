package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/den-run/den/internal/proc"
)

// TestMain fails the package if any test leaks a goroutine.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestTallyCheck(t *testing.T) {
	tally := Tally{Attempted: 10, Acknowledged: 7, HighestReplied: 8}
	for _, tc := range []struct {
		stored int64
		want   string
	}{
		{6, "fewer than acknowledged"},
		{7, "less than a value already replied"},
		{8, ""},
		{10, ""},
		{11, "more than attempted"},
	} {
		if got := tally.Check(tc.stored); got != tc.want {
			t.Errorf("Check(%d) = %q, want %q", tc.stored, got, tc.want)
		}
	}
}

// TestCounterSurvivesKills is the short form of the harness that CI runs:
// three SIGKILLs of examples/counter under load.
func TestCounterSurvivesKills(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and crashes the counter program")
	}
	dir := t.TempDir()
	bin := build(t, dir, "github.com/den-run/den/examples/counter")
	var log bytes.Buffer
	sum, err := Run(context.Background(), Config{
		Bin: bin, Data: filepath.Join(dir, "data"),
		Cycles: 3, Duration: 400 * time.Millisecond, Clients: 8, Names: 50,
		MinAcknowledged: 10, // every cycle has acknowledged writes to lose
		Seed:            uint64(time.Now().UnixNano()), Log: &log,
	})
	sum.Write(&log)
	t.Logf("\n%s", &log)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.OK() {
		t.Fatalf("acknowledged increments were lost:\n%s", &log)
	}
}

// TestHarnessNoticesLoss crashes a server that keeps its counts in memory:
// the harness must report every counter it acknowledged as a violation.
func TestHarnessNoticesLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and crashes a test program")
	}
	dir := t.TempDir()
	bin := build(t, dir, "./testdata/forgetful")
	sum, err := Run(context.Background(), Config{
		Bin: bin, Data: filepath.Join(dir, "data"),
		Cycles: 1, Duration: 200 * time.Millisecond, Clients: 4, Names: 5, Seed: 1,
		MinAcknowledged: 20, // writes to lose, however busy the machine
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.OK() || sum.Acknowledged == 0 {
		t.Fatalf("a server that forgets everything passed: %+v", sum)
	}
	var out strings.Builder
	sum.Write(&out)
	if !strings.Contains(out.String(), "FAILED") || !strings.Contains(out.String(), "fewer than acknowledged") {
		t.Errorf("summary does not report the loss:\n%s", &out)
	}
}

func build(tb testing.TB, dir, pkg string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin, err := proc.Build(ctx, dir, pkg)
	if err != nil {
		tb.Fatal(err)
	}
	return bin
}
