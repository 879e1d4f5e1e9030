package main_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestBinary builds the counter program and checks, across processes, that
// a SIGKILL loses no acknowledged increment and that SIGTERM drains and
// exits 0.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the program")
	}
	bin := build(t)
	data := filepath.Join(t.TempDir(), "data")
	c := newClient(t)

	// Increment from several clients and kill the process mid-stream.
	p := start(t, bin, data)
	var acked atomic.Int64 // number of acknowledged increments
	var mu sync.Mutex      // protects maxAck
	maxAck := 0
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const clients = 4
	for range clients {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				n, err := increment(c, p.base(), "k")
				if err != nil {
					return // the process is gone
				}
				acked.Add(1)
				mu.Lock()
				maxAck = max(maxAck, n)
				mu.Unlock()
			}
		})
	}
	for acked.Load() < 100 {
		select {
		case <-p.exited:
			t.Fatalf("the program exited early:\n%s", p.stderr)
		case <-time.After(time.Millisecond):
		}
	}
	p.kill(t)
	close(stop)
	wg.Wait()
	t.Logf("%d increments acknowledged before SIGKILL, highest value %d", acked.Load(), maxAck)

	p = start(t, bin, data)
	got := value(t, c, p.base(), "k")
	// Every acknowledged increment survived; at most the ones in flight
	// at the kill may have landed too.
	if got < maxAck || got < int(acked.Load()) || got > int(acked.Load())+clients {
		t.Fatalf("after SIGKILL the value is %d; %d increments were acknowledged, the highest value %d", got, acked.Load(), maxAck)
	}
	n, err := increment(c, p.base(), "k")
	if err != nil || n != got+1 {
		t.Fatalf("increment after restart: %d %v, want %d", n, err, got+1)
	}

	// SIGTERM drains and exits 0, keeping the data.
	p.terminate(t)
	p = start(t, bin, data)
	if v := value(t, c, p.base(), "k"); v != got+1 {
		t.Fatalf("after SIGTERM the value is %d, want %d", v, got+1)
	}
	p.terminate(t)
}

// build compiles the program into a temporary directory.
func build(tb testing.TB) string {
	tb.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		tb.Skip("no go command to build the program with")
	}
	bin := filepath.Join(tb.TempDir(), "counter")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, gobin, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// process is a running counter program.
type process struct {
	cmd    *exec.Cmd
	addr   string
	stderr *syncBuffer
	exited chan struct{} // closed when the process has exited
	err    error         // Wait's result, set before exited is closed
}

func (p *process) base() string { return "http://" + p.addr }

// start runs the program on a free port with data and waits for its
// listening line. The process is killed when the test ends if still running.
func start(tb testing.TB, bin, data string) *process {
	tb.Helper()
	out := &lineWriter{lines: make(chan string, 16)}
	p := &process{
		cmd:    exec.Command(bin, "--addr", "127.0.0.1:0", "--admin-addr", "off", "--data", data, "--log-level", "warn"),
		stderr: &syncBuffer{},
		exited: make(chan struct{}),
	}
	p.cmd.Stdout, p.cmd.Stderr = out, p.stderr
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	tb.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
	})
	select {
	case line := <-out.lines:
		addr, ok := strings.CutPrefix(line, "den: listening on http://")
		if !ok {
			tb.Fatalf("first line of stdout is %q", line)
		}
		p.addr = addr
	case <-p.exited:
		tb.Fatalf("the program exited before listening (%v):\n%s", p.err, p.stderr)
	case <-time.After(20 * time.Second):
		tb.Fatalf("the program did not print its listening line:\n%s", p.stderr)
	}
	return p
}

// kill sends SIGKILL and waits for the process to die.
func (p *process) kill(tb testing.TB) {
	tb.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		tb.Fatal(err)
	}
	<-p.exited
}

// terminate sends SIGTERM and checks that the process exits 0.
func (p *process) terminate(tb testing.TB) {
	tb.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		tb.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(40 * time.Second):
		tb.Fatal("the program did not exit after SIGTERM")
	}
	if p.err != nil {
		tb.Fatalf("after SIGTERM: %v\n%s", p.err, p.stderr)
	}
}

// lineWriter reports each complete line written to it.
type lineWriter struct {
	mu    sync.Mutex // protects buf
	buf   []byte
	lines chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		select {
		case w.lines <- string(w.buf[:i]):
		default:
		}
		w.buf = w.buf[i+1:]
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex // protects b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newClient returns an HTTP client whose connections close with the test.
func newClient(tb testing.TB) *http.Client {
	tb.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// increment increments a counter and returns the new value.
func increment(c *http.Client, base, name string) (int, error) {
	resp, err := c.Post(base+"/counter/"+name+"/increment", "", nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != 200 {
		return 0, errors.New(resp.Status + ": " + string(b))
	}
	return strconv.Atoi(string(b))
}

// value reads a counter.
func value(tb testing.TB, c *http.Client, base, name string) int {
	tb.Helper()
	resp, err := c.Get(base + "/counter/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		tb.Fatalf("GET %s: %d %q %v", name, resp.StatusCode, b, err)
	}
	n, err := strconv.Atoi(string(b))
	if err != nil {
		tb.Fatalf("GET %s: %q is not a decimal number", name, b)
	}
	return n
}
