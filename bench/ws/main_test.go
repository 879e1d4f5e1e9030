package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaks a goroutine.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestShortRun runs the benchmark's short form against Den: 1,000 idle
// sockets, the kernel floor and a broadcast to 1,000, and a short chat cell. It checks that
// every cell produced a number, not what the number is.
func TestShortRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a server")
	}
	o, err := parseFlags([]string{"-runtimes", "den", "-sockets", "1000", "-quick", "-settle", "2500ms", "-duration", "1s", "-rounds", "2"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, log bytes.Buffer
	if err := run(ctx, o, &out, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	for _, want := range []string{"idle RSS per socket, 1000 sockets | ", "broadcast to 1000 sockets of one room | median", "msg/s",
		"| kernel floor | broadcast to 1000 sockets, write(2) from 1 thread | median", "write(2) from 2 threads | median",
		"io_uring send, 256 per enter, 1 thread | median", "io_uring send, 256 per enter, 2 threads | median"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("no %q in:\n%s", want, out.String())
		}
	}
	t.Log(out.String())
}

func TestParseFlags(t *testing.T) {
	if _, err := parseFlags([]string{"-sockets", "10,x"}); err == nil {
		t.Fatal("a bad count passed")
	}
	if _, err := parseFlags([]string{"-runtimes", "node"}); err == nil {
		t.Fatal("an unknown runtime passed")
	}
	if _, err := parseFlags([]string{"-uring-batch", "300"}); err == nil {
		t.Fatal("a batch that is not a power of two passed")
	}
	o, err := parseFlags([]string{"-quick"})
	if err != nil || o.Fanout != 1000 || o.Settle != 3*time.Second {
		t.Fatalf("-quick: %+v %v", o, err)
	}
}
