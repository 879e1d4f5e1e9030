package reminders_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/den-run/den/internal/testhttp"

	"go.uber.org/goleak"

	"github.com/den-run/den"
	"github.com/den-run/den/examples/reminders/reminders"
	"github.com/den-run/den/serve"
)

// TestMain fails the package if any test leaks a goroutine.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// mustStart serves the app on a free port with data in dir and closes it
// when the test ends (or when the returned function is called).
func mustStart(tb testing.TB, dir string) (*serve.Server, func()) {
	tb.Helper()
	s, err := serve.Start(context.Background(), reminders.App(), serve.Config{
		Addr:   "127.0.0.1:0",
		Data:   dir,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		tb.Fatal(err)
	}
	closed := false
	stop := func() {
		if closed {
			return
		}
		closed = true
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			tb.Errorf("close server: %v", err)
		}
	}
	tb.Cleanup(stop)
	return s, stop
}

func post(tb testing.TB, c *http.Client, base, user string, at int64, msg string) {
	tb.Helper()
	body, _ := json.Marshal(map[string]any{"at": at, "message": msg})
	status, resp := testhttp.Do(tb, c, "POST", base+"/reminders/"+user, string(body))
	if status != http.StatusCreated {
		tb.Fatalf("POST %s: %d %q", user, status, resp)
	}
	var got reminders.Reminder
	if err := json.Unmarshal([]byte(resp), &got); err != nil || got.At != at || got.Message != msg {
		tb.Fatalf("POST %s answered %q (%v)", user, resp, err)
	}
}

func get(tb testing.TB, c *http.Client, base, user string) reminders.List {
	tb.Helper()
	status, body := testhttp.Do(tb, c, "GET", base+"/reminders/"+user, "")
	if status != http.StatusOK {
		tb.Fatalf("GET %s: %d %q", user, status, body)
	}
	var l reminders.List
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		tb.Fatalf("GET %s: %q: %v", user, body, err)
	}
	if l.Pending == nil || l.Delivered == nil {
		tb.Fatalf("GET %s: %q: pending and delivered must be arrays", user, body)
	}
	return l
}

