package proc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ListeningPrefix starts the line a Den program prints to stdout once it
// listens; the rest of the line is its address.
const ListeningPrefix = "den: listening on http://"

// DenEnv is the environment every Den program gets here: no operator API,
// whose default address is a fixed port (two programs would collide). It
// is a variable, not a flag, so that a Den without that API ignores it.
var DenEnv = []string{"DEN_ADMIN_ADDR=off"}

// DenListening parses the line a Den program prints once it listens and
// returns the address, such as 127.0.0.1:43127.
func DenListening(line string) (addr string, ok bool) {
	addr, ok = strings.CutPrefix(strings.TrimSpace(line), ListeningPrefix)
	if !ok || addr == "" {
		return "", false
	}
	return addr, true
}

// WorkerdListening parses the message workerd writes to its --control-fd
// once its socket named "http" listens, such as
// {"event":"listen","socket":"http","port":41403}, and returns the address.
func WorkerdListening(line string) (addr string, ok bool) {
	var m struct {
		Event, Socket string
		Port          int
	}
	if json.Unmarshal([]byte(line), &m) != nil || m.Event != "listen" || m.Socket != "http" || m.Port == 0 {
		return "", false
	}
	return fmt.Sprintf("127.0.0.1:%d", m.Port), true
}

// Build compiles the Go package pkg (an import path such as
// github.com/den-run/den/examples/counter, or a path relative to the current
// directory) into dir and returns the binary's path. It builds without the
// race detector whatever the caller's build: the binaries are measured.
// flags go to go build, such as -tags.
func Build(ctx context.Context, dir, pkg string, flags ...string) (string, error) {
	name := filepath.Base(pkg)
	if abs, err := filepath.Abs(pkg); err == nil && (name == "." || name == "..") {
		name = filepath.Base(abs) // "." is the current directory's program
	}
	bin := filepath.Join(dir, name)
	args := append(append([]string{"build", "-o", bin}, flags...), pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
	}
	return bin, nil
}

// Spec says how to start a server process and learn its address.
type Spec struct {
	// Path and Args are the program and its arguments.
	Path string
	Args []string
	// Dir is the working directory; empty means the caller's.
	Dir string
	// Env is added to the caller's environment.
	Env []string
	// ControlFD makes the ready line come from a pipe passed to the process
	// as file descriptor 3 (workerd's --control-fd 3) instead of stdout.
	ControlFD bool
	// Ready parses one line and returns the address the process listens on,
	// or false if the line is not the one announcing it.
	Ready func(line string) (addr string, ok bool)
}

// Process is a running server process. Its goroutines wait for the process
// to exit and read its control pipe; both end with the process, which Kill
// and Stop end.
type Process struct {
	cmd    *exec.Cmd
	addr   string
	stderr *tail
	exited chan struct{} // closed once the process has exited and err is set
	err    error         // Wait's result
}

