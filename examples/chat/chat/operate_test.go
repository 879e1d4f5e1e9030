package chat_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/den-run/den/examples/chat/chat"
	"github.com/den-run/den/serve"
)

const token = "test-token-0123456789"

// admin sends an operator API request and returns the status and body.
func admin(t *testing.T, s *serve.Server, method, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+s.AdminAddr()+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// gauge reads one den_websockets_* gauge of CHAT_ROOM from /metrics.
func gauge(t *testing.T, s *serve.Server, name string) int {
	t.Helper()
	_, body := admin(t, s, "GET", "/metrics")
	m := regexp.MustCompile(name + `\{namespace="CHAT_ROOM"\} (\d+)`).FindStringSubmatch(body)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// waitFor retries check until it holds or ten seconds pass.
func waitFor(t *testing.T, what string, check func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !check(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The operator sees a room's sockets — in the metrics, active then
// hibernated; in the object's listing — and deleting the room closes them
// with 1001.
func TestOperatorSeesAndDeletesSockets(t *testing.T) {
	s, err := serve.Start(context.Background(), chat.App(), serve.Config{
		Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", AdminToken: token,
		Data: t.TempDir(), IdleTimeout: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	ann, bob := join(t, s, "ops", "ann"), join(t, s, "ops", "bob")
	ann.next() // history
	bob.next() // history
	bob.say("hello")
	waitFor(t, "two active sockets", func() bool { return gauge(t, s, "den_websockets_active") == 2 })
	waitFor(t, "the room to hibernate", func() bool {
		return gauge(t, s, "den_websockets_hibernated") == 2 && gauge(t, s, "den_websockets_active") == 0
	})
	if n := gauge(t, s, "den_websocket_messages_total"); n < 1 {
		t.Errorf("den_websocket_messages_total = %d, want the message counted", n)
	}

	status, body := admin(t, s, "GET", "/v1/namespaces/CHAT_ROOM/objects/name:ops")
	var obj struct {
		State      string `json:"state"`
		WebSockets int    `json:"websockets"`
		Sockets    []struct {
			Hibernated bool `json:"hibernated"`
		} `json:"sockets"`
	}
	if err := json.Unmarshal([]byte(body), &obj); status != 200 || err != nil {
		t.Fatalf("GET object: %d %s", status, body)
	}
	if obj.State != "hibernated" || obj.WebSockets != 2 || len(obj.Sockets) != 2 || !obj.Sockets[0].Hibernated {
		t.Errorf("object %s: want hibernated with 2 hibernated sockets", body)
	}

	if status, body := admin(t, s, "DELETE", "/v1/namespaces/CHAT_ROOM/objects/name:ops"); status != 200 {
		t.Fatalf("DELETE: %d %s", status, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, _, err := ann.c.Read(ctx)
		if err == nil {
			continue // a message sent before the delete
		}
		if code := websocket.CloseStatus(err); code != websocket.StatusGoingAway {
			t.Fatalf("ann's socket ended with %v (code %d), want 1001", err, code)
		}
		break
	}
	waitFor(t, "the gauges to empty", func() bool {
		return gauge(t, s, "den_websockets_hibernated") == 0 && gauge(t, s, "den_websockets_active") == 0
	})
}