// retryUntil polls cond for up to 10 seconds.
func retryUntil(tb testing.TB, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func nowMs() int64 { return time.Now().UnixMilli() }

func TestPendingThenDelivered(t *testing.T) {
	s, _ := mustStart(t, t.TempDir())
	c := testhttp.Client(t)
	base := "http://" + s.Addr()
	later, latest := nowMs()+time.Hour.Milliseconds(), nowMs()+2*time.Hour.Milliseconds()
	post(t, c, base, "ann", latest, "later still")
	post(t, c, base, "ann", later, "later")
	past := nowMs() - 1000
	post(t, c, base, "ann", past, "already due")

	var l reminders.List
	retryUntil(t, func() bool { l = get(t, c, base, "ann"); return len(l.Delivered) == 1 })
	d := l.Delivered[0]
	if d.At != past || d.Message != "already due" || d.DeliveredAt < past {
		t.Fatalf("delivered %+v", d)
	}
	want := []reminders.Reminder{{At: later, Message: "later"}, {At: latest, Message: "later still"}}
	if fmt.Sprint(l.Pending) != fmt.Sprint(want) {
		t.Fatalf("pending %+v, want %+v", l.Pending, want)
	}
	if l := get(t, c, base, "bob"); len(l.Pending)+len(l.Delivered) != 0 {
		t.Fatalf("users share reminders: %+v", l)
	}
	status, body := testhttp.Do(t, c, "GET", base+"/reminders/nobody", "")
	if status != 200 || !strings.Contains(body, `"pending":[]`) || !strings.Contains(body, `"delivered":[]`) {
		t.Fatalf("an unknown user: %d %q", status, body)
	}
}

func TestManyRemindersEachDeliveredOnce(t *testing.T) {
	s, _ := mustStart(t, t.TempDir())
	c := testhttp.Client(t)
	base := "http://" + s.Addr()
	now := nowMs()
	const n = 20
	for i := range n {
		post(t, c, base, "many", now-int64(i), fmt.Sprint("m", i)) // all due
	}
	var l reminders.List
	retryUntil(t, func() bool { l = get(t, c, base, "many"); return len(l.Pending) == 0 })
	seen := map[string]int{}
	for _, d := range l.Delivered {
		seen[d.Message]++
	}
	for i := range n {
		if seen[fmt.Sprint("m", i)] != 1 {
			t.Fatalf("m%d delivered %d times: %+v", i, seen[fmt.Sprint("m", i)], l.Delivered)
		}
	}
}

func TestBadRequests(t *testing.T) {
	s, _ := mustStart(t, t.TempDir())
	c := testhttp.Client(t)
	base := "http://" + s.Addr()
	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{"POST", "/reminders/u", `{"at": 1`, 400},
		{"POST", "/reminders/u", `not json`, 400},
		{"POST", "/reminders/u", ``, 400},
		{"POST", "/reminders/u", `{"message": "no time"}`, 400},
		{"POST", "/reminders/u", `{"at": null, "message": "x"}`, 400},
		{"POST", "/reminders/u", `{"at": "1767225600000"}`, 400},
		{"POST", "/reminders/u", `{"at": 1.5}`, 400},
		{"POST", "/reminders/u", `{"at": 0}`, 400},
		{"POST", "/reminders/u", `{"at": -5}`, 400},
		{"POST", "/reminders/u", `{"at": 1, "message": 7}`, 400},
		{"POST", "/reminders/u", `[1]`, 400},
		{"POST", "/reminders/u", `{"at": 1} {"at": 2}`, 400},
		{"POST", "/reminders/u", fmt.Sprintf(`{"at": 1, "message": %q}`, strings.Repeat("x", reminders.MaxMessageBytes+1)), 400},
		{"POST", "/reminders/" + strings.Repeat("u", reminders.MaxUserBytes+1), `{"at": 1}`, 400},
		{"GET", "/reminders/" + strings.Repeat("u", reminders.MaxUserBytes+1), ``, 400},
		{"POST", "/reminders/u", fmt.Sprintf(`{"at": 1, "pad": %q}`, strings.Repeat("x", 70<<10)), 413},
		{"GET", "/reminders", ``, 404},
		{"GET", "/reminders/u/x", ``, 404},
		{"DELETE", "/reminders/u", ``, 405},
		{"POST", "/reminders/u", fmt.Sprintf(`{"at": %d}`, nowMs()+time.Hour.Milliseconds()), 201},
		{"POST", "/reminders/u", fmt.Sprintf(`{"at": %d, "extra": true}`, nowMs()+time.Hour.Milliseconds()), 201},
	} {
		if status, body := testhttp.Do(t, c, tc.method, base+tc.path, tc.body); status != tc.status {
			t.Errorf("%s %.30s %.40s: %d %q, want %d", tc.method, tc.path, tc.body, status, body, tc.status)
		}
	}
	if l := get(t, c, base, "u"); len(l.Pending) != 2 {
		t.Fatalf("pending %+v: the refused requests stored something", l.Pending)
	}
}

func TestDueWhileDownDeliveredAfterRestart(t *testing.T) {
	dir := t.TempDir()
	s, stop := mustStart(t, dir)
	c := testhttp.Client(t)
	at := nowMs() + 300
	post(t, c, "http://"+s.Addr(), "sleeper", at, "wake up")
	stop()
	for nowMs() <= at { // the reminder falls due while no process runs
		time.Sleep(10 * time.Millisecond)
	}
	s, _ = mustStart(t, dir)
	var l reminders.List
	retryUntil(t, func() bool { l = get(t, c, "http://"+s.Addr(), "sleeper"); return len(l.Delivered) == 1 })
	if len(l.Pending) != 0 || l.Delivered[0].Message != "wake up" || l.Delivered[0].DeliveredAt < at {
		t.Fatalf("after restart: %+v", l)
	}
}

func TestRPC(t *testing.T) {
	s, _ := mustStart(t, t.TempDir())
	stub := s.Env().Namespace(reminders.Binding).GetByName("rpc")
	ctx := context.Background()
	at := nowMs() + time.Hour.Milliseconds()
	if _, err := den.Call[reminders.Reminder](ctx, stub, "Add", reminders.Reminder{At: at, Message: "m"}); err != nil {
		t.Fatal(err)
	}
	if _, err := den.Call[reminders.Reminder](ctx, stub, "Add", reminders.Reminder{At: 0}); den.ErrorCode(err) != den.EINVALID {
		t.Fatalf("Add at 0: %v", err)
	}
	l, err := den.Call[reminders.List](ctx, stub, "List")
	if err != nil || len(l.Pending) != 1 || l.Pending[0].At != at {
		t.Fatalf("List: %+v %v", l, err)
	}
	// Alarm is an event handler, not an RPC method.
	if _, err := stub.Call(ctx, "Alarm", den.AlarmInfo{}); err == nil {
		t.Fatal("Alarm was callable over RPC")
	}
}
