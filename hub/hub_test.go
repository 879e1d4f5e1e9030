package hub_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"

	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/den-run/den"
	"github.com/den-run/den/actor"
	"github.com/den-run/den/hub"
	"github.com/den-run/den/sqlite"
)

// room is the test object: it accepts sockets on fetch, echoes messages
// with their type, and records closes and errors in storage.
type room struct {
	n  *node
	st den.State
}

func (r *room) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	var ws den.WebSocket
	var err error
	if q.Get("standard") != "" {
		ws, err = r.st.AcceptStandardWebSocket(w, req, den.WebSocketHandlerFuncs{
			Message: func(ctx context.Context, ws den.WebSocket, typ den.MessageType, data []byte) error {
				return ws.SendText("standard:" + string(data))
			},
		})
	} else {
		ws, err = r.st.AcceptWebSocket(w, req, q["tag"]...)
	}
	if err != nil {
		http.Error(w, err.Error(), den.HTTPStatus(err))
		return
	}
	if name := q.Get("name"); name != "" {
		if err := ws.SerializeAttachment(name); err != nil {
			panic(err)
		}
	}
	ws.SendText("welcome")
}

func (r *room) WebSocketMessage(ctx context.Context, ws den.WebSocket, typ den.MessageType, data []byte) error {
	msg := string(data)
	switch {
	case msg == "who":
		var name string
		ok, err := ws.DeserializeAttachment(&name)
		if err != nil || !ok {
			name = "?"
		}
		return ws.SendText("you are " + name)
	case msg == "tags":
		tags, err := r.st.GetTags(ws)
		if err != nil {
			return err
		}
		return ws.SendText("tags " + strings.Join(tags, ","))
	case msg == "count":
		return ws.SendText("sockets " + itoa(len(r.st.GetWebSockets(""))))
	case strings.HasPrefix(msg, "broadcast "):
		for _, o := range r.st.GetWebSockets(strings.TrimPrefix(msg, "broadcast ")) {
			o.SendText("to tag")
		}
		return nil
	case strings.HasPrefix(msg, "all "): // to every socket, this one too
		for _, o := range r.st.GetWebSockets("") {
			o.SendText(strings.TrimPrefix(msg, "all "))
		}
		return nil
	case msg == "store":
		n, _, err := den.GetJSON[int](r.st.Storage(), "stored")
		if err != nil {
			return err
		}
		if err := den.PutJSON(r.st.Storage(), "stored", n+1); err != nil {
			return err
		}
		return ws.SendText("stored " + itoa(n+1))
	case msg == "fail":
		ws.SendText("never")
		return errors.New("refused on purpose")
	case msg == "slow":
		<-ctx.Done()
		return nil
	case msg == "flood":
		big := make([]byte, 64<<10)
		for range 200 {
			ws.Send(den.BinaryMessage, big)
		}
		return nil
	case msg == "trickle": // 10 MiB in small frames
		for i := range 100_000 {
			ws.SendText(strings.Repeat(itoa(i%10), 100))
		}
		return nil
	case msg == "seq": // 30 MiB in frames sent whole, numbered
		for i := range 2_000 {
			ws.SendText(itoa(i) + pad)
		}
		return nil
	case msg == "bye":
		return ws.Close(4000, "bye now")
	}
	return ws.Send(typ, append([]byte(typ.String()+":"), data...))
}

func (r *room) WebSocketClose(ctx context.Context, ws den.WebSocket, code int, reason string, clean bool) error {
	r.n.events <- "close " + itoa(code) + " " + reason + " " + map[bool]string{true: "clean", false: "unclean"}[clean]
	return nil
}

func (r *room) WebSocketError(ctx context.Context, ws den.WebSocket, err error) error {
	r.n.events <- "error " + err.Error()
	return nil
}

// Config sets the room's auto-response and event timeout.
func (r *room) Config(ctx context.Context, timeout time.Duration) error {
	pair, err := den.NewWebSocketRequestResponsePair("ping", "pong")
	if err != nil {
		return err
	}
	r.st.SetWebSocketAutoResponse(pair)
	return r.st.SetHibernatableWebSocketEventTimeout(timeout)
}

// AutoStamps reports how many sockets have an auto-response timestamp.
func (r *room) AutoStamps(ctx context.Context) int {
	n := 0
	for _, ws := range r.st.GetWebSockets("") {
		if _, ok := r.st.GetWebSocketAutoResponseTimestamp(ws); ok {
			n++
		}
	}
	return n
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	if neg {
		return "-" + string(b)
	}
	return string(b)
}

