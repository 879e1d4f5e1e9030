package den

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// WebSocket limits and codes, as Cloudflare sets them.
const (
	MaxWebSocketTags         = 10       // distinct tags on one hibernatable socket
	MaxWebSocketTagLength    = 256      // characters in one tag
	MaxWebSocketsPerObject   = 32768    // hibernatable sockets accepted by one object
	MaxWebSocketMessage      = 32 << 20 // bytes in one incoming message (after reassembly)
	MaxWebSocketAttachment   = 16384    // bytes of one socket's serialized attachment
	MaxAutoResponseBytes     = 2048     // bytes in an auto-response request or response
	MaxCloseReasonBytes      = 123      // bytes of UTF-8 in a close reason
	MaxWebSocketEventTimeout = 7 * 24 * time.Hour

	CloseNormal         = 1000 // the purpose was fulfilled
	CloseGoingAway      = 1001 // the server is shutting down
	CloseProtocolError  = 1002 // the peer broke the protocol
	CloseUnsupported    = 1003 // a kind of data the endpoint cannot take
	CloseNoStatus       = 1005 // the peer's Close frame had no code (never sent)
	CloseAbnormal       = 1006 // the connection dropped without a Close frame (never sent)
	CloseInvalidPayload = 1007 // text that is not UTF-8
	ClosePolicy         = 1008 // a policy was violated (a send queue overflowed)
	CloseTooLarge       = 1009 // a message over MaxWebSocketMessage
	CloseInternal       = 1011 // the server failed (the object was reset)
)

// Messages of WebSocket errors, as Cloudflare words them.
const (
	MsgWebSocketDisconnected = "WebSocket disconnected without sending Close frame."
	MsgWebSocketSendClosed   = "Can't call WebSocket send() after close()."
	MsgWebSocketTooMany      = "only 32768 websockets can be accepted on a single Durable Object instance"
	MsgWebSocketTooManyTags  = "a Hibernatable WebSocket cannot have more than 10 tags"
	MsgEventTimeoutTooLong   = "Event timeout should not exceed 604800000 ms."
	MsgCloseReasonTooLong    = "The close reason must not be greater than 123 UTF-8 bytes."
)

// MessageType says whether a WebSocket message is text (a JavaScript
// string) or binary (an ArrayBuffer). The two are kept distinct end to end.
type MessageType uint8

// Message types.
const (
	TextMessage   MessageType = 1
	BinaryMessage MessageType = 2
)

func (t MessageType) String() string {
	switch t {
	case TextMessage:
		return "text"
	case BinaryMessage:
		return "binary"
	}
	return fmt.Sprintf("MessageType(%d)", uint8(t))
}

// ReadyState is a WebSocket's state, numbered as in JavaScript.
type ReadyState uint8

// Ready states.
const (
	Connecting ReadyState = 0 // accepted; the 101 response has not reached the client yet
	Open       ReadyState = 1
	Closing    ReadyState = 2 // a Close frame was sent, the peer's is awaited
	Closed     ReadyState = 3
)

// WebSocket is an accepted WebSocket as its object sees it. Its methods may
// be called only from the object's own turns.
//
// Send and Close are outputs: like a reply, they leave once the writes the
// turn made before them are durable (the output gate), in the order the
// object's turns ran, and they are dropped if the turn fails. Two WebSocket
// values are equal (==) when they are the same socket, within one instance.
type WebSocket interface {
	// Send queues one message. It fails with MsgWebSocketSendClosed after
	// the object closed the socket; a send to a socket the peer already
	// left is dropped.
	Send(typ MessageType, data []byte) error
	// SendText queues one text message.
	SendText(s string) error
	// Close sends a Close frame with code (1000 or 3000–4999) and reason (at
	// most 123 bytes of UTF-8). The connection ends when the peer answers or
	// after a few seconds.
	Close(code int, reason string) error
	// SerializeAttachment stores v as JSON with the socket, at most
	// MaxWebSocketAttachment bytes. It survives hibernation and is lost when
	// the socket closes; nil removes it.
	SerializeAttachment(v any) error
	// DeserializeAttachment decodes the attachment into v; false when none
	// is set.
	DeserializeAttachment(v any) (bool, error)
	// ReadyState returns the socket's state.
	ReadyState() ReadyState
}

