package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/den-run/den/internal/testhttp"

	"github.com/den-run/den/examples/reminders/reminders"
	"github.com/den-run/den/internal/proc"
)

// TestBinary builds the reminders program and checks, across processes, that
// every acknowledged reminder is delivered exactly once even though the
// process is killed with SIGKILL while alarms run, and that reminders that
// fall due while no process runs are delivered after the restart.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the program")
	}
	bin := proc.BuildT(t, ".")
	data := filepath.Join(t.TempDir(), "data")
	c := testhttp.Client(t)
	users := []string{"ann", "bob", "cy", "dee"}

	p := proc.StartDen(t, bin, data)
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
				if err := post(c, p.URL(), u, r); err != nil {
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
		l, err := list(c, p.URL(), u)
		if err != nil {
			t.Fatal(err)
		}
		before[u] = len(l.Delivered)
	}
	p.Kill()
	t.Logf("%d reminders acknowledged; delivered before SIGKILL: %v", len(acked), before)
	for time.Since(t0) < 2200*time.Millisecond { // the rest fall due while down
		time.Sleep(10 * time.Millisecond)
	}

	p = proc.StartDen(t, bin, data)
	restarted := time.Now()
	check := func(final bool) bool {
		seen := map[string]int{}
		for _, u := range users {
			l, err := list(c, p.URL(), u)
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
			t.Fatalf("reminders due while the process was down were not delivered within 20 s:\n%s", p.Stderr())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("all due reminders delivered %v after the restart", time.Since(restarted).Round(time.Millisecond))
	check(true)

	// SIGTERM drains and exits 0; nothing changes across the restart.
	proc.StopT(t, p)
	p = proc.StartDen(t, bin, data)
	check(true)
	proc.StopT(t, p)
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
