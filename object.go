package den

import (
	"context"
	"net/http"
	"time"
)

// Class is an object type registered under a class name (the name a
// configuration binds, such as "ChatRoom").
//
// New constructs a live instance. It runs on the object's first event after
// the object was out of memory, as the first part of that event's turn, so it
// may read and write storage (use State.BlockConcurrencyWhile for work that
// must finish before any event, such as a schema migration). Keep it cheap:
// it runs again after every eviction. An error reaches the caller as a remote
// error and the next event tries again.
//
// The instance may implement [http.Handler] to receive HTTP requests through
// [Stub.Fetch]. Its other exported methods can be called over RPC with
// [Stub.Call] (see [Call] for the signatures that qualify). Objects need no
// locks: the runtime delivers one event at a time, on one goroutine.
type Class struct {
	Name string
	New  func(state State, env *Env) (any, error)
}

// State is what the runtime hands an object: its identity, its storage and
// control over its own concurrency. Its methods may be called only from the
// object's own turns, except WaitUntil's function, which runs beside them.
type State interface {
	// ID returns the object's ID; it knows the name when the object was
	// reached by name.
	ID() ID
	// Storage returns the object's key-value storage.
	Storage() Storage
	// BlockConcurrencyWhile runs fn with no other event delivered to the
	// object until it returns, not even a call that comes back through a
	// call chain. fn's context expires after 30 seconds; if fn returns an
	// error, or returns after its context expired, the object is reset (its
	// instance is dropped, the turn's writes roll back) and the error is
	// returned. Go cannot stop a running function, so fn should watch ctx.
	BlockConcurrencyWhile(ctx context.Context, fn func(ctx context.Context) error) error
	// WaitUntil runs fn on its own goroutine and keeps the object in memory
	// until fn returns or 15 minutes pass (then fn's context is canceled).
	// fn must not use Storage: to act on the object it calls the object's
	// own stub, like any other caller. Shutdown cancels fn's context and
	// waits for it.
	WaitUntil(fn func(ctx context.Context))
	// Abort resets the object at once: the running turn stops (Abort does
	// not return), its writes roll back, callers get the error, and the next
	// event constructs a new instance. reason may be "".
	Abort(reason string)

	// WebSockets (see websocket.go and docs/WEBSOCKETS.md).

	// AcceptWebSocket accepts the WebSocket that r (received by the object's
	// ServeHTTP with w) asks for, with the hibernation API: it writes the
	// 101 response into w and returns the socket, whose events then go to
	// the object's WebSocketMessage, WebSocketClose and WebSocketError
	// methods, even after the object was evicted. At most
	// MaxWebSocketTags distinct tags of MaxWebSocketTagLength characters,
	// and MaxWebSocketsPerObject sockets per object. The 101 response is an
	// output: it reaches the client when the turn's writes are durable.
	AcceptWebSocket(w http.ResponseWriter, r *http.Request, tags ...string) (WebSocket, error)
	// AcceptStandardWebSocket accepts a WebSocket without hibernation: its
	// events go to h, as turns of this instance, and the object stays in
	// memory while it is open. It is not listed by GetWebSockets.
	AcceptStandardWebSocket(w http.ResponseWriter, r *http.Request, h WebSocketHandler) (WebSocket, error)
	// GetWebSockets returns the object's hibernatable sockets that are not
	// disconnected (some may be Closing), only those with tag if tag is not
	// "", in no particular order.
	GetWebSockets(tag string) []WebSocket
	// GetTags returns the tags ws was accepted with; an error if ws is not
	// a hibernatable socket of this object.
	GetTags(ws WebSocket) ([]string, error)
	// SetWebSocketAutoResponse sets the object's automatic response (nil
	// clears it): a text message equal to pair.Request is answered with
	// pair.Response by the runtime, without waking the object. It survives
	// hibernation.
	SetWebSocketAutoResponse(pair *WebSocketRequestResponsePair)
	// GetWebSocketAutoResponse returns the automatic response, or nil.
	GetWebSocketAutoResponse() *WebSocketRequestResponsePair
	// GetWebSocketAutoResponseTimestamp returns when ws last got an
	// automatic response; false if never.
	GetWebSocketAutoResponseTimestamp(ws WebSocket) (time.Time, bool)
	// SetHibernatableWebSocketEventTimeout bounds each WebSocket event
	// handler's run time (its ctx expires; a handler still running then
	// fails the event); 0 removes the bound. At most
	// MaxWebSocketEventTimeout.
	SetHibernatableWebSocketEventTimeout(d time.Duration) error
	// GetHibernatableWebSocketEventTimeout returns the event timeout; false
	// when none is set.
	GetHibernatableWebSocketEventTimeout() (time.Duration, bool)
}

// Event handler names that cannot be called over RPC: the Go names of the
// handlers the runtime calls, and the names Cloudflare reserves.
var reservedMethods = map[string]bool{
	"ServeHTTP": true, "Fetch": true, "Connect": true, "Alarm": true,
	"WebSocketMessage": true, "WebSocketClose": true, "WebSocketError": true,
	"Dup": true, "Constructor": true, "Close": true,
	"fetch": true, "connect": true, "alarm": true, "webSocketMessage": true,
	"webSocketClose": true, "webSocketError": true, "dup": true, "constructor": true,
}

// IsReservedMethod reports whether name is an event handler that cannot be
// called over RPC.
func IsReservedMethod(name string) bool { return reservedMethods[name] }

// Timeouts of the execution model, as Cloudflare sets them.
const (
	BlockConcurrencyTimeout = 30 * time.Second
	WaitUntilTimeout        = 15 * time.Minute
	MaxBlockDepth           = 64
)

// A compile-time reminder that http.Handler is the fetch handler.
var _ http.Handler = http.HandlerFunc(nil)