// The handler methods an object implements to receive the events of its
// hibernatable WebSockets. Each event is a turn, like an HTTP request: the
// object is constructed again if it was evicted (hibernated), the handler's
// writes commit when it returns, and an error rolls them back and drops the
// turn's sends. An object without the method ignores the event.
type (
	// WebSocketMessageHandler receives a text or binary message. Control
	// frames never reach it: pings are answered by the runtime.
	WebSocketMessageHandler interface {
		WebSocketMessage(ctx context.Context, ws WebSocket, typ MessageType, data []byte) error
	}
	// WebSocketCloseHandler receives the end of a socket: the peer's Close
	// frame (wasClean true; the runtime has already answered it) or a lost
	// connection (1006, MsgWebSocketDisconnected, false). The socket has left
	// GetWebSockets by then.
	WebSocketCloseHandler interface {
		WebSocketClose(ctx context.Context, ws WebSocket, code int, reason string, wasClean bool) error
	}
	// WebSocketErrorHandler receives an error that is not a disconnection:
	// a protocol error, an oversized message (1009), a send queue that
	// overflowed (1008). The runtime has closed the socket.
	WebSocketErrorHandler interface {
		WebSocketError(ctx context.Context, ws WebSocket, err error) error
	}
)

// WebSocketHandler receives every event of a standard WebSocket (see
// State.AcceptStandardWebSocket), as JavaScript's addEventListener does.
type WebSocketHandler interface {
	WebSocketMessageHandler
	WebSocketCloseHandler
	WebSocketErrorHandler
}

// WebSocketHandlerFuncs is a WebSocketHandler made of functions; a nil one
// ignores its event.
type WebSocketHandlerFuncs struct {
	Message func(ctx context.Context, ws WebSocket, typ MessageType, data []byte) error
	Close   func(ctx context.Context, ws WebSocket, code int, reason string, wasClean bool) error
	Error   func(ctx context.Context, ws WebSocket, err error) error
}

// WebSocketMessage calls f.Message.
func (f WebSocketHandlerFuncs) WebSocketMessage(ctx context.Context, ws WebSocket, typ MessageType, data []byte) error {
	if f.Message == nil {
		return nil
	}
	return f.Message(ctx, ws, typ, data)
}

// WebSocketClose calls f.Close.
func (f WebSocketHandlerFuncs) WebSocketClose(ctx context.Context, ws WebSocket, code int, reason string, wasClean bool) error {
	if f.Close == nil {
		return nil
	}
	return f.Close(ctx, ws, code, reason, wasClean)
}

// WebSocketError calls f.Error.
func (f WebSocketHandlerFuncs) WebSocketError(ctx context.Context, ws WebSocket, err error) error {
	if f.Error == nil {
		return nil
	}
	return f.Error(ctx, ws, err)
}

// WebSocketRequestResponsePair is an automatic response: a text message
// equal to Request is answered with Response by the runtime, without
// constructing or waking the object.
type WebSocketRequestResponsePair struct {
	Request  string
	Response string
}

// NewWebSocketRequestResponsePair checks that request and response are each
// at most MaxAutoResponseBytes bytes and returns the pair.
func NewWebSocketRequestResponsePair(request, response string) (*WebSocketRequestResponsePair, error) {
	if n := len(request); n > MaxAutoResponseBytes {
		return nil, Errorf(ELIMIT, "Request cannot be larger than %d bytes. A request of size %d was provided.", MaxAutoResponseBytes, n)
	}
	if n := len(response); n > MaxAutoResponseBytes {
		return nil, Errorf(ELIMIT, "Response cannot be larger than %d bytes. A response of size %d was provided.", MaxAutoResponseBytes, n)
	}
	return &WebSocketRequestResponsePair{Request: request, Response: response}, nil
}

