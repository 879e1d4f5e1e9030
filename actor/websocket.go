package actor

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/den-run/den"
)

// The WebSocket side of an object. The sockets themselves live in the
// node's den.WebSocketHub (package hub), so they outlive the instance; the
// actor keeps only what belongs to one instance, owned by run:
//
//   - handles: the den.WebSocket values its code holds, one per socket, so
//     that == compares sockets;
//   - standard: the handlers of its standard (non-hibernatable) sockets,
//     each of which keeps the object in memory (keepalive);
//   - outbox: sends and closes of the running turn, released through the
//     output gate with the turn's reply (see release);
//   - accepted: sockets accepted by the running turn, dropped if it fails.
type wsInstance struct {
	handles  map[den.HubSocket]*webSocket
	standard map[den.HubSocket]den.WebSocketHandler
	outbox   []wsOutput
	accepted []den.HubSocket
	lastText string // SendText's last string and its bytes: a broadcast
	lastData []byte // converts the message once
}

// wsOutput is one send or close waiting for the output gate.
type wsOutput struct {
	s      den.HubSocket
	typ    den.MessageType
	data   []byte
	close  bool
	code   int
	reason string
}

// wsMark is where a turn's outputs begin, to drop them if it fails.
type wsMark struct{ outbox, accepted int }

func (a *actor) wsMark() wsMark {
	return wsMark{outbox: len(a.ws.outbox), accepted: len(a.ws.accepted)}
}

// wsRollback drops the outputs of a failed turn and the sockets it
// accepted (their 101 responses will never be sent).
func (a *actor) wsRollback(m wsMark) {
	if m.outbox <= len(a.ws.outbox) {
		clear(a.ws.outbox[m.outbox:])
		a.ws.outbox = a.ws.outbox[:m.outbox]
	}
	if m.accepted <= len(a.ws.accepted) {
		for _, s := range a.ws.accepted[m.accepted:] {
			s.Discard()
			delete(a.ws.handles, s)
			if _, ok := a.ws.standard[s]; ok {
				delete(a.ws.standard, s)
				a.keepalive.Add(-1)
			}
		}
		a.ws.accepted = a.ws.accepted[:m.accepted]
	}
}

// wsCommit forgets the sockets a successful turn accepted: they stay.
func (a *actor) wsCommit(m wsMark) {
	if m.accepted <= len(a.ws.accepted) {
		clear(a.ws.accepted[m.accepted:])
		a.ws.accepted = a.ws.accepted[:m.accepted]
	}
}

// withOutbox returns send extended to release the outputs queued so far
// once the gate opens; a failed barrier drops them (the object is reset,
// which disconnects its sockets).
func (a *actor) withOutbox(send func(error)) func(error) {
	out := a.ws.outbox
	if len(out) == 0 {
		return send
	}
	a.ws.outbox = nil
	return func(err error) {
		if err == nil {
			for _, o := range out {
				if o.close {
					o.s.Close(o.code, o.reason)
				} else {
					o.s.Send(o.typ, o.data)
				}
			}
		}
		send(err)
	}
}

// wsLive tells the hub whether the object is in memory.
func (a *actor) wsLive(live bool) {
	if a.h.cfg.Hub != nil {
		a.h.cfg.Hub.Live(a.ns, a.id, live)
	}
}

// wsDrop forgets the instance's sockets when it leaves memory or is reset.
func (a *actor) wsDrop() {
	a.keepalive.Add(-int32(len(a.ws.standard)))
	a.ws = wsInstance{}
}

// wsReset disconnects every socket of the object, as a reset does.
func (a *actor) wsReset() {
	if a.h.cfg.Hub != nil {
		a.h.cfg.Hub.Reset(a.ns, a.id)
	}
	a.wsDrop()
}

func (a *actor) hub() (den.WebSocketHub, error) {
	if a.h.cfg.Hub == nil {
		return nil, den.Errorf(den.EUNAVAILABLE, "this host has no WebSocket hub: set actor.Config.Hub (serve does)")
	}
	return a.h.cfg.Hub, nil
}

// wsHandle returns the instance's den.WebSocket for s.
func (a *actor) wsHandle(s den.HubSocket) *webSocket {
	if w := a.ws.handles[s]; w != nil {
		return w
	}
	if a.ws.handles == nil {
		a.ws.handles = map[den.HubSocket]*webSocket{}
	}
	w := &webSocket{a: a, s: s}
	a.ws.handles[s] = w
	return w
}

