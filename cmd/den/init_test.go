package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// denRoot returns this checkout: two directories above this file.
func denRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller")
	}
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

// offline makes the go command use only the module cache, as CI must.
func offline(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	t.Setenv("GOPROXY", "off")
	t.Setenv("GOFLAGS", "-mod=mod -buildvcs=false")
	t.Setenv("GOWORK", "off")
}

func TestFindDen(t *testing.T) {
	if got, want := findDen(), denRoot(t); got != want {
		t.Fatalf("findDen() = %q, want %q", got, want)
	}
	if _, _, err := checkDen(t.TempDir()); err == nil || !strings.Contains(err.Error(), "pass --den") {
		t.Fatalf("checkDen of an empty directory: %v", err)
	}
}

func TestInitRefuses(t *testing.T) {
	dir := t.TempDir()
	if code, _, errs := runT(t, "init"); code != 2 || !strings.Contains(errs, "takes one argument") {
		t.Fatalf("no name: %d %q", code, errs)
	}
	if code, _, errs := runT(t, "init", filepath.Join(dir, "9lives")); code != 2 || !strings.Contains(errs, `app name "9lives"`) {
		t.Fatalf("bad name: %d %q", code, errs)
	}
	if code, _, errs := runT(t, "init", "--den", dir, filepath.Join(dir, "app")); code != 1 || !strings.Contains(errs, "is not a Den checkout") {
		t.Fatalf("bad --den: %d %q", code, errs)
	}
	full := filepath.Join(dir, "full")
	os.MkdirAll(full, 0o755)
	os.WriteFile(filepath.Join(full, "x"), nil, 0o644)
	if code, _, errs := runT(t, "init", "--tidy=false", full); code != 1 || !strings.Contains(errs, "not empty") {
		t.Fatalf("existing directory: %d %q", code, errs)
	}
}

// TestInitAndDev writes a new app with den init, runs its own test with
// the go command (offline: the module cache must be enough), then runs it
// under den dev: an edit restarts it with the data kept, a broken build is
// reported while the old app keeps serving, and the end stops it cleanly.
func TestInitAndDev(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a new app several times")
	}
	offline(t)
	app := filepath.Join(t.TempDir(), "hello")
	code, out, errs := runT(t, "init", "--den", denRoot(t), app)
	if code != 0 {
		t.Fatalf("den init: %d\n%s%s", code, out, errs)
	}
	if errs != "" {
		t.Fatalf("den init wrote to stderr:\n%s", errs)
	}
	for _, f := range []string{"go.mod", "go.sum", "main.go", "main_test.go", "wrangler.jsonc", "README.md", ".gitignore"} {
		if _, err := os.Stat(filepath.Join(app, f)); err != nil {
			t.Errorf("den init did not write %s", f)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "./...")
	cmd.Dir = app
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go test in the new app: %v\n%s", err, b)
	}

	// den dev
	stdout, stderr := newLines(), newLines()
	dctx, stop := context.WithCancel(ctx)
	done := make(chan int, 1)
	go func() {
		done <- run(dctx, []string{"dev", "--poll", "50ms", "--dir", app, "--", "--addr", "127.0.0.1:0", "--admin-addr", "off"},
			stdio{In: strings.NewReader(""), Out: stdout, Err: stderr})
	}()
	defer func() { stop(); <-done }()
	base := "http://" + stdout.waitFor(t, "den: listening on http://", done)
	if got := get(t, base+"/hello/ann"); got != "Hello, ann! You have visited 1 time.\n" {
		t.Fatalf("first app: %q", got)
	}

	edit(t, filepath.Join(app, "main.go"), "! You have visited %d", "! Visits by you: %d")
	base = "http://" + stdout.waitFor(t, "den: listening on http://", done)
	if got := get(t, base+"/hello/ann"); got != "Hello, ann! Visits by you: 2 times.\n" {
		t.Fatalf("after an edit (the data kept): %q\n%s\n%s", got, stdout, stderr)
	}

	edit(t, filepath.Join(app, "main.go"), "func Worker(", "func Worker(((")
	stderr.waitFor(t, "den dev: build failed", done)
	if got := get(t, base+"/hello/ann"); got != "Hello, ann! Visits by you: 3 times.\n" {
		t.Fatalf("the old app stopped serving after a failed build: %q", got)
	}
	edit(t, filepath.Join(app, "main.go"), "func Worker(((", "func Worker(")
	base = "http://" + stdout.waitFor(t, "den: listening on http://", done)
	if got := get(t, base+"/hello/ann"); got != "Hello, ann! Visits by you: 4 times.\n" {
		t.Fatalf("after fixing the build: %q", got)
	}

	stop()
	if code := <-done; code != 0 {
		t.Fatalf("den dev exited %d:\n%s", code, stderr)
	}
	done <- 0
	if _, err := http.Get(base + "/hello/ann"); err == nil {
		t.Fatal("the app still serves after den dev stopped")
	}
	if !strings.Contains(stderr.String(), "stopped") {
		t.Errorf("the app did not drain:\n%s", stderr)
	}
}

// edit replaces old with new in the file, and makes sure its modification
// time moves even on a coarse clock.
func edit(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s lacks %q: %v", path, old, err)
	}
	if err := os.WriteFile(path, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Second)
	os.Chtimes(path, later, later)
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// lines is an io.Writer that remembers what was written and lets a test
// wait for a line, each line found once.
type lines struct {
	mu    sync.Mutex // protects buf and next
	buf   bytes.Buffer
	next  int // offset of the first line not yet matched by waitFor
	wrote chan struct{}
}

func newLines() *lines { return &lines{wrote: make(chan struct{}, 1)} }

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case l.wrote <- struct{}{}:
	default:
	}
	return l.buf.Write(p)
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitFor returns the rest of the next complete line that starts with
// prefix, failing after a minute or if den dev exits.
func (l *lines) waitFor(t *testing.T, prefix string, done chan int) string {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		l.mu.Lock()
		rest := l.buf.String()[l.next:]
		for off := 0; ; {
			i := strings.IndexByte(rest[off:], '\n')
			if i < 0 {
				break
			}
			line := rest[off : off+i]
			off += i + 1
			if v, ok := strings.CutPrefix(line, prefix); ok {
				l.next += off
				l.mu.Unlock()
				return v
			}
		}
		l.mu.Unlock()
		select {
		case <-l.wrote:
		case code := <-done:
			done <- code
			t.Fatalf("den dev exited %d before printing %q", code, prefix)
		case <-timeout:
			t.Fatalf("no line starting %q within a minute; got:\n%s", prefix, l)
		}
	}
}
