package chat_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"
	"github.com/den-run/den/examples/chat/chat"
	"github.com/den-run/den/internal/browser"
	"github.com/den-run/den/serve"
)

func start(tb testing.TB, idle time.Duration) *serve.Server {
	tb.Helper()
	s, err := serve.Start(context.Background(), chat.App(), serve.Config{
		Addr:        "127.0.0.1:0",
		Data:        tb.TempDir(),
		IdleTimeout: idle,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
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

type member struct {
	tb testing.TB
	c  *websocket.Conn
}

func join(tb testing.TB, s *serve.Server, room, name string) *member {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, fmt.Sprintf("ws://%s/chat/%s/websocket?name=%s", s.Addr(), room, name), nil)
	if err != nil {
		tb.Fatalf("join %s as %s: %v", room, name, err)
	}
	tb.Cleanup(func() { c.CloseNow() })
	return &member{tb: tb, c: c}
}

func (m *member) next() map[string]any {
	m.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	typ, b, err := m.c.Read(ctx)
	if err != nil {
		m.tb.Fatalf("read: %v", err)
	}
	if typ != websocket.MessageText {
		m.tb.Fatalf("a %v message", typ)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		m.tb.Fatalf("not JSON: %q", b)
	}
	return v
}

func (m *member) say(text string) {
	m.tb.Helper()
	b, _ := json.Marshal(map[string]string{"message": text})
	m.send(string(b))
}

func (m *member) send(raw string) {
	m.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.c.Write(ctx, websocket.MessageText, []byte(raw)); err != nil {
		m.tb.Fatalf("write: %v", err)
	}
}

func TestChatContract(t *testing.T) {
	s := start(t, 100*time.Millisecond)
	ann := join(t, s, "lobby", "ann")
	if h := ann.next(); h["type"] != "history" || len(h["messages"].([]any)) != 0 {
		t.Fatalf("first message: %v", h)
	}
	if j := ann.next(); j["type"] != "join" || j["name"] != "ann" {
		t.Fatalf("join: %v", j)
	}
	bob := join(t, s, "lobby", "bob")
	bob.next() // history
	for _, m := range []*member{ann, bob} {
		if j := m.next(); j["type"] != "join" || j["name"] != "bob" {
			t.Fatalf("join of bob: %v", j)
		}
	}
	before := time.Now().UnixMilli()
	ann.say("hello bob")
	for _, m := range []*member{ann, bob} {
		got := m.next()
		ts, _ := got["timestamp"].(float64)
		if got["from"] != "ann" || got["message"] != "hello bob" || int64(ts) < before || len(got) != 3 {
			t.Fatalf("broadcast: %v", got)
		}
	}

	// The room hibernates; pings are answered without waking it.
	host := s.Host()
	deadline := time.Now().Add(10 * time.Second)
	for host.Live() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the room never hibernated")
		}
		time.Sleep(5 * time.Millisecond)
	}
	ann.send(chat.Ping)
	if p := ann.next(); p["type"] != "pong" {
		t.Fatalf("ping: %v", p)
	}
	if host.Live() != 0 {
		t.Fatal("the ping woke the room")
	}
	// The next message wakes it; the username (the attachment) survived.
	bob.say("hi ann")
	if got := ann.next(); got["from"] != "bob" || got["message"] != "hi ann" {
		t.Fatalf("after hibernation: %v", got)
	}
	bob.next()

	// A leave is announced.
	bob.c.Close(websocket.StatusNormalClosure, "")
	if l := ann.next(); l["type"] != "leave" || l["name"] != "bob" {
		t.Fatalf("leave: %v", l)
	}

	// Newcomers get the last 100 messages, oldest first (of 107: from m5).
	for i := range 105 {
		ann.say(fmt.Sprint("m", i))
		ann.next()
	}
	cy := join(t, s, "lobby", "cy")
	h := cy.next()
	msgs := h["messages"].([]any)
	if h["type"] != "history" || len(msgs) != 100 {
		t.Fatalf("history of %d messages, want 100", len(msgs))
	}
	if first, last := msgs[0].(map[string]any), msgs[99].(map[string]any); first["message"] != "m5" || last["message"] != "m104" || first["from"] != "ann" {
		t.Fatalf("history runs %v … %v", first, last)
	}
	// Rooms are separate.
	other := join(t, s, "other", "dee")
	if h := other.next(); len(h["messages"].([]any)) != 0 {
		t.Fatalf("room other has history %v", h)
	}
}

func TestChatRejectsBadJoins(t *testing.T) {
	s := start(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, fmt.Sprintf("ws://%s/chat/lobby/websocket", s.Addr()), nil)
	if err == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("no name: %v", err)
	}
	res, err := http.Get(fmt.Sprintf("http://%s/", s.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), "new WebSocket") {
		t.Fatal("the page has no chat client")
	}
}

// TestChatInTwoBrowserTabs drives the page in headless Chromium: two tabs
// join the same room and see each other's messages.
func TestChatInTwoBrowserTabs(t *testing.T) {
	s := start(t, 0)
	ctx := browser.New(t, 2*time.Minute)
	tab2 := browser.NewTab(t, ctx)
	url := fmt.Sprintf("http://%s/", s.Addr())
	joinAs := func(tab context.Context, name string) {
		t.Helper()
		err := chromedp.Do(tab,
			chromedp.Navigate(url),
			chromedp.SetValue("#room", "browsers"),
			chromedp.SetValue("#name", name),
			chromedp.Click("#join button"),
			chromedp.WaitEnabled("#text"),
		)
		if err != nil {
			t.Fatalf("%s joins: %v", name, err)
		}
	}
	say := func(tab context.Context, text string) {
		t.Helper()
		if err := chromedp.Do(tab,
			chromedp.SetValue("#text", text),
			chromedp.Click("#send"),
		); err != nil {
			t.Fatalf("say %q: %v", text, err)
		}
	}
	waitFor := func(tab context.Context, want string) {
		t.Helper()
		js := fmt.Sprintf(`[...document.querySelectorAll("#log p")].some(p => p.textContent === %q)`, want)
		if _, err := chromedp.Run(tab, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			log, _ := chromedp.Run(tab, chromedp.Text("#log"))
			t.Fatalf("waiting for %q: %v; the log shows %q", want, err, log)
		}
	}
	joinAs(ctx, "ann")
	joinAs(tab2, "bob")
	waitFor(ctx, "bob joined")
	say(ctx, "hello from tab one")
	waitFor(tab2, "ann: hello from tab one")
	say(tab2, "hello from tab two")
	waitFor(ctx, "bob: hello from tab two")
	waitFor(tab2, "bob: hello from tab two")
}