func (s *state) accept(w http.ResponseWriter, r *http.Request, tags []string, h den.WebSocketHandler) (den.WebSocket, error) {
	a := s.a
	if s.dead {
		return nil, errDead
	}
	rec, ok := w.(*recorder)
	if !ok {
		return nil, den.Errorf(den.EINVALID, "AcceptWebSocket needs the http.ResponseWriter that the object's ServeHTTP received")
	}
	if rec.upgrade != nil || rec.status != 0 {
		return nil, den.Errorf(den.EINVALID, "AcceptWebSocket: this response was already written")
	}
	if err := den.CheckWebSocketRequest(r); err != nil {
		return nil, err
	}
	tags, err := den.CheckWebSocketTags(tags)
	if err != nil {
		return nil, err
	}
	hub, err := a.hub()
	if err != nil {
		return nil, err
	}
	sock, err := hub.Accept(a.ns, a.id, r, tags, h == nil)
	if err != nil {
		return nil, err
	}
	a.ws.accepted = append(a.ws.accepted, sock)
	if h != nil {
		if a.ws.standard == nil {
			a.ws.standard = map[den.HubSocket]den.WebSocketHandler{}
		}
		a.ws.standard[sock] = h
		a.keepalive.Add(1) // a standard socket keeps its object in memory
	}
	rec.upgrade = sock.Upgrade()
	rec.WriteHeader(http.StatusSwitchingProtocols)
	return a.wsHandle(sock), nil
}

func (s *state) AcceptWebSocket(w http.ResponseWriter, r *http.Request, tags ...string) (den.WebSocket, error) {
	return s.accept(w, r, tags, nil)
}

func (s *state) AcceptStandardWebSocket(w http.ResponseWriter, r *http.Request, h den.WebSocketHandler) (den.WebSocket, error) {
	if h == nil {
		return nil, den.Errorf(den.EINVALID, "AcceptStandardWebSocket needs a handler for the socket's events")
	}
	return s.accept(w, r, nil, h)
}

func (s *state) GetWebSockets(tag string) []den.WebSocket {
	hub, err := s.a.hub()
	if err != nil || s.dead {
		return nil
	}
	socks := hub.Sockets(s.a.ns, s.a.id, tag)
	out := make([]den.WebSocket, len(socks))
	for i, sock := range socks {
		out[i] = s.a.wsHandle(sock)
	}
	return out
}

// own returns ws's hub socket if it is a socket of this object.
func (s *state) own(ws den.WebSocket) (den.HubSocket, error) {
	w, ok := ws.(*webSocket)
	if !ok || w.a != s.a {
		return nil, den.Errorf(den.EINVALID, "this WebSocket was not accepted by this Durable Object")
	}
	return w.s, nil
}

func (s *state) GetTags(ws den.WebSocket) ([]string, error) {
	sock, err := s.own(ws)
	if err != nil {
		return nil, err
	}
	if !sock.Hibernatable() {
		return nil, den.Errorf(den.EINVALID, "getTags() only works on hibernatable WebSockets (accepted with AcceptWebSocket)")
	}
	return append([]string(nil), sock.Tags()...), nil
}

func (s *state) SetWebSocketAutoResponse(pair *den.WebSocketRequestResponsePair) {
	if hub, err := s.a.hub(); err == nil && !s.dead {
		hub.SetAutoResponse(s.a.ns, s.a.id, pair)
	}
}

func (s *state) GetWebSocketAutoResponse() *den.WebSocketRequestResponsePair {
	if hub, err := s.a.hub(); err == nil {
		return hub.AutoResponse(s.a.ns, s.a.id)
	}
	return nil
}

func (s *state) GetWebSocketAutoResponseTimestamp(ws den.WebSocket) (time.Time, bool) {
	sock, err := s.own(ws)
	if err != nil {
		return time.Time{}, false
	}
	return sock.AutoResponseTimestamp()
}

func (s *state) SetHibernatableWebSocketEventTimeout(d time.Duration) error {
	if err := den.CheckEventTimeout(d); err != nil {
		return err
	}
	hub, err := s.a.hub()
	if err != nil {
		return err
	}
	hub.SetEventTimeout(s.a.ns, s.a.id, d)
	return nil
}

func (s *state) GetHibernatableWebSocketEventTimeout() (time.Duration, bool) {
	if hub, err := s.a.hub(); err == nil {
		d := hub.EventTimeout(s.a.ns, s.a.id)
		return d, d > 0
	}
	return 0, false
}

// webSocket is den.WebSocket: a socket as one instance sees it.
type webSocket struct {
	a      *actor
	s      den.HubSocket
	closed bool // the object called Close
}

func (w *webSocket) Send(typ den.MessageType, data []byte) error {
	switch {
	case typ != den.TextMessage && typ != den.BinaryMessage:
		return den.Errorf(den.EINVALID, "WebSocket Send: unknown message type %d: use den.TextMessage or den.BinaryMessage", typ)
	case typ == den.TextMessage && !utf8.Valid(data):
		return den.Errorf(den.EINVALID, "WebSocket Send: a text message must be valid UTF-8; send bytes as den.BinaryMessage")
	case len(data) > den.MaxWebSocketMessage:
		return den.Errorf(den.ELIMIT, "WebSocket Send: a message is limited to %d bytes, this one has %d", den.MaxWebSocketMessage, len(data))
	}
	return w.queue(typ, append([]byte(nil), data...))
}