// Start starts the process and waits, until ctx ends, for the line Ready
// accepts. If the process exits first, or ctx ends, Start kills it and returns
// an error with the end of its stderr.
func Start(ctx context.Context, spec Spec) (*Process, error) {
	p := &Process{
		cmd:    exec.Command(spec.Path, spec.Args...),
		stderr: &tail{max: 8 << 10},
		exited: make(chan struct{}),
	}
	p.cmd.Dir = spec.Dir
	if len(spec.Env) > 0 {
		p.cmd.Env = append(os.Environ(), spec.Env...)
	}
	p.cmd.Stderr = p.stderr
	p.cmd.WaitDelay = time.Second // do not wait for grandchildren that hold stdout or stderr
	lines := &lineWriter{ready: spec.Ready, addr: make(chan string, 1)}
	var control, w *os.File
	if spec.ControlFD {
		var err error
		if control, w, err = os.Pipe(); err != nil {
			return nil, err
		}
		p.cmd.ExtraFiles = []*os.File{w}
		p.cmd.Stdout = io.Discard
	} else {
		p.cmd.Stdout = lines
	}
	err := p.cmd.Start()
	if w != nil {
		w.Close() // the child holds its own copy
	}
	if err != nil {
		if control != nil {
			control.Close()
		}
		return nil, fmt.Errorf("start %s: %w", spec.Path, err)
	}
	copied := make(chan struct{})
	go func() {
		if control != nil {
			io.Copy(lines, control) // ends when the child exits, or at Close below
		}
		close(copied)
	}()
	go func() {
		p.err = p.cmd.Wait()
		if control != nil {
			control.Close() // in case a grandchild still holds the pipe open
		}
		<-copied
		close(p.exited)
	}()
	select {
	case p.addr = <-lines.addr:
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("%s exited before listening (%v):\n%s", filepath.Base(spec.Path), p.err, p.stderr)
	case <-ctx.Done():
		p.Kill()
		return nil, fmt.Errorf("%s did not say where it listens: %w\n%s", filepath.Base(spec.Path), context.Cause(ctx), p.stderr)
	}
}

// Addr returns the address the process listens on.
func (p *Process) Addr() string { return p.addr }

// URL returns http:// and the address.
func (p *Process) URL() string { return "http://" + p.addr }

// PID returns the process ID.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Stderr returns the last few KiB the process wrote to stderr.
func (p *Process) Stderr() string { return p.stderr.String() }

// Exited is closed once the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Kill sends SIGKILL and waits for the process to exit.
func (p *Process) Kill() {
	p.cmd.Process.Kill()
	<-p.exited
}

// Stop sends SIGTERM and waits for the process to exit. If ctx ends first it
// kills the process and returns an error; it also returns an error if the
// process exits with a status other than 0.
func (p *Process) Stop(ctx context.Context) error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-ctx.Done():
		p.Kill()
		return fmt.Errorf("no exit after SIGTERM: %w", context.Cause(ctx))
	}
	if p.err != nil {
		return fmt.Errorf("after SIGTERM: %w\n%s", p.err, p.stderr)
	}
	return nil
}

// PeakRSS returns the process's peak resident set size in bytes (VmHWM in
// /proc/PID/status). It works only while the process runs, on Linux.
func (p *Process) PeakRSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID()))
	if err != nil {
		return 0, err
	}
	return ParseVmHWM(string(b))
}

// CPUTime returns the CPU time (user and system) the process has used, or
// 0 if it cannot be read (/proc/PID/stat, on Linux).
func (p *Process) CPUTime() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.PID()))
	if err != nil {
		return 0
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * time.Second / 100 // clock ticks (USER_HZ is 100 on Linux)
}

// ParseVmHWM returns the VmHWM line of a /proc/PID/status text, in bytes.
func ParseVmHWM(status string) (int64, error) {
	for line := range strings.Lines(status) {
		v, ok := strings.CutPrefix(line, "VmHWM:")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("VmHWM line %q: want a number of kB", strings.TrimSpace(line))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmHWM line %q: %w", strings.TrimSpace(line), err)
		}
		return kb << 10, nil
	}
	return 0, errors.New("no VmHWM line in the process status")
}

// lineWriter passes each complete line to ready until it accepts one, and
// sends that line's address.
type lineWriter struct {
	ready func(string) (string, bool)
	addr  chan string // buffered: one address

	mu   sync.Mutex // protects following fields
	buf  []byte
	done bool
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return len(b), nil
	}
	w.buf = append(w.buf, b...)
	for {
		line, rest, ok := strings.Cut(string(w.buf), "\n")
		if !ok {
			return len(b), nil
		}
		w.buf = []byte(rest)
		if addr, ok := w.ready(line); ok {
			w.done, w.buf = true, nil
			w.addr <- addr
			return len(b), nil
		}
	}
}

// tail keeps the last max bytes written to it.
type tail struct {
	max int

	mu sync.Mutex // protects b
	b  []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
