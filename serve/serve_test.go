package serve_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/den-run/den/internal/testhttp"

	"go.uber.org/goleak"

	"github.com/den-run/den"
	"github.com/den-run/den/serve"
)

// TestMain fails the package if any test leaks a goroutine.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Note is a test object that keeps one text in its storage.
type Note struct{ state den.State }

// ServeHTTP stores the text on PUT and returns it on GET.
func (n *Note) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPut:
		b, err := io.ReadAll(r.Body)
		if err == nil {
			err = n.state.Storage().Put("text", b)
		}
		if err != nil {
			den.WriteError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case http.MethodGet:
		v, ok, err := n.state.Storage().Get("text")
		if err != nil {
			den.WriteError(w, err)
			return
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(v)
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// Text returns the stored text, over RPC.
func (n *Note) Text(ctx context.Context) (string, error) {
	v, _, err := n.state.Storage().Get("text")
	return string(v), err
}

// testApp returns an app with the Note class bound as NOTES. Its worker also
// answers /vars/{name} from the app's variables and /slow/ by waiting for
// slow to be closed (after closing started, if not nil).
func testApp(started, slow chan struct{}) serve.App {
	return serve.App{
		Name: "notes",
		Classes: []den.Class{{
			Name: "Note",
			New:  func(state den.State, env *den.Env) (any, error) { return &Note{state: state}, nil },
		}},
		Bindings: map[string]string{"NOTES": "Note"},
		Vars:     map[string]string{"GREETING": "hello"},
		Worker: func(env *den.Env) http.Handler {
			mux := http.NewServeMux()
			mux.HandleFunc("/notes/{name}", func(w http.ResponseWriter, r *http.Request) {
				env.Namespace("NOTES").GetByName(r.PathValue("name")).ServeHTTP(w, r)
			})
			mux.HandleFunc("GET /vars/{name}", func(w http.ResponseWriter, r *http.Request) {
				v, _ := env.Var(r.PathValue("name"))
				io.WriteString(w, v)
			})
			mux.HandleFunc("GET /slow/", func(w http.ResponseWriter, r *http.Request) {
				if started != nil {
					close(started)
				}
				<-slow
				io.WriteString(w, "done")
			})
			return mux
		},
	}
}

// mustStart starts app in-process on a free port and closes it when the
// test ends. An empty cfg.Data gets a temporary directory.
func mustStart(tb testing.TB, app serve.App, cfg serve.Config) *serve.Server {
	tb.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Data == "" {
		cfg.Data = tb.TempDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := serve.Start(context.Background(), app, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			tb.Errorf("close server: %v", err)
		}
	})
	return s
}

func TestStartServesEndToEnd(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	s := mustStart(t, testApp(nil, nil), serve.Config{Data: data})
	c := testhttp.Client(t)
	base := "http://" + s.Addr()

	if status, _ := testhttp.Do(t, c, "GET", base+"/notes/a", ""); status != 404 {
		t.Fatalf("GET of an empty note: %d", status)
	}
	if status, body := testhttp.Do(t, c, "PUT", base+"/notes/a", "hi"); status != 204 {
		t.Fatalf("PUT: %d %q", status, body)
	}
	if status, body := testhttp.Do(t, c, "GET", base+"/notes/a", ""); status != 200 || body != "hi" {
		t.Fatalf("GET: %d %q", status, body)
	}
	if status, body := testhttp.Do(t, c, "GET", base+"/vars/GREETING", ""); status != 200 || body != "hello" {
		t.Fatalf("var: %d %q", status, body)
	}
	text, err := den.Call[string](context.Background(), s.Env().Namespace("NOTES").GetByName("a"), "Text")
	if err != nil || text != "hi" {
		t.Fatalf("RPC: %q %v", text, err)
	}
	if s.Host().Live() != 1 {
		t.Fatalf("%d live objects, want 1", s.Host().Live())
	}
	for _, dir := range []string{data, filepath.Join(data, "keys"), filepath.Join(data, "objects")} {
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("%s has mode %v, want 0700", dir, fi.Mode().Perm())
		}
	}
	if _, err := os.Stat(filepath.Join(data, "keys", "Note.key")); err != nil {
		t.Fatalf("no key file: %v", err)
	}
}

func TestRestartKeepsData(t *testing.T) {
	data := t.TempDir()
	ctx := context.Background()
	s := mustStart(t, testApp(nil, nil), serve.Config{Data: data})
	c := testhttp.Client(t)
	testhttp.Do(t, c, "PUT", "http://"+s.Addr()+"/notes/kept", "still here")
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	s = mustStart(t, testApp(nil, nil), serve.Config{Data: data})
	if status, body := testhttp.Do(t, c, "GET", "http://"+s.Addr()+"/notes/kept", ""); status != 200 || body != "still here" {
		t.Fatalf("after restart: %d %q", status, body)
	}
}