func (w *webSocket) SendText(s string) error {
	ws := &w.a.ws
	if ws.lastData == nil || s != ws.lastText {
		if len(s) > den.MaxWebSocketMessage {
			return den.Errorf(den.ELIMIT, "WebSocket Send: a message is limited to %d bytes, this one has %d", den.MaxWebSocketMessage, len(s))
		}
		if !utf8.ValidString(s) {
			return den.Errorf(den.EINVALID, "WebSocket SendText: the text is not valid UTF-8; send bytes as den.BinaryMessage")
		}
		ws.lastText, ws.lastData = s, []byte(s)
	}
	return w.queue(den.TextMessage, ws.lastData) // shared: the hub never changes a payload
}

func (w *webSocket) queue(typ den.MessageType, data []byte) error {
	if w.closed {
		return den.Errorf(den.EINVALID, "%s", den.MsgWebSocketSendClosed)
	}
	if w.a.st == nil || w.a.st.dead {
		return errDead
	}
	w.a.ws.outbox = append(w.a.ws.outbox, wsOutput{s: w.s, typ: typ, data: data})
	return nil
}

func (w *webSocket) Close(code int, reason string) error {
	if err := den.CheckClose(code, reason); err != nil {
		return err
	}
	if w.closed {
		return nil
	}
	if w.a.st == nil || w.a.st.dead {
		return errDead
	}
	w.closed = true
	w.a.ws.outbox = append(w.a.ws.outbox, wsOutput{s: w.s, close: true, code: code, reason: reason})
	return nil
}

func (w *webSocket) SerializeAttachment(v any) error {
	b, err := den.EncodeAttachment(v)
	if err != nil {
		return err
	}
	w.s.SetAttachment(b)
	return nil
}

func (w *webSocket) DeserializeAttachment(v any) (bool, error) {
	b := w.s.Attachment()
	if b == nil {
		return false, nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, den.Errorf(den.EINVALID, "deserialize WebSocket attachment into %T: %w", v, err)
	}
	return true, nil
}

func (w *webSocket) ReadyState() den.ReadyState {
	if w.closed {
		if st := w.s.ReadyState(); st != den.Closed {
			return den.Closing
		}
	}
	return w.s.ReadyState()
}

// DeliverWebSocket runs a socket's event as a turn of its object,
// constructing it if it was evicted; see den.WebSocketDeliverer.
func (h *Host) DeliverWebSocket(ns *den.Namespace, id den.ID, wev den.WebSocketEvent, done func(error)) error {
	class := h.classes[ns.Class()]
	if class == nil {
		return den.Errorf(den.ENOTFOUND, "no class %q is registered on this host", ns.Class())
	}
	ev := &event{ctx: h.ctx, id: id, done: done, kind: den.EventWebSocket}
	ev.run = func(ctx context.Context, obj any, st den.State) ([]byte, error) {
		s := st.(*state)
		return nil, s.a.runWebSocket(ctx, obj, wev)
	}
	return h.enqueue(key{class: class.Name, id: id.Bytes()}, ns, class, ev)
}

var errEventTimeout = errors.New("WebSocket event timeout")

// runWebSocket calls the handler for a socket event.
func (a *actor) runWebSocket(ctx context.Context, obj any, ev den.WebSocketEvent) error {
	ws := a.wsHandle(ev.Socket)
	target := obj
	if !ev.Socket.Hibernatable() {
		h, ok := a.ws.standard[ev.Socket]
		if !ok {
			return nil // accepted by an instance that is gone
		}
		target = h
	} else if d := a.h.cfg.Hub.EventTimeout(a.ns, a.id); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, d, errEventTimeout)
		defer cancel()
	}
	var err error
	switch ev.Kind {
	case den.WebSocketMessageEvent:
		if m, ok := target.(den.WebSocketMessageHandler); ok {
			err = m.WebSocketMessage(ctx, ws, ev.Type, ev.Data)
		}
	case den.WebSocketCloseEvent:
		a.wsEnded(ev.Socket)
		if c, ok := target.(den.WebSocketCloseHandler); ok {
			err = c.WebSocketClose(ctx, ws, ev.Code, ev.Reason, ev.WasClean)
		}
	case den.WebSocketErrorEvent:
		a.wsEnded(ev.Socket)
		if e, ok := target.(den.WebSocketErrorHandler); ok {
			err = e.WebSocketError(ctx, ws, ev.Err)
		}
	}
	if context.Cause(ctx) == errEventTimeout {
		err = den.Errorf(den.ETIMEOUT, "The WebSocket event handler ran past the object's event timeout (SetHibernatableWebSocketEventTimeout), so its event failed.")
	}
	if err != nil {
		a.h.log.Warn("websocket handler failed", "class", a.key.class, "id", a.id.String(), "event", int(ev.Kind), "err", err)
	}
	return err
}

// wsEnded forgets a socket whose last event is being delivered.
func (a *actor) wsEnded(s den.HubSocket) {
	if _, ok := a.ws.standard[s]; ok {
		delete(a.ws.standard, s)
		a.keepalive.Add(-1)
	}
	delete(a.ws.handles, s)
}

var _ den.WebSocketDeliverer = (*Host)(nil)