// node is a host, a hub and an HTTP server whose worker forwards
// /room/{name} to the object.
type node struct {
	host   *actor.Host
	hub    *hub.Hub
	ns     *den.Namespace
	srv    *httptest.Server
	built  atomic.Int64
	events chan string
	closed bool
}

func newNode(tb testing.TB, acfg actor.Config, hcfg hub.Config) *node {
	tb.Helper()
	n := &node{events: make(chan string, 100)}
	if acfg.Store == nil {
		acfg.Store = sqlite.NewStore(tb.TempDir())
	}
	n.hub = hub.New(hcfg)
	acfg.Hub = n.hub
	n.host = actor.New(acfg, den.Class{Name: "Room", New: func(st den.State, env *den.Env) (any, error) {
		n.built.Add(1)
		return &room{n: n, st: st}, nil
	}})
	key, err := den.NewKey(nil)
	if err != nil {
		tb.Fatal(err)
	}
	n.ns = den.NewNamespace("ROOM", "Room", key, n.host)
	if err := n.host.Open(den.NewEnv([]*den.Namespace{n.ns}, nil)); err != nil {
		tb.Fatal(err)
	}
	if err := n.hub.Open(n.host); err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/room/{name}", func(w http.ResponseWriter, r *http.Request) {
		n.ns.GetByName(r.PathValue("name")).ServeHTTP(w, r)
	})
	n.srv = httptest.NewServer(mux)
	tb.Cleanup(func() { n.close(tb) })
	return n
}

func (n *node) close(tb testing.TB) {
	if n.closed {
		return
	}
	n.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n.srv.Close()
	if err := n.hub.Close(ctx); err != nil {
		tb.Errorf("close hub: %v", err)
	}
	if err := n.host.Close(ctx); err != nil {
		tb.Errorf("close host: %v", err)
	}
}

func (n *node) dial(tb testing.TB, path string) *websocket.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(n.srv.URL, "http")+path, nil)
	if err != nil {
		tb.Fatalf("dial %s: %v", path, err)
	}
	tb.Cleanup(func() { c.CloseNow() })
	expect(tb, c, websocket.MessageText, "welcome")
	return c
}

func read(tb testing.TB, c *websocket.Conn) (websocket.MessageType, string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	typ, b, err := c.Read(ctx)
	if err != nil {
		tb.Fatalf("read: %v", err)
	}
	return typ, string(b)
}

func expect(tb testing.TB, c *websocket.Conn, typ websocket.MessageType, want string) {
	tb.Helper()
	gt, got := read(tb, c)
	if gt != typ || got != want {
		tb.Fatalf("got %v %q, want %v %q", gt, got, typ, want)
	}
}

func write(tb testing.TB, c *websocket.Conn, typ websocket.MessageType, msg string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, typ, []byte(msg)); err != nil {
		tb.Fatalf("write: %v", err)
	}
}

func (n *node) event(tb testing.TB) string {
	tb.Helper()
	select {
	case e := <-n.events:
		return e
	case <-time.After(10 * time.Second):
		tb.Fatal("no event from the object within 10s")
		return ""
	}
}

// closeStatus reads until the connection ends and returns its close code.
func closeStatus(tb testing.TB, c *websocket.Conn) websocket.StatusCode {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if _, _, err := c.Read(ctx); err != nil {
			return websocket.CloseStatus(err)
		}
	}
}

func TestMessagesKeepTheirType(t *testing.T) {
	n := newNode(t, actor.Config{}, hub.Config{})
	c := n.dial(t, "/room/a")
	write(t, c, websocket.MessageText, "hello")
	expect(t, c, websocket.MessageText, "text:hello")
	write(t, c, websocket.MessageBinary, "\x00\x01")
	expect(t, c, websocket.MessageBinary, "binary:\x00\x01")
	// A fragmented message arrives whole.
	w, err := c.Writer(context.Background(), websocket.MessageText)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("frag"))
	w.Write([]byte("mented"))
	w.Close()
	expect(t, c, websocket.MessageText, "text:fragmented")
}

func TestPingsAreAnsweredByTheRuntime(t *testing.T) {
	n := newNode(t, actor.Config{}, hub.Config{})
	c := n.dial(t, "/room/a")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go c.Read(ctx) // coder/websocket reads pongs while a reader runs
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
}