func TestMissingKeyWithObjectsIsRefused(t *testing.T) {
	data := t.TempDir()
	s := mustStart(t, testApp(nil, nil), serve.Config{Data: data})
	testhttp.Do(t, testhttp.Client(t), "PUT", "http://"+s.Addr()+"/notes/a", "x")
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(data, "keys", "Note.key")); err != nil {
		t.Fatal(err)
	}
	_, err := serve.Start(context.Background(), testApp(nil, nil), serve.Config{Addr: "127.0.0.1:0", Data: data, Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "restore the key file from backup") {
		t.Fatalf("start without the key of stored objects: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, "keys", "Note.key")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a new key was written")
	}
}

func TestDataDirIsLocked(t *testing.T) {
	data := t.TempDir()
	mustStart(t, testApp(nil, nil), serve.Config{Data: data})
	_, err := serve.Start(context.Background(), testApp(nil, nil), serve.Config{Addr: "127.0.0.1:0", Data: data, Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second server on one data directory: %v", err)
	}
}

func TestAppValidation(t *testing.T) {
	for name, tc := range map[string]struct {
		edit func(*serve.App)
		want string
	}{
		"unknown class": {func(a *serve.App) { a.Bindings = map[string]string{"GHOSTS": "Ghost"} }, `"Ghost"`},
		"empty binding": {func(a *serve.App) { a.Bindings = map[string]string{"": "Note"} }, "empty name"},
		"no worker":     {func(a *serve.App) { a.Worker = nil }, "Worker"},
		"twice":         {func(a *serve.App) { a.Classes = append(a.Classes, a.Classes[0]) }, "twice"},
		"bad class":     {func(a *serve.App) { a.Classes[0].Name = "../x"; a.Bindings = map[string]string{"X": "../x"} }, "../x"},
	} {
		t.Run(name, func(t *testing.T) {
			app := testApp(nil, nil)
			tc.edit(&app)
			_, err := serve.Start(context.Background(), app, serve.Config{Addr: "127.0.0.1:0", Data: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
			if err == nil {
				t.Fatal("Start accepted a bad app")
			}
			if den.ErrorCode(err) != den.EINVALID || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q (code %s), want EINVALID naming %s", err, den.ErrorCode(err), tc.want)
			}
		})
	}
}

// stdout collects what Run prints and reports each complete line.
type stdout struct {
	mu    sync.Mutex // protects buf
	buf   bytes.Buffer
	lines chan string
}

func newStdout() *stdout { return &stdout{lines: make(chan string, 16)} }

func (s *stdout) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	for {
		line, err := s.buf.ReadString('\n')
		if err != nil {
			s.buf.Reset()
			s.buf.WriteString(line)
			return len(p), nil
		}
		select {
		case s.lines <- strings.TrimSuffix(line, "\n"):
		default:
		}
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

// running is a Run in progress.
type running struct {
	addr   string
	stderr *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

// startRun calls serve.Run with args and env on its own goroutine and waits
// for its "listening" line. The run is stopped when the test ends.
func startRun(tb testing.TB, app serve.App, args []string, env map[string]string) *running {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{stderr: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	out := newStdout()
	go func() {
		r.done <- serve.Run(ctx, app, args, func(k string) string { return env[k] }, out, r.stderr)
	}()
	tb.Cleanup(func() {
		cancel()
		<-r.done
	})
	select {
	case line := <-out.lines:
		addr, ok := strings.CutPrefix(line, "den: listening on http://")
		if !ok {
			tb.Fatalf("first line of stdout is %q", line)
		}
		r.addr = addr
	case err := <-r.done:
		r.done <- err
		tb.Fatalf("Run returned %v before listening; stderr:\n%s", err, r.stderr)
	case <-time.After(10 * time.Second):
		tb.Fatal("Run did not print its listening line")
	}
	return r
}

// stop cancels the run and returns Run's result.
func (r *running) stop(tb testing.TB) error {
	tb.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(serve.ShutdownTimeout + 5*time.Second):
		tb.Fatal("Run did not return after its context ended")
		return nil
	}
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"--help", "-h"} {
		var out, errOut bytes.Buffer
		err := serve.Run(context.Background(), testApp(nil, nil), []string{arg}, func(string) string { return "" }, &out, &errOut)
		if err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		for _, want := range []string{
			"--addr", "--data", "--idle-timeout", "--log-level", "--log-format", "--max-live", "--help",
			"DEN_ADDR", "DEN_DATA", "DEN_IDLE_TIMEOUT", "DEN_LOG_LEVEL", "DEN_LOG_FORMAT", "DEN_MAX_LIVE",
			"127.0.0.1:8787", "./.den", "10s", "10000",
		} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%s output lacks %s:\n%s", arg, want, out.String())
			}
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		want string
	}{
		"env duration":   {nil, map[string]string{"DEN_IDLE_TIMEOUT": "soon"}, "DEN_IDLE_TIMEOUT"},
		"flag duration":  {[]string{"--idle-timeout", "soon"}, nil, "--idle-timeout"},
		"zero duration":  {[]string{"--idle-timeout=0s"}, nil, "--idle-timeout"},
		"env max live":   {nil, map[string]string{"DEN_MAX_LIVE": "many"}, "DEN_MAX_LIVE"},
		"flag max live":  {[]string{"--max-live", "-1"}, nil, "--max-live"},
		"env log level":  {nil, map[string]string{"DEN_LOG_LEVEL": "loud"}, "DEN_LOG_LEVEL"},
		"flag log level": {[]string{"--log-level=loud"}, nil, "--log-level"},
		"log format":     {[]string{"--log-format", "xml"}, nil, "--log-format"},
		"empty addr":     {[]string{"--addr="}, nil, "--addr"},
		"unknown flag":   {[]string{"--nope"}, nil, "nope"},
		"extra argument": {[]string{"serve"}, nil, `"serve"`},
	} {
		t.Run(name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			args := append([]string{"--data", data, "--addr", "127.0.0.1:0"}, tc.args...)
			var out, errOut bytes.Buffer
			err := serve.Run(context.Background(), testApp(nil, nil), args, func(k string) string { return tc.env[k] }, &out, &errOut)
			if err == nil {
				t.Fatal("Run accepted a bad setting")
			}
			if !errors.Is(err, serve.ErrUsage) || den.ErrorCode(err) != den.EINVALID || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q should be a usage error naming %s", err, tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("stdout: %q", out.String())
			}
			if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
				t.Error("a usage error created the data directory")
			}
		})
	}
}

