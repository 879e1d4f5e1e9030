package den

import (
	"net/http"
	"time"
)

// WebSocketHub keeps the node's accepted WebSockets on behalf of their
// objects (package hub implements it). Sockets belong to the hub, not to a
// live instance, so they outlive eviction: their tags, attachments, the
// object's auto-response and event timeout stay in the hub while the object
// is out of memory, and their events construct it again.
//
// The actor calls it from objects' goroutines; its methods are safe for
// concurrent use and never block on the network.
type WebSocketHub interface {
	// Accept registers a socket for the object from the upgrade request r.
	// The socket is Connecting until the 101 response carrying it is
	// connected (see HubSocket.Upgrade). With
	// hibernatable false it is a standard socket: not listed, not counted
	// against MaxWebSocketsPerObject.
	Accept(ns *Namespace, id ID, r *http.Request, tags []string, hibernatable bool) (HubSocket, error)
	// Sockets returns the object's hibernatable sockets that are not yet
	// disconnected, those with tag when tag is not "".
	Sockets(ns *Namespace, id ID, tag string) []HubSocket
	// SetAutoResponse sets or (nil) clears the object's auto-response.
	SetAutoResponse(ns *Namespace, id ID, pair *WebSocketRequestResponsePair)
	// AutoResponse returns the object's auto-response, or nil.
	AutoResponse(ns *Namespace, id ID) *WebSocketRequestResponsePair
	// SetEventTimeout sets the object's event timeout; 0 unsets it.
	SetEventTimeout(ns *Namespace, id ID, d time.Duration)
	// EventTimeout returns the object's event timeout, or 0.
	EventTimeout(ns *Namespace, id ID) time.Duration
	// Live tells the hub whether the object is in memory: the hub forgets
	// an object's settings once it has no socket and is not live.
	Live(ns *Namespace, id ID, live bool)
	// Reset disconnects every socket of the object, as a reset does on
	// Cloudflare, and forgets its settings. No events are delivered for
	// them.
	Reset(ns *Namespace, id ID)
}

// HubSocket is one socket in a WebSocketHub. Its methods are safe for
// concurrent use. Send and Close act at once: the actor calls them when the
// output gate opens.
type HubSocket interface {
	// Upgrade returns the body of the 101 response that connects the
	// socket to its client.
	Upgrade() WebSocketUpgrade
	// Tags returns the socket's tags; the caller must not change them.
	Tags() []string
	// Hibernatable reports whether the socket was accepted with the
	// hibernation API.
	Hibernatable() bool
	// Attachment returns the serialized attachment, or nil.
	Attachment() []byte
	// SetAttachment replaces the serialized attachment (nil removes it).
	SetAttachment(b []byte)
	// AutoResponseTimestamp returns when the socket last got an automatic
	// response.
	AutoResponseTimestamp() (time.Time, bool)
	// ReadyState returns the socket's state.
	ReadyState() ReadyState
	// Send queues a message to the peer; the hub owns data afterwards.
	Send(typ MessageType, data []byte)
	// Close sends a Close frame and ends the connection once the peer
	// answers or a timeout passes.
	Close(code int, reason string)
	// Discard drops a socket whose 101 response will never be sent (the
	// turn that accepted it failed), without an event.
	Discard()
}

// WebSocketEventKind says what a WebSocketEvent is.
type WebSocketEventKind uint8

// Kinds of WebSocket events.
const (
	WebSocketMessageEvent WebSocketEventKind = iota + 1
	WebSocketCloseEvent
	WebSocketErrorEvent
)

// WebSocketEvent is one event of a socket for its object's handlers.
type WebSocketEvent struct {
	Socket HubSocket
	Kind   WebSocketEventKind
	// a message
	Type MessageType
	Data []byte
	// a close
	Code     int
	Reason   string
	WasClean bool
	// an error
	Err error
}

// WebSocketDeliverer runs socket events as turns of their objects
// (actor.Host implements it).
type WebSocketDeliverer interface {
	// DeliverWebSocket queues ev for the object, constructing it if needed,
	// and returns without waiting. If ev was queued, done is called once
	// with the turn's result after its outputs were released; it must not
	// block. If it was not, DeliverWebSocket returns the error (EOVERLOADED:
	// try again later; EUNAVAILABLE: the host is shutting down) and done is
	// never called.
	DeliverWebSocket(ns *Namespace, id ID, ev WebSocketEvent, done func(error)) error
}
