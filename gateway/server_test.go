package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/den-run/den"
	"github.com/den-run/den/gateway"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// logBuffer is a log destination safe for the server's goroutines.
type logBuffer struct {
	mu sync.Mutex // protects b
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newLogger returns a JSON logger at level writing to a buffer.
func newLogger(level slog.Level) (*slog.Logger, *logBuffer) {
	buf := &logBuffer{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: level})), buf
}

// mustOpen opens s on a free loopback port and closes it when the test ends.
func mustOpen(tb testing.TB, s *gateway.Server) *gateway.Server {
	tb.Helper()
	if s.Addr == "" {
		s.Addr = "127.0.0.1:0"
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if err := s.Open(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			tb.Errorf("close gateway: %v", err)
		}
	})
	return s
}

// newClient returns an HTTP client whose connections close with the test.
func newClient(tb testing.TB) *http.Client {
	tb.Helper()
	tr := &http.Transport{}
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// do sends a request and returns the status and body.
func do(tb testing.TB, c *http.Client, method, url string, body io.Reader) (int, string) {
	tb.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func hello(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }

func TestDefaultAddrIsLoopback(t *testing.T) {
	host, _, err := net.SplitHostPort(gateway.DefaultAddr)
	if err != nil {
		t.Fatal(err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		t.Fatalf("DefaultAddr %s is not a loopback address", gateway.DefaultAddr)
	}
}

func TestOpenServesOnPort0(t *testing.T) {
	s := &gateway.Server{Handler: http.HandlerFunc(hello)}
	if s.BoundAddr() != "" {
		t.Fatal("BoundAddr before Open")
	}
	mustOpen(t, s)
	host, port, err := net.SplitHostPort(s.BoundAddr())
	if err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("BoundAddr %q (%v)", s.BoundAddr(), err)
	}
	status, body := do(t, newClient(t), "GET", "http://"+s.BoundAddr()+"/", nil)
	if status != 200 || body != "hello" {
		t.Fatalf("got %d %q", status, body)
	}
	if err := s.Open(context.Background()); err == nil {
		t.Fatal("second Open succeeded")
	}
}

func TestOpenFailsOnBusyAddress(t *testing.T) {
	s := mustOpen(t, &gateway.Server{Handler: http.HandlerFunc(hello)})
	s2 := &gateway.Server{Addr: s.BoundAddr(), Handler: http.HandlerFunc(hello)}
	err := s2.Open(context.Background())
	if err == nil {
		s2.Close(context.Background())
		t.Fatal("Open on a busy address succeeded")
	}
	if !strings.Contains(err.Error(), s.BoundAddr()) {
		t.Fatalf("error %q does not name the address", err)
	}
	if err := s2.Close(context.Background()); err != nil {
		t.Fatalf("Close after a failed Open: %v", err)
	}
}

func TestOpenNeedsHandler(t *testing.T) {
	if err := (&gateway.Server{Addr: "127.0.0.1:0"}).Open(context.Background()); den.ErrorCode(err) != den.EINVALID {
		t.Fatalf("error %v, want EINVALID", err)
	}
}

func TestBodyLimit(t *testing.T) {
	readAll := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			den.WriteError(w, den.Errorf(den.EINVALID, "read request body: %w", err))
			return
		}
		fmt.Fprintf(w, "read %d", len(b))
	})
	s := mustOpen(t, &gateway.Server{Handler: readAll, MaxBodyBytes: 1024})
	c := newClient(t)
	url := "http://" + s.BoundAddr() + "/"

	if status, body := do(t, c, "POST", url, bytes.NewReader(make([]byte, 1024))); status != 200 || body != "read 1024" {
		t.Fatalf("body at the limit: %d %q", status, body)
	}
	// Declared too large: refused before the handler runs.
	status, body := do(t, c, "POST", url, bytes.NewReader(make([]byte, 2048)))
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(body, "1024 bytes") {
		t.Fatalf("declared oversize body: %d %q", status, body)
	}
	// Chunked, so only reading finds out: the handler's error becomes a 413.
	chunked := io.MultiReader(bytes.NewReader(make([]byte, 4096)))
	status, body = do(t, c, "POST", url, chunked)
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(body, "1024 bytes") {
		t.Fatalf("chunked oversize body: %d %q", status, body)
	}
}

func TestHeaderLimit(t *testing.T) {
	s := mustOpen(t, &gateway.Server{Handler: http.HandlerFunc(hello), MaxHeaderBytes: 1024})
	req, err := http.NewRequest("GET", "http://"+s.BoundAddr()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Big", strings.Repeat("x", 16<<10))
	resp, err := newClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", resp.StatusCode)
	}
}