func TestFlagBeatsEnv(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{
		"DEN_ADDR":         "bogus",
		"DEN_DATA":         filepath.Join(dir, "from-env"),
		"DEN_IDLE_TIMEOUT": "soon",
		"DEN_MAX_LIVE":     "many",
		"DEN_LOG_LEVEL":    "debug",
		"DEN_LOG_FORMAT":   "xml",
	}
	r := startRun(t, testApp(nil, nil), []string{
		"--addr", "127.0.0.1:0", "--data", filepath.Join(dir, "from-flag"), "--idle-timeout", "1s",
		"--max-live", "5", "--log-level", "error", "--log-format", "json",
	}, env)
	if status, _ := testhttp.Do(t, testhttp.Client(t), "PUT", "http://"+r.addr+"/notes/a", "x"); status != 204 {
		t.Fatalf("PUT: %d", status)
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "from-flag", "keys")); err != nil {
		t.Errorf("--data was not used: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "from-env")); !errors.Is(err, os.ErrNotExist) {
		t.Error("DEN_DATA was used although --data was given")
	}
	if strings.Contains(r.stderr.String(), "listening") {
		t.Errorf("--log-level error still logged at info:\n%s", r.stderr)
	}
}

func TestEnvSetsDefaults(t *testing.T) {
	dir := t.TempDir()
	r := startRun(t, testApp(nil, nil), nil, map[string]string{
		"DEN_ADDR":       "127.0.0.1:0",
		"DEN_DATA":       filepath.Join(dir, "from-env"),
		"DEN_LOG_LEVEL":  "debug",
		"DEN_LOG_FORMAT": "json",
	})
	host, _, err := net.SplitHostPort(r.addr)
	if err != nil || host != "127.0.0.1" {
		t.Fatalf("listening on %q", r.addr)
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "from-env")); err != nil {
		t.Errorf("DEN_DATA was not used: %v", err)
	}
	if !strings.Contains(r.stderr.String(), `"msg":"listening"`) {
		t.Errorf("DEN_LOG_FORMAT=json was not used:\n%s", r.stderr)
	}
}

func TestRunDrainsOnCancel(t *testing.T) {
	started, slow := make(chan struct{}), make(chan struct{})
	r := startRun(t, testApp(started, slow), []string{"--addr", "127.0.0.1:0", "--data", t.TempDir()}, nil)
	c := testhttp.Client(t)
	base := "http://" + r.addr
	if status, _ := testhttp.Do(t, c, "PUT", base+"/notes/a", "before"); status != 204 {
		t.Fatalf("PUT: %d", status)
	}

	type reply struct {
		status int
		body   string
		err    error
	}
	replies := make(chan reply, 1)
	go func() {
		resp, err := c.Get(base + "/slow/")
		if err != nil {
			replies <- reply{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		replies <- reply{resp.StatusCode, string(b), err}
	}()
	<-started
	r.cancel()
	waitRefused(t, r.addr)
	select {
	case err := <-r.done:
		t.Fatalf("Run returned (%v) with a request in flight", err)
	default:
	}
	close(slow)
	if rep := <-replies; rep.err != nil || rep.status != 200 || rep.body != "done" {
		t.Fatalf("request in flight: %d %q %v", rep.status, rep.body, rep.err)
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run after drain: %v", err)
	}
	if !strings.Contains(r.stderr.String(), "stopped") {
		t.Errorf("no stopped log line:\n%s", r.stderr)
	}
}

// waitRefused waits until addr refuses TCP connections.
func waitRefused(tb testing.TB, addr string) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		conn.Close()
		time.Sleep(time.Millisecond)
	}
	tb.Fatalf("%s still accepts connections", addr)
}