func TestHibernationKeepsSocketsTagsAndAttachments(t *testing.T) {
	n := newNode(t, actor.Config{IdleTimeout: 50 * time.Millisecond}, hub.Config{})
	a := n.dial(t, "/room/h?name=ann&tag=red&tag=blue&tag=red")
	b := n.dial(t, "/room/h?name=bob&tag=blue")
	if _, err := den.Call[any](context.Background(), n.ns.GetByName("h"), "Config", time.Duration(0)); err != nil {
		t.Fatal(err)
	}
	retryUntil(t, func() bool { return n.host.Live() == 0 }) // evicted: hibernated
	built := n.built.Load()

	// The auto-response is answered without constructing the object.
	write(t, a, websocket.MessageText, "ping")
	expect(t, a, websocket.MessageText, "pong")
	if n.host.Live() != 0 || n.built.Load() != built {
		t.Fatal("the auto-response woke the object")
	}

	// The next message constructs it again; the socket's state survived.
	write(t, a, websocket.MessageText, "who")
	expect(t, a, websocket.MessageText, "you are ann")
	if n.built.Load() != built+1 {
		t.Fatalf("constructions %d, want %d", n.built.Load(), built+1)
	}
	write(t, a, websocket.MessageText, "tags")
	expect(t, a, websocket.MessageText, "tags red,blue")
	write(t, a, websocket.MessageText, "count")
	expect(t, a, websocket.MessageText, "sockets 2")
	write(t, a, websocket.MessageText, "broadcast red")
	expect(t, a, websocket.MessageText, "to tag")
	write(t, b, websocket.MessageText, "broadcast blue")
	expect(t, a, websocket.MessageText, "to tag")
	expect(t, b, websocket.MessageText, "to tag")
	stamps, err := den.Call[int](context.Background(), n.ns.GetByName("h"), "AutoStamps")
	if err != nil || stamps != 1 {
		t.Fatalf("auto-response timestamps: %d, %v; want 1", stamps, err)
	}
	// The auto-response also survived the eviction.
	write(t, b, websocket.MessageText, "ping")
	expect(t, b, websocket.MessageText, "pong")
}

func TestCloseEvents(t *testing.T) {
	n := newNode(t, actor.Config{}, hub.Config{})
	// A clean close from the client: the runtime answers it.
	c := n.dial(t, "/room/c")
	if err := c.Close(websocket.StatusNormalClosure, "done"); err != nil {
		t.Fatalf("close: %v", err)
	}
	if e := n.event(t); e != "close 1000 done clean" {
		t.Fatalf("event %q", e)
	}
	// A peer that vanishes: 1006.
	c = n.dial(t, "/room/c")
	c.CloseNow()
	if e := n.event(t); e != "close 1006 "+den.MsgWebSocketDisconnected+" unclean" {
		t.Fatalf("event %q", e)
	}
	// The object closes: the client sees its code.
	c = n.dial(t, "/room/c")
	write(t, c, websocket.MessageText, "bye")
	if got := closeStatus(t, c); got != 4000 {
		t.Fatalf("client saw close %d, want 4000", got)
	}
	if e := n.event(t); e != "close 4000 bye now clean" {
		t.Fatalf("event %q", e)
	}
}

func TestOversizedMessageIsClosedWith1009(t *testing.T) {
	n := newNode(t, actor.Config{}, hub.Config{MaxMessage: 1024})
	c := n.dial(t, "/room/big")
	write(t, c, websocket.MessageBinary, strings.Repeat("x", 2048))
	if got := closeStatus(t, c); got != websocket.StatusMessageTooBig {
		t.Fatalf("client saw close %d, want 1009", got)
	}
	if e := n.event(t); e != "error Message is too large: 2048 > 1024" {
		t.Fatalf("event %q", e)
	}
}

func TestSlowReaderIsClosedWith1008(t *testing.T) {
	n := newNode(t, actor.Config{}, hub.Config{MaxSendQueue: 256 << 10})
	c := n.dial(t, "/room/slow")
	write(t, c, websocket.MessageText, "flood") // 12.5 MiB to a client that does not read
	e := n.event(t)
	if !strings.HasPrefix(e, "error WebSocket send queue exceeded 262144 bytes") {
		t.Fatalf("event %q", e)
	}
	// The object is not stalled: another socket is served at once.
	d := n.dial(t, "/room/slow")
	write(t, d, websocket.MessageText, "hi")
	expect(t, d, websocket.MessageText, "text:hi")
	if got := closeStatus(t, c); got != websocket.StatusPolicyViolation && got != -1 {
		t.Fatalf("slow client saw close %d, want 1008 (or a cut connection)", got)
	}
}

