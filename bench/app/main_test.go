package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/den-run/den/serve"
)

// TestMain fails the package if any test leaks a goroutine.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRoutes serves the app in-process: the counter example's routes and
// the /sql routes count, each counter on its own.
func TestRoutes(t *testing.T) {
	s, err := serve.Start(context.Background(), App(), serve.Config{
		Addr: "127.0.0.1:0", Data: t.TempDir(), Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	do := func(method, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+s.Addr()+path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, want := range []string{"1", "2"} {
		if code, body := do("POST", "/counter/a/increment"); code != 200 || body != want {
			t.Errorf("POST /counter/a/increment: %d %q, want %s", code, body, want)
		}
	}
	if code, body := do("GET", "/sql/a"); code != 200 || body != "0" {
		t.Errorf("GET /sql/a before any increment: %d %q, want 0", code, body)
	}
	for _, want := range []string{"1", "2"} {
		if code, body := do("POST", "/sql/a"); code != 200 || body != want {
			t.Errorf("POST /sql/a: %d %q, want %s", code, body, want)
		}
	}
	if code, body := do("GET", "/sql/a"); code != 200 || body != "2" {
		t.Errorf("GET /sql/a: %d %q, want 2", code, body)
	}
}
