package main_test

import (
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/den-run/den/internal/testhttp"

	"github.com/den-run/den/internal/proc"
)

// TestBinary builds the counter program and checks, across processes, that
// a SIGKILL loses no acknowledged increment and that SIGTERM drains and
// exits 0.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the program")
	}
	bin := proc.BuildT(t, ".")
	data := filepath.Join(t.TempDir(), "data")
	c := testhttp.Client(t)

	// Increment from several clients and kill the process mid-stream.
	p := proc.StartDen(t, bin, data)
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
				n, err := increment(c, p.URL(), "k")
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
		case <-p.Exited():
			t.Fatalf("the program exited early:\n%s", p.Stderr())
		case <-time.After(time.Millisecond):
		}
	}
	p.Kill()
	close(stop)
	wg.Wait()
	t.Logf("%d increments acknowledged before SIGKILL, highest value %d", acked.Load(), maxAck)

	p = proc.StartDen(t, bin, data)
	got := value(t, c, p.URL(), "k")
	// Every acknowledged increment survived; at most the ones in flight
	// at the kill may have landed too.
	if got < maxAck || got < int(acked.Load()) || got > int(acked.Load())+clients {
		t.Fatalf("after SIGKILL the value is %d; %d increments were acknowledged, the highest value %d", got, acked.Load(), maxAck)
	}
	n, err := increment(c, p.URL(), "k")
	if err != nil || n != got+1 {
		t.Fatalf("increment after restart: %d %v, want %d", n, err, got+1)
	}

	// SIGTERM drains and exits 0, keeping the data.
	proc.StopT(t, p)
	p = proc.StartDen(t, bin, data)
	if v := value(t, c, p.URL(), "k"); v != got+1 {
		t.Fatalf("after SIGTERM the value is %d, want %d", v, got+1)
	}
	proc.StopT(t, p)
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