// CheckWebSocketTags returns tags without duplicates, or an error if there
// are more than MaxWebSocketTags or one is longer than MaxWebSocketTagLength.
func CheckWebSocketTags(tags []string) ([]string, error) {
	var out []string
	for _, t := range tags {
		if utf8.RuneCountInString(t) > MaxWebSocketTagLength {
			return nil, Errorf(ELIMIT, "%q is longer than the max tag length (%d characters).", t, MaxWebSocketTagLength)
		}
		if !containsString(out, t) {
			out = append(out, t)
		}
	}
	if len(out) > MaxWebSocketTags {
		return nil, Errorf(ELIMIT, "%s", MsgWebSocketTooManyTags)
	}
	return out, nil
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// CheckClose checks a close code and reason given by an object.
func CheckClose(code int, reason string) error {
	if code != CloseNormal && (code < 3000 || code > 4999) {
		return Errorf(EINVALID, "The close code must be either 1000, or between 3000 and 4999. %d is neither.", code)
	}
	if len(reason) > MaxCloseReasonBytes {
		return Errorf(EINVALID, "%s", MsgCloseReasonTooLong)
	}
	if !utf8.ValidString(reason) {
		return Errorf(EINVALID, "The close reason must be valid UTF-8.")
	}
	return nil
}

// EncodeAttachment serializes an attachment as JSON and checks its size; nil
// encodes to nil (no attachment).
func EncodeAttachment(v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, Errorf(EINVALID, "serialize WebSocket attachment: %w", err)
	}
	if len(b) > MaxWebSocketAttachment {
		return nil, Errorf(ELIMIT, "A WebSocket 'attachment' cannot be larger than %d bytes.'attachment' was %d bytes.", MaxWebSocketAttachment, len(b))
	}
	return b, nil
}

// CheckEventTimeout checks a hibernatable WebSocket event timeout.
func CheckEventTimeout(d time.Duration) error {
	if d < 0 {
		return Errorf(EINVALID, "Event timeout must not be negative.")
	}
	if d > MaxWebSocketEventTimeout {
		return Errorf(ELIMIT, "%s", MsgEventTimeoutTooLong)
	}
	return nil
}

// CheckWebSocketRequest reports whether r asks to open a WebSocket (GET,
// HTTP/1.1, Upgrade: websocket, Connection: upgrade, a 16-byte
// Sec-WebSocket-Key, version 13), with an EINVALID error that says what is
// missing. Only HTTP/1.1 upgrades are supported.
func CheckWebSocketRequest(r *http.Request) error {
	switch {
	case r.Method != http.MethodGet:
		return Errorf(EINVALID, "a WebSocket upgrade must be a GET request, not %s", r.Method)
	case !headerHasToken(r.Header, "Upgrade", "websocket"):
		return Errorf(EINVALID, "not a WebSocket upgrade: the request has no \"Upgrade: websocket\" header")
	case !headerHasToken(r.Header, "Connection", "upgrade"):
		return Errorf(EINVALID, "not a WebSocket upgrade: the request has no \"Connection: Upgrade\" header")
	case len(r.Header.Get("Sec-WebSocket-Key")) != 24:
		return Errorf(EINVALID, "WebSocket upgrade without a valid Sec-WebSocket-Key header")
	case r.Header.Get("Sec-WebSocket-Version") != "13":
		return Errorf(EINVALID, "WebSocket upgrade with Sec-WebSocket-Version %q: only 13 is supported", r.Header.Get("Sec-WebSocket-Version"))
	}
	return nil
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// WebSocketUpgrade is the body of the 101 response with which an object
// accepted a WebSocket. Whoever writes that response to the client calls
// Connect instead of copying it: [Stub.ServeHTTP] does. Closing the body
// without connecting abandons the socket: its object gets a close event.
type WebSocketUpgrade interface {
	io.ReadCloser
	// Connect completes the handshake on w's connection (it hijacks it),
	// adding header to the 101 response, and hands the connection to the
	// runtime. r is the client's request.
	Connect(w http.ResponseWriter, r *http.Request, header http.Header) error
}
