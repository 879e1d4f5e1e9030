package counter_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/den-run/den/internal/testhttp"

	"go.uber.org/goleak"

	"github.com/den-run/den"
	"github.com/den-run/den/examples/counter/counter"
	"github.com/den-run/den/serve"
)

// TestMain fails the package if any test leaks a goroutine.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// mustStart serves the counter app on a free port with data in dir and
// closes it when the test ends.
func mustStart(tb testing.TB, dir string) *serve.Server {
	tb.Helper()
	s, err := serve.Start(context.Background(), counter.App(), serve.Config{
		Addr:   "127.0.0.1:0",
		Data:   dir,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { closeServer(tb, s) })
	return s
}

func closeServer(tb testing.TB, s *serve.Server) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		tb.Errorf("close server: %v", err)
	}
}

// value reads a counter over HTTP.
func value(tb testing.TB, c *http.Client, base, name string) int {
	tb.Helper()
	status, body := testhttp.Do(tb, c, "GET", base+"/counter/"+name, "")
	if status != 200 {
		tb.Fatalf("GET %s: %d %q", name, status, body)
	}
	n, err := strconv.Atoi(body)
	if err != nil {
		tb.Fatalf("GET %s: body %q is not a decimal number", name, body)
	}
	return n
}

// increment increments a counter over HTTP and returns the new value.
func increment(tb testing.TB, c *http.Client, base, name string) int {
	tb.Helper()
	status, body := testhttp.Do(tb, c, "POST", base+"/counter/"+name+"/increment", "")
	if status != 200 {
		tb.Fatalf("increment %s: %d %q", name, status, body)
	}
	n, err := strconv.Atoi(body)
	if err != nil {
		tb.Fatalf("increment %s: body %q is not a decimal number", name, body)
	}
	return n
}

func TestIncrementAndGet(t *testing.T) {
	s := mustStart(t, t.TempDir())
	c := testhttp.Client(t)
	base := "http://" + s.Addr()
	if n := value(t, c, base, "never-seen"); n != 0 {
		t.Fatalf("new counter is %d", n)
	}
	for want := 1; want <= 3; want++ {
		if n := increment(t, c, base, "a"); n != want {
			t.Fatalf("increment returned %d, want %d", n, want)
		}
	}
	if n := value(t, c, base, "a"); n != 3 {
		t.Fatalf("value %d, want 3", n)
	}
	if n := value(t, c, base, "b"); n != 0 {
		t.Fatalf("counters share state: b is %d", n)
	}
}

func TestRoutes(t *testing.T) {
	s := mustStart(t, t.TempDir())
	c := testhttp.Client(t)
	base := "http://" + s.Addr()
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/", 404},
		{"GET", "/counters/a", 404},
		{"GET", "/counter/a/b", 404},
		{"POST", "/counter/a/decrement", 404},
		{"POST", "/counter/a", 405},
		{"DELETE", "/counter/a", 405},
		{"GET", "/counter/a/increment", 405},
		{"GET", "/counter/" + strings.Repeat("n", 257), 400},
		{"POST", "/counter/" + strings.Repeat("n", 257) + "/increment", 400},
		{"GET", "/counter/" + strings.Repeat("n", 256), 200},
		{"GET", "/counter/with%2Fslash", 200},
	} {
		if status, body := testhttp.Do(t, c, tc.method, base+tc.path, ""); status != tc.status {
			t.Errorf("%s %.40s: %d %q, want %d", tc.method, tc.path, status, body, tc.status)
		}
	}
}

func TestConcurrentIncrementsLoseNothing(t *testing.T) {
	s := mustStart(t, t.TempDir())
	c := testhttp.Client(t)
	base := "http://" + s.Addr()
	const workers, each = 8, 25
	var mu sync.Mutex // protects seen
	seen := map[int]int{}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				req, _ := http.NewRequest("POST", base+"/counter/hot/increment", nil)
				resp, err := c.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				n, convErr := strconv.Atoi(string(b))
				if err != nil || resp.StatusCode != 200 || convErr != nil {
					t.Errorf("increment: %d %q %v", resp.StatusCode, b, err)
					return
				}
				mu.Lock()
				seen[n]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	const total = workers * each
	if n := value(t, c, base, "hot"); n != total {
		t.Fatalf("final value %d, want %d", n, total)
	}
	for v := 1; v <= total; v++ {
		if seen[v] != 1 {
			t.Fatalf("value %d was returned %d times", v, seen[v])
		}
	}
	if len(seen) != total {
		t.Fatalf("%d distinct values returned, want %d", len(seen), total)
	}
}

func TestValueSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s := mustStart(t, dir)
	c := testhttp.Client(t)
	for range 5 {
		increment(t, c, "http://"+s.Addr(), "durable")
	}
	closeServer(t, s)

	s = mustStart(t, dir)
	if n := value(t, c, "http://"+s.Addr(), "durable"); n != 5 {
		t.Fatalf("after restart the value is %d, want 5", n)
	}
	if n := increment(t, c, "http://"+s.Addr(), "durable"); n != 6 {
		t.Fatalf("increment after restart returned %d, want 6", n)
	}
}

func TestRPC(t *testing.T) {
	s := mustStart(t, t.TempDir())
	ctx := context.Background()
	stub := s.Env().Namespace(counter.Binding).GetByName("rpc")
	n, err := den.Call[int](ctx, stub, "Increment", 5)
	if err != nil || n != 5 {
		t.Fatalf("Increment: %d %v", n, err)
	}
	n, err = den.Call[int](ctx, stub, "Value")
	if err != nil || n != 5 {
		t.Fatalf("Value: %d %v", n, err)
	}
	// RPC and HTTP reach the same object.
	if got := value(t, testhttp.Client(t), "http://"+s.Addr(), "rpc"); got != 5 {
		t.Fatalf("HTTP sees %d, want 5", got)
	}
}

// BenchmarkIncrement measures durable increments over HTTP, spread across
// 64 counters.
func BenchmarkIncrement(b *testing.B) {
	s := mustStart(b, b.TempDir())
	c := testhttp.Client(b)
	base := "http://" + s.Addr()
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		name := "bench-" + strconv.FormatInt(next.Add(1)%64, 10)
		for pb.Next() {
			resp, err := c.Post(base+"/counter/"+name+"/increment", "", nil)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