func TestPanicIs500AndServerKeepsServing(t *testing.T) {
	log, logs := newLogger(slog.LevelInfo)
	mux := http.NewServeMux()
	mux.HandleFunc("/panic", func(w http.ResponseWriter, r *http.Request) { panic("boom") })
	mux.HandleFunc("/partial", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, "part")
		http.NewResponseController(w).Flush()
		panic("boom after writing")
	})
	mux.HandleFunc("/ok", hello)
	s := mustOpen(t, &gateway.Server{Handler: mux, Logger: log})
	c := newClient(t)
	base := "http://" + s.BoundAddr()

	status, body := do(t, c, "GET", base+"/panic", nil)
	if status != 500 || strings.Contains(body, "boom") {
		t.Fatalf("panic: %d %q (want 500 without the panic value)", status, body)
	}
	if status, body := do(t, c, "GET", base+"/ok", nil); status != 200 || body != "hello" {
		t.Fatalf("after panic: %d %q", status, body)
	}
	for _, want := range []string{"panic in handler", `"panic":"boom"`, "goroutine ", `"status":500`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}

	// A panic after the headers went out aborts the response.
	resp, err := c.Get(base + "/partial")
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Fatal("a response cut by a panic read as complete")
	}
	if status, _ := do(t, c, "GET", base+"/ok", nil); status != 200 {
		t.Fatalf("after partial panic: %d", status)
	}
}

func TestAccessLogLevels(t *testing.T) {
	log, logs := newLogger(slog.LevelDebug)
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", hello)
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		den.WriteError(w, den.Errorf(den.EUNAVAILABLE, "try later"))
	})
	s := mustOpen(t, &gateway.Server{Handler: mux, Logger: log})
	c := newClient(t)
	base := "http://" + s.BoundAddr()
	do(t, c, "GET", base+"/ok", nil)
	do(t, c, "GET", base+"/missing", nil)
	do(t, c, "GET", base+"/fail", nil)
	// The access line is written after the response, so wait for it.
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(logs.String(), `"msg":"request"`) < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	for _, want := range []string{
		`"level":"DEBUG","msg":"request","method":"GET","path":"/ok","status":200,"bytes":5`,
		`"level":"INFO","msg":"request","method":"GET","path":"/missing","status":404`,
		`"level":"WARN","msg":"request","method":"GET","path":"/fail","status":503`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
}

func TestCloseWaitsForRequestInFlight(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	s := mustOpen(t, &gateway.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "finished")
	})})
	addr := s.BoundAddr()

	type reply struct {
		status int
		body   string
		err    error
	}
	replies := make(chan reply, 1)
	c := newClient(t)
	go func() {
		resp, err := c.Get("http://" + addr + "/")
		if err != nil {
			replies <- reply{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		replies <- reply{resp.StatusCode, string(b), err}
	}()
	<-started

	closed := make(chan error, 1)
	go func() { closed <- s.Close(context.Background()) }()

	// Readiness check in reverse: once the listener refuses connections,
	// Close is draining, and it must still be waiting for the handler.
	waitRefused(t, addr)
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) with a request in flight", err)
	default:
	}
	close(release)
	if r := <-replies; r.err != nil || r.status != 200 || r.body != "finished" {
		t.Fatalf("request in flight: %d %q %v", r.status, r.body, r.err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestCloseBoundedByContext(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	s := &gateway.Server{Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
	})}
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	c := newClient(t)
	go func() {
		resp, err := c.Get("http://" + s.BoundAddr() + "/")
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Close(ctx)
	if den.ErrorCode(err) != den.ETIMEOUT || !errors.Is(err, context.Canceled) {
		t.Fatalf("Close with an ended context: %v", err)
	}
	if err := <-errc; err == nil {
		t.Fatal("the request in flight was not cut off")
	}
	if err2 := s.Close(context.Background()); err2 == nil || err2.Error() != err.Error() {
		t.Fatalf("second Close returned %v, want the first result %v", err2, err)
	}
}

func TestSlowHeadersAreCutOff(t *testing.T) {
	s := mustOpen(t, &gateway.Server{Handler: http.HandlerFunc(hello), ReadHeaderTimeout: 50 * time.Millisecond})
	conn, err := net.Dial("tcp", s.BoundAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Half a request, and then nothing.
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: example\r\n"); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = bufio.NewReader(conn).ReadByte()
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		t.Fatal("the server kept a slow client's connection open")
	}
	if err == nil {
		t.Fatal("the server answered an incomplete request")
	}
}

func TestCloseBeforeOpen(t *testing.T) {
	s := &gateway.Server{Handler: http.HandlerFunc(hello)}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Open(context.Background()); err == nil {
		t.Fatal("Open after Close succeeded")
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
