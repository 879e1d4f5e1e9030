package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/den-run/den/examples/reminders/reminders"
)

// TestBinary builds the reminders program and checks, across processes, that
// every acknowledged reminder is delivered exactly once even though the
// process is killed with SIGKILL while alarms run, and that reminders that
// fall due while no process runs are delivered after the restart.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the program")
	}
	bin := build(t)
	data := filepath.Join(t.TempDir(), "data")
	c := newClient(t)
	users := []string{"ann", "bob", "cy", "dee"}

	p := start(t, bin, data)
	var mu sync.Mutex // protects acked
	acked := map[string]reminders.Reminder{}
	t0 := time.Now()
	// Each user gets reminders due before the kill, around it, after it
	// (while no process runs) and far in the future, posted concurrently.
	var wg sync.WaitGroup
	for _, u := range users {
		wg.Go(func() {
			for i := range 40 {
				at := t0.Add(time.Duration(i%20)*100*time.Millisecond - 300*time.Millisecond)
				if i >= 36 {
					at = t0.Add(time.Hour)
				}
				r := reminders.Reminder{At: at.UnixMilli(), Message: fmt.Sprintf("%s-%d", u, i)}
				if err := post(c, p.base(), u, r); err != nil {
					t.Errorf("post %s: %v", r.Message, err)
					return
				}
				mu.Lock()
				acked[r.Message] = r
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for time.Since(t0) < 700*time.Millisecond { // alarms are running
		time.Sleep(10 * time.Millisecond)
	}
	before := map[string]int{}
	for _, u := range users {
		l, err := list(c, p.base(), u)
		if err != nil {
			t.Fatal(err)
		}
		before[u] = len(l.Delivered)
	}
	p.kill(t)
	t.Logf("%d reminders acknowledged; delivered before SIGKILL: %v", len(acked), before)
	for time.Since(t0) < 2200*time.Millisecond { // the rest fall due while down
		time.Sleep(10 * time.Millisecond)
	}

	p = start(t, bin, data)
	restarted := time.Now()
	check := func(final bool) bool {
		seen := map[string]int{}
		for _, u := range users {
			l, err := list(c, p.base(), u)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range l.Pending {
				seen[r.Message]++
				if r.At <= time.Now().UnixMilli()-1000 && final {
					t.Errorf("%s is still pending a second after it fell due", r.Message)
				}
			}
			for _, d := range l.Delivered {
				seen[d.Message]++
				if seen[d.Message] > 1 {
					t.Fatalf("%s appears %d times", d.Message, seen[d.Message])
				}
				if a, ok := acked[d.Message]; !ok || a.At != d.At || d.DeliveredAt < d.At {
					t.Fatalf("delivered %+v, acknowledged %+v", d, a)
				}
			}
			for _, r := range l.Pending {
				if !final && r.At < t0.Add(time.Hour).UnixMilli() {
					return false // not yet: only the far-future ones may remain
				}
			}
		}
		for m := range acked {
			if seen[m] != 1 {
				t.Fatalf("%s appears %d times, want once", m, seen[m])
			}
		}
		return true
	}
	deadline := time.Now().Add(20 * time.Second)
	for !check(false) {
		if time.Now().After(deadline) {
			t.Fatalf("reminders due while the process was down were not delivered within 20 s:\n%s", p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("all due reminders delivered %v after the restart", time.Since(restarted).Round(time.Millisecond))
	check(true)

	// SIGTERM drains and exits 0; nothing changes across the restart.
	p.terminate(t)
	p = start(t, bin, data)
	check(true)
	p.terminate(t)
}

func post(c *http.Client, base, user string, r reminders.Reminder) error {
	b, _ := json.Marshal(r)
	resp, err := c.Post(base+"/reminders/"+user, "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("%s: %s", resp.Status, body)
	}
	return nil
}

func list(c *http.Client, base, user string) (reminders.List, error) {
	var l reminders.List
	resp, err := c.Get(base + "/reminders/" + user)
	if err != nil {
		return l, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return l, fmt.Errorf("GET %s: %s: %s", user, resp.Status, body)
	}
	return l, json.Unmarshal(body, &l)
}

// build compiles the program into a temporary directory.
func build(tb testing.TB) string {
	tb.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		tb.Skip("no go command to build the program with")
	}
	bin := filepath.Join(tb.TempDir(), "reminders")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, gobin, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// process is a running reminders program.
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
