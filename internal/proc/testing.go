package proc

import (
	"context"
	"os/exec"
	"testing"
	"time"
)

// BuildT builds the program in pkg (a path as `go build` takes it, relative
// to the test's directory) into a temporary directory. It skips the test if
// there is no go command.
func BuildT(tb testing.TB, pkg string) string {
	tb.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		tb.Skip("no go command to build the program with")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin, err := Build(ctx, tb.TempDir(), pkg)
	if err != nil {
		tb.Fatal(err)
	}
	return bin
}

// StartDen starts the Den program bin on a free loopback port with data as
// its data directory and no operator API, and waits until it listens. It
// is killed when the test ends if it still runs.
func StartDen(tb testing.TB, bin, data string, args ...string) *Process {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := Start(ctx, Spec{
		Path:  bin,
		Args:  append([]string{"--addr", "127.0.0.1:0", "--admin-addr", "off", "--data", data, "--log-level", "warn"}, args...),
		Ready: DenListening,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Kill)
	return p
}

// StopT sends SIGTERM and fails the test unless the program drains and
// exits 0 within 40 seconds.
func StopT(tb testing.TB, p *Process) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	if err := p.Stop(ctx); err != nil {
		tb.Fatal(err)
	}
}
