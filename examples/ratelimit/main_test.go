package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/den-run/den/config"
	"github.com/den-run/den/internal/testhttp"
	"github.com/den-run/den/serve"
)

// TestMain fails the package if any test leaks a goroutine.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a fake clock the tests move by hand.
type clock struct {
	mu sync.Mutex // protects t
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)} }

// start serves the app in-process with data in dir (a temporary one if
// empty) and src as its wrangler.jsonc (the embedded one if empty).
func start(tb testing.TB, now func() time.Time, dir, src string) *serve.Server {
	tb.Helper()
	if dir == "" {
		dir = tb.TempDir()
	}
	cfg := serve.Config{Addr: "127.0.0.1:0", Data: dir, Logger: slog.New(slog.DiscardHandler)}
	if src != "" {
		p, err := config.Parse("wrangler.jsonc", []byte(src))
		if err != nil {
			tb.Fatal(err)
		}
		cfg.Project = p
	}
	s, err := serve.Start(context.Background(), App(now), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return s
}

// hit requests /limited/key and returns the status, body and Retry-After.
func hit(tb testing.TB, c *http.Client, s *serve.Server, key string) (int, string, string) {
	tb.Helper()
	resp, err := c.Get("http://" + s.Addr() + "/limited/" + key)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header.Get("Retry-After")
}

// expect checks one request's outcome: 200 OK, or 429 with retryAfter.
func expect(tb testing.TB, c *http.Client, s *serve.Server, key string, retryAfter string) {
	tb.Helper()
	status, body, ra := hit(tb, c, s, key)
	switch {
	case retryAfter == "" && (status != 200 || body != "OK" || ra != ""):
		tb.Fatalf("%s: %d %q Retry-After %q, want 200 OK", key, status, body, ra)
	case retryAfter != "" && (status != 429 || ra != retryAfter):
		tb.Fatalf("%s: %d %q Retry-After %q, want 429 with Retry-After %s", key, status, body, ra, retryAfter)
	}
}

// TestDefaults: the embedded wrangler.jsonc allows 100 requests per 60 s.
func TestDefaults(t *testing.T) {
	clk := newClock()
	s := start(t, clk.Now, "", "")
	max, window, err := Limits(s.Env())
	if err != nil || max != 100 || window != time.Minute {
		t.Fatalf("limits from the embedded wrangler.jsonc: %d per %v, %v", max, window, err)
	}
	c := testhttp.Client(t)
	for range 100 {
		expect(t, c, s, "ann", "")
	}
	expect(t, c, s, "ann", "60")
	expect(t, c, s, "bob", "") // keys are independent
	clk.Advance(59*time.Second + 1)
	expect(t, c, s, "ann", "1") // 0.999 s left rounds up
	clk.Advance(time.Second)
	for range 100 {
		expect(t, c, s, "ann", "") // the whole window has slid past
	}
	expect(t, c, s, "ann", "60")
}

const tiny = `{
  "durable_objects": {"bindings": [{"name": "RATE_LIMITER", "class_name": "RateLimiter"}]},
  "migrations": [{"tag": "v1", "new_sqlite_classes": ["RateLimiter"]}],
  "vars": {"RATE_LIMIT_MAX": "3", "RATE_LIMIT_WINDOW_SECONDS": 10},
}`

// TestSlidingWindow: a slot frees when the oldest request in the window
// leaves it, not when a fixed window resets; Retry-After says when.
func TestSlidingWindow(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	s := start(t, clk.Now, dir, tiny)
	c := testhttp.Client(t)
	for _, step := range []struct {
		advance    time.Duration
		retryAfter string
	}{
		{0, ""}, // t=0
		{2 * time.Second, ""},
		{2 * time.Second, ""},          // t=4: 3 in the window
		{time.Second, "5"},             // t=5: the request at 0 leaves at 10
		{4500 * time.Millisecond, "1"}, // t=9.5
		{500 * time.Millisecond, ""},   // t=10: 0 has left; 2, 4, 10 remain
		{500 * time.Millisecond, "2"},  // t=10.5: 2 leaves at 12
		{1500 * time.Millisecond, ""},  // t=12
		{0, "2"},                       // 4, 10, 12: 4 leaves at 14
		{10 * time.Second, ""},         // t=22: all gone
	} {
		clk.Advance(step.advance)
		expect(t, c, s, "k", step.retryAfter)
	}

	// The window is durable: a restart remembers it.
	ctx := context.Background()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	s = start(t, clk.Now, dir, tiny)
	expect(t, c, s, "k", "")
	expect(t, c, s, "k", "")
	expect(t, c, s, "k", "10")
}

func TestBadLimits(t *testing.T) {
	s := start(t, newClock().Now, "", strings.Replace(tiny, `"3"`, `"many"`, 1))
	status, body, _ := hit(t, testhttp.Client(t), s, "k")
	if status != 500 || !strings.Contains(body, `var RATE_LIMIT_MAX is "many"`) {
		t.Fatalf("%d %q", status, body)
	}
}