// TestSlowReaderOfSmallFramesIsClosedWith1008: small frames (sent whole,
// with send(2)) overflow the queue as large ones do.
func TestSlowReaderOfSmallFramesIsClosedWith1008(t *testing.T) {
	n := newNode(t, actor.Config{}, hub.Config{MaxSendQueue: 256 << 10})
	c := n.dial(t, "/room/slow")
	write(t, c, websocket.MessageText, "trickle")
	if e := n.event(t); !strings.HasPrefix(e, "error WebSocket send queue exceeded 262144 bytes") {
		t.Fatalf("event %q", e)
	}
	if got := closeStatus(t, c); got != websocket.StatusPolicyViolation && got != -1 {
		t.Fatalf("slow client saw close %d, want 1008 (or a cut connection)", got)
	}
}

// pad makes "seq"'s frames 16,000 bytes: under hub's limit for frames
// sent whole, over what a nearly full socket buffer takes.
var pad = " " + strings.Repeat("x", 16_000-5)

// TestManySmallFramesKeepTheirOrder: 30 MiB of frames sent whole from one
// turn, far more than the socket's buffer takes, so sends are partial or
// wait for writability, arrive whole and in order.
func TestManySmallFramesKeepTheirOrder(t *testing.T) {
	n := newNode(t, actor.Config{}, hub.Config{MaxSendQueue: 64 << 20})
	c := n.dial(t, "/room/seq")
	c.SetReadLimit(1 << 20)
	write(t, c, websocket.MessageText, "seq")
	for i := range 2_000 {
		expect(t, c, websocket.MessageText, itoa(i)+pad)
	}
}

func TestShutdownClosesWith1001(t *testing.T) {
	n := newNode(t, actor.Config{}, hub.Config{})
	c := n.dial(t, "/room/s")
	n.close(t)
	if got := closeStatus(t, c); got != websocket.StatusGoingAway {
		t.Fatalf("client saw close %d, want 1001", got)
	}
}

func TestFailedTurnDropsItsSends(t *testing.T) {
	n := newNode(t, actor.Config{}, hub.Config{})
	c := n.dial(t, "/room/f")
	write(t, c, websocket.MessageText, "fail")
	write(t, c, websocket.MessageText, "after")
	expect(t, c, websocket.MessageText, "text:after") // "never" was dropped
}

// heldCommitter hands every flush to the test, which decides when it is
// durable.
type heldCommitter struct{ flushes chan func(error) }

func (c heldCommitter) Flush(db den.Database, done func(error)) {
	if err := db.Sync(); err != nil {
		done(err)
		return
	}
	c.flushes <- done
}

func TestSendsWaitForTheOutputGate(t *testing.T) {
	hc := heldCommitter{flushes: make(chan func(error), 10)}
	n := newNode(t, actor.Config{Committer: hc}, hub.Config{})
	c := n.dial(t, "/room/g")
	write(t, c, websocket.MessageText, "store")
	done := <-hc.flushes // the write committed; its send is held
	got := make(chan string, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, b, _ := c.Read(ctx)
		got <- string(b)
	}()
	select {
	case m := <-got:
		t.Fatalf("%q arrived before the write was durable", m)
	case <-time.After(100 * time.Millisecond):
	}
	done(nil)
	if m := <-got; m != "stored 1" {
		t.Fatalf("got %q", m)
	}
}

func TestEventTimeout(t *testing.T) {
	n := newNode(t, actor.Config{}, hub.Config{})
	c := n.dial(t, "/room/t")
	if _, err := den.Call[any](context.Background(), n.ns.GetByName("t"), "Config", 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	write(t, c, websocket.MessageText, "slow") // returns when its ctx expires, and fails
	write(t, c, websocket.MessageText, "next")
	expect(t, c, websocket.MessageText, "text:next")
	if _, err := den.Call[any](context.Background(), n.ns.GetByName("t"), "Config", 8*24*time.Hour); err == nil || !strings.Contains(err.Error(), den.MsgEventTimeoutTooLong) {
		t.Fatalf("8 days: %v", err)
	}
}

func TestStandardSocketKeepsTheObjectAlive(t *testing.T) {
	n := newNode(t, actor.Config{IdleTimeout: 20 * time.Millisecond}, hub.Config{})
	c := n.dial(t, "/room/std?standard=1")
	write(t, c, websocket.MessageText, "x")
	expect(t, c, websocket.MessageText, "standard:x")
	time.Sleep(100 * time.Millisecond) // several idle timeouts: the object must stay
	if n.host.Live() != 1 || n.built.Load() != 1 {
		t.Fatalf("live %d, built %d: a standard socket must keep its object in memory", n.host.Live(), n.built.Load())
	}
	c.Close(websocket.StatusNormalClosure, "")
	retryUntil(t, func() bool { return n.host.Live() == 0 })
}

func TestAcceptLimits(t *testing.T) {
	n := newNode(t, actor.Config{}, hub.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(n.srv.URL, "http") + "/room/l?tag="
	_, resp, err := websocket.Dial(ctx, url+strings.Repeat("x", 257), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a 257-character tag: %v", err)
	}
	tags := strings.Repeat("&tag=t", 10)
	for i := range 11 {
		tags += "&tag=" + itoa(i)
	}
	if _, resp, err = websocket.Dial(ctx, url+"a"+tags, nil); err == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("11 tags: %v", err)
	}
	// A plain GET is not an upgrade.
	res, err := http.Get(n.srv.URL + "/room/l")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Fatalf("plain GET: %d", res.StatusCode)
	}
}

func TestSocketsPerObjectLimit(t *testing.T) {
	h := hub.New(hub.Config{})
	if err := h.Open(nopDeliverer{}); err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	ns := den.NewNamespace("ROOM", "Room", den.Key{1}, nil)
	id := ns.IDFromName("full")
	r := httptest.NewRequest("GET", "/", nil)
	var all []den.HubSocket
	for range den.MaxWebSocketsPerObject {
		s, err := h.Accept(ns, id, r, nil, true)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, s)
	}
	if _, err := h.Accept(ns, id, r, nil, true); err == nil || err.Error() != den.MsgWebSocketTooMany {
		t.Fatalf("socket 32,769: %v", err)
	}
	if _, err := h.Accept(ns, id, r, nil, false); err != nil {
		t.Fatalf("a standard socket is not counted: %v", err)
	}
	for _, s := range all {
		s.Discard()
	}
	if _, err := h.Accept(ns, id, r, nil, true); err != nil {
		t.Fatal(err)
	}
}

type nopDeliverer struct{}

func (nopDeliverer) DeliverWebSocket(*den.Namespace, den.ID, den.WebSocketEvent, func(error)) error {
	return nil
}

func retryUntil(tb testing.TB, ok func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			tb.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

// heldCounter is a den.Observer that counts the turns held for a later
// COMMIT (write coalescing).
type heldCounter struct{ held atomic.Int64 }

func (h *heldCounter) Turn(s den.TurnStats) {
	if s.Held {
		h.held.Add(1)
	}
}
func (h *heldCounter) Refused(*den.Namespace, den.ID, den.EventKind, string) {}
func (h *heldCounter) Idle(*den.Namespace, den.ID, time.Duration)            {}
func (h *heldCounter) Left(*den.Namespace, den.ID, int64, bool)              {}

// Messages from several sockets queue behind each other and become turns
// that the object commits together (write coalescing): each still answers
// once, after its write is durable and in the order the turns ran, and a
// failed one among them sends nothing.
func TestQueuedWritesAnswerInOrder(t *testing.T) {
	obs := &heldCounter{}
	n := newNode(t, actor.Config{Observer: obs}, hub.Config{})
	const sockets, each = 4, 50
	conns := make([]*websocket.Conn, sockets)
	for i := range conns {
		conns[i] = n.dial(t, "/room/q")
	}
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			for j := range each {
				msg := "store"
				if i == 1 && j == each/2 {
					msg = "fail"
				}
				if err := c.Write(context.Background(), websocket.MessageText, []byte(msg)); err != nil {
					t.Errorf("write: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	seen := map[int]bool{}
	for i, c := range conns {
		replies := each
		if i == 1 {
			replies--
		}
		last := 0
		for range replies {
			_, got := read(t, c)
			k, err := strconv.Atoi(strings.TrimPrefix(got, "stored "))
			if err != nil || k <= last || seen[k] {
				t.Fatalf("socket %d got %q after %d", i, got, last)
			}
			last, seen[k] = k, true
		}
	}
	if len(seen) != sockets*each-1 {
		t.Errorf("%d distinct counts, want %d", len(seen), sockets*each-1)
	}
	t.Logf("%d of %d turns held for a later COMMIT", obs.held.Load(), sockets*each)
}
