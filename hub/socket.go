package hub

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
	"unsafe"

	"github.com/den-run/den"
	"github.com/den-run/den/internal/rawconn"
	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

// state is where a socket is in its life.
type state uint8

const (
	pending    state = iota // accepted; its 101 response is not connected yet
	connecting              // Connect is doing the handshake
	open                    // connected (it may be closing: see closeSent)
	closed                  // the connection is closed (or never was)
)

// socket is one accepted WebSocket. It implements den.HubSocket.
//
// An idle socket is this struct and a file descriptor in the epoll set:
// its buffers (out, rd, evq) are nil until there is something in them.
type socket struct {
	h    *Hub
	g    *group
	id   uint64
	tags []string
	hib  bool
	gidx int // index in g.sockets; guarded by h.mu

	opened time.Time // when the object accepted it
	remote string    // the peer's address

	mu              sync.Mutex // protects following fields
	state           state
	fd              int
	ended           bool // the object got, or will get, its last event
	removed         bool // taken out of its group
	closeSent       bool // a Close frame is queued or sent
	closeAfterFlush bool // cut the connection once out is written
	stopRead        bool // the peer's Close arrived or the protocol broke
	byObject        bool // the object called Close: Send fails
	inflight        bool // an event is with the object (or waits to retry)
	wantOut         bool // out is stuck until the socket is writable
	queued          bool // in the writers' queue
	armed           uint32
	attachment      []byte
	autoTS          int64 // unix nanoseconds of the last auto-response, 0 if none
	out             []outFrame
	off             int // bytes of out[0] already written
	outBytes        int
	evq             []den.WebSocketEvent
	rd              *reader // a partial frame or fragmented message, else nil
}

// outFrame is one frame waiting to be written: the header and the payload
// go out together with writev, the payload never copied. A frame built
// whole (see encoder) has no header of its own: data is all of it.
type outFrame struct {
	hdr  [10]byte
	hlen uint8
	data []byte
}

func (f *outFrame) size() int { return int(f.hlen) + len(f.data) }

// reader is the input a socket holds between reads: the bytes of a frame
// not yet complete, and a fragmented message being assembled.
type reader struct {
	in  []byte
	asm assembler
}

func (s *socket) Upgrade() den.WebSocketUpgrade { return upgrade{s} }
func (s *socket) Tags() []string                { return s.tags }
func (s *socket) Hibernatable() bool            { return s.hib }

func (s *socket) Attachment() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attachment
}

func (s *socket) SetAttachment(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attachment = b
}

func (s *socket) AutoResponseTimestamp() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.autoTS == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, s.autoTS), true
}

func (s *socket) ReadyState() den.ReadyState {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.ended || s.state == closed:
		return den.Closed
	case s.state == pending || s.state == connecting:
		return den.Connecting
	case s.closeSent:
		return den.Closing
	}
	return den.Open
}

func (s *socket) Send(typ den.MessageType, data []byte) {
	op := ws.OpBinary
	if typ == den.TextMessage {
		op = ws.OpText
	}
	f := s.h.enc.frame(op, data)
	s.mu.Lock()
	if s.state == closed || s.closeSent {
		s.mu.Unlock()
		return // the peer is gone or leaving: dropped
	}
	s.out = append(s.out, f)
	s.outBytes += f.size()
	if s.outBytes > s.h.cfg.MaxSendQueue && len(s.out) > 1 {
		s.overflowLocked()
		s.mu.Unlock()
		s.settle()
		return
	}
	s.kickLocked() // nothing else changed: no event, so nothing to settle
	s.mu.Unlock()
}

func (s *socket) Close(code int, reason string) {
	s.mu.Lock()
	s.byObject = true
	if s.state != closed && !s.closeSent {
		s.sendCloseLocked(code, reason)
		s.h.timers.add(s.h, s, timerClose)
		s.kickLocked()
	}
	s.mu.Unlock()
}

func (s *socket) Discard() {
	s.mu.Lock()
	if s.state == pending {
		s.state = closed
		s.ended = true
	}
	s.mu.Unlock()
	s.removeIfEnded()
}

// queueLocked appends a frame to the output.
func (s *socket) queueLocked(op ws.OpCode, data []byte) {
	f := outFrame{data: data}
	f.hlen = uint8(header(&f.hdr, op, len(data)))
	s.out = append(s.out, f)
	s.outBytes += f.size()
}

func (s *socket) sendCloseLocked(code int, reason string) {
	s.queueLocked(ws.OpClose, closePayload(code, reason))
	s.closeSent = true
}

// kickLocked hands the socket to a writer if it has output and a
// connection, unless it already waits for one or for writability.
func (s *socket) kickLocked() {
	if len(s.out) == 0 || s.fd < 0 || s.queued || s.wantOut {
		if len(s.out) == 0 && s.closeAfterFlush {
			s.shutdownLocked()
		}
		return
	}
	s.queued = true
	s.h.enqueueWriter(s)
}

// overflowLocked closes a socket whose reader cannot keep up: the output
// is dropped (but for a frame partly written), a Close frame with 1008
// follows, and the object gets an error event.
func (s *socket) overflowLocked() {
	keep := 0
	if s.off > 0 {
		keep = 1
	}
	for i := keep; i < len(s.out); i++ {
		s.outBytes -= s.out[i].size()
		s.out[i] = outFrame{}
	}
	s.out = s.out[:keep]
	s.sendCloseLocked(den.ClosePolicy, "send queue overflow")
	s.closeAfterFlush, s.stopRead = true, true
	s.h.timers.add(s.h, s, timerClose)
	s.endLocked(den.WebSocketEvent{Kind: den.WebSocketErrorEvent, Err: den.Errorf(den.ELIMIT,
		"WebSocket send queue exceeded %d bytes: the peer reads too slowly, so the socket was closed with %d. Send less to it, or raise the hub's MaxSendQueue.",
		s.h.cfg.MaxSendQueue, den.ClosePolicy)})
	s.kickLocked()
}

// endLocked gives the object its last event for s, once.
func (s *socket) endLocked(ev den.WebSocketEvent) {
	if s.ended {
		return
	}
	s.ended = true
	ev.Socket = s
	s.evq = append(s.evq, ev)
}

// lostLocked ends a connection that broke or vanished: the object sees 1006.
func (s *socket) lostLocked() {
	s.shutdownLocked()
	s.endLocked(den.WebSocketEvent{Kind: den.WebSocketCloseEvent, Code: den.CloseAbnormal, Reason: den.MsgWebSocketDisconnected})
}

// failLocked ends a socket whose peer broke the protocol: a Close frame
// with the error's code, then the connection is cut.
func (s *socket) failLocked(err error) {
	var pe *protocolError
	if !errors.As(err, &pe) {
		pe = &protocolError{code: den.CloseProtocolError, msg: err.Error()}
	}
	if !s.closeSent {
		s.sendCloseLocked(pe.code, "")
		s.h.timers.add(s.h, s, timerClose)
	}
	s.closeAfterFlush, s.stopRead = true, true
	code := den.EINVALID
	if pe.code == den.CloseTooLarge {
		code = den.ELIMIT
	}
	s.endLocked(den.WebSocketEvent{Kind: den.WebSocketErrorEvent, Err: &den.Error{Code: code, Message: pe.msg}})
	s.rd = nil
	s.kickLocked()
}

// shutdownLocked closes the connection and drops every buffer.
func (s *socket) shutdownLocked() {
	if s.fd >= 0 {
		s.h.forget(s, s.fd)
		unix.Close(s.fd)
		s.fd = -1
	}
	s.state = closed
	s.out, s.off, s.outBytes, s.rd = nil, 0, 0, nil
	s.wantOut, s.armed = false, 0
}

// goodbyeLocked is the hub's shutdown: a Close frame if none was sent, one
// non-blocking write, and the connection is closed.
func (s *socket) goodbyeLocked(code int, reason string) {
	if s.fd >= 0 && !s.closeSent {
		s.sendCloseLocked(code, reason)
		s.flushLocked(nil)
	}
	s.ended = true
	s.shutdownLocked()
}

// closeFor ends s from the runtime's side without an event: a Close frame
// with code, and the connection is cut once it is written.
func (s *socket) closeFor(code int, reason string) {
	s.mu.Lock()
	s.ended = true
	s.evq = nil
	switch {
	case s.state == pending || s.state == connecting:
		s.state = closed
	case s.fd >= 0:
		if !s.closeSent {
			s.sendCloseLocked(code, reason)
		}
		s.closeAfterFlush, s.stopRead = true, true
		s.h.timers.add(s.h, s, timerClose)
		s.kickLocked()
	}
	s.mu.Unlock()
	s.removeIfEnded()
}

// abandon ends a socket whose 101 response was never connected.
func (s *socket) abandon() {
	s.mu.Lock()
	if s.state == pending || s.state == connecting {
		s.state = closed
		s.endLocked(den.WebSocketEvent{Kind: den.WebSocketCloseEvent, Code: den.CloseAbnormal, Reason: den.MsgWebSocketDisconnected})
	}
	s.mu.Unlock()
	s.settle()
}

// readableLocked reports whether the poller should read s: not while an
// event is with the object, so a socket's events stay in order and a fast
// sender is slowed to its object's pace.
func (s *socket) readableLocked() bool {
	return s.fd >= 0 && !s.stopRead && !s.inflight && len(s.evq) == 0
}

// rearmLocked sets the socket's interest in the epoll set (one-shot: the
// poller disarms it by taking an event).
func (s *socket) rearmLocked() {
	if s.fd < 0 {
		return
	}
	var want uint32
	if s.readableLocked() {
		want |= unix.EPOLLIN | unix.EPOLLRDHUP
	}
	if s.wantOut {
		want |= unix.EPOLLOUT
	}
	if want == s.armed {
		return
	}
	ev := unix.EpollEvent{Events: want | unix.EPOLLONESHOT, Fd: int32(s.fd)}
	if err := unix.EpollCtl(s.h.epfd, unix.EPOLL_CTL_MOD, s.fd, &ev); err != nil {
		s.h.log.Warn("websocket: epoll_ctl", "err", err)
		s.lostLocked()
		return
	}
	s.armed = want
}

// flushLocked writes as much output as the socket takes without blocking.
// iov is scratch space (may be nil).
func (s *socket) flushLocked(iov [][]byte) {
	for len(s.out) > 0 && s.fd >= 0 {
		iov = s.outBuffersLocked(iov[:0], 62)
		n, err := writeOut(s.fd, iov)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			s.wantOut = true
			return
		}
		if err != nil {
			s.lostLocked()
			return
		}
		s.consumeOutLocked(n)
	}
	s.out, s.off = nil, 0
	if s.closeAfterFlush {
		s.shutdownLocked()
	}
}

// writeOut writes iov to fd: a single buffer (a small frame, the common
// case) with send(2), which skips writev's vector import and the file layer,
// and MSG_NOSIGNAL, so a vanished peer is an EPIPE without a signal.
//
// The send is a raw system call: the descriptor is non-blocking, so it
// returns in microseconds, and telling the scheduler (entersyscall) costs
// more than that in a broadcast: sysmon then wakes every 20 µs to retake
// the writers' Ps and hand them to other threads (10% of the CPU of a
// broadcast to 10,000 sockets, in a profile).
func writeOut(fd int, iov [][]byte) (int, error) {
	if len(iov) != 1 {
		return unix.Writev(fd, iov)
	}
	p := iov[0]
	n, _, errno := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)), unix.MSG_NOSIGNAL, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// outBuffersLocked appends to iov the output not yet written, as up to
// about limit buffers (a frame adds its header and its payload) and
// returns it.
func (s *socket) outBuffersLocked(iov [][]byte, limit int) [][]byte {
	skip := s.off
	for i := 0; i < len(s.out) && len(iov) < limit; i++ {
		f := &s.out[i]
		hb := f.hdr[:f.hlen]
		if skip < len(hb) {
			iov = append(iov, hb[skip:])
			skip = 0
		} else {
			skip -= len(hb)
		}
		if len(f.data) > skip {
			iov = append(iov, f.data[skip:])
		}
		skip = 0
	}
	return iov
}

// sentLocked finishes a send made through a ring of the first want bytes
// of the output: res is the bytes written or -errno. It does what
// flushLocked does with send(2)'s result: a short send or EAGAIN keeps the
// rest queued until the socket is writable, a broken connection is lost,
// output beyond what the ring took is written at once, and a socket whose
// output is all written is closed if it was to close after the flush.
func (s *socket) sentLocked(res int32, want int, iov [][]byte) {
	switch {
	case res >= 0:
		s.consumeOutLocked(int(res))
		if int(res) < want {
			s.wantOut = true // a short send: the socket's buffer is full
			return
		}
		if len(s.out) > 0 {
			s.flushLocked(iov)
			return
		}
		s.out, s.off = nil, 0
		if s.closeAfterFlush {
			s.shutdownLocked()
		}
	case res == -int32(unix.EAGAIN):
		s.wantOut = true
	case res == resNotSent || res == -int32(unix.EINTR):
		s.flushLocked(iov)
	default:
		s.lostLocked()
	}
}

func (s *socket) consumeOutLocked(n int) {
	for n > 0 && len(s.out) > 0 {
		f := &s.out[0]
		rest := f.size() - s.off
		if n < rest {
			s.off += n
			return
		}
		n -= rest
		s.outBytes -= f.size()
		s.out[0] = outFrame{}
		s.out = s.out[1:]
		s.off = 0
	}
}

// readLocked reads what the socket has (one buffer's worth) and handles
// the frames in it.
func (s *socket) readLocked(buf []byte) {
	if s.fd < 0 || s.stopRead {
		return
	}
	n, err := unix.Read(s.fd, buf)
	if err == unix.EAGAIN || err == unix.EINTR {
		return
	}
	if err != nil || n == 0 {
		s.lostLocked() // a peer that leaves without a Close frame: 1006
		return
	}
	s.consumeLocked(buf[:n])
}

// consumeLocked parses b (fresh input, which may alias a shared buffer)
// after whatever partial frame s holds.
func (s *socket) consumeLocked(b []byte) {
	data := b
	if s.rd != nil && len(s.rd.in) > 0 {
		s.rd.in = append(s.rd.in, b...)
		data = s.rd.in
	}
	for len(data) > 0 && !s.stopRead {
		f, n, err := nextFrame(data, s.h.cfg.MaxMessage)
		if err != nil {
			s.failLocked(err)
			return
		}
		if n == 0 {
			break
		}
		data = data[n:]
		if err := s.frameLocked(f); err != nil {
			s.failLocked(err)
			return
		}
	}
	if s.stopRead {
		data = nil
	}
	switch {
	case len(data) > 0 && s.rd != nil && len(s.rd.in) > 0:
		s.rd.in = append(s.rd.in[:0], data...) // move the partial frame to the front
	case len(data) > 0:
		if s.rd == nil {
			s.rd = &reader{}
		}
		s.rd.in = append(make([]byte, 0, max(len(data), min(frameSize(data), s.h.cfg.MaxMessage+14))), data...)
	case s.rd != nil:
		s.rd.in = nil
		if s.rd.asm.op == 0 {
			s.rd = nil
		}
	}
}

// frameLocked handles one frame: control frames here, data frames become
// messages, auto-responses or events.
func (s *socket) frameLocked(f frame) error {
	switch f.op {
	case ws.OpPing:
		if !s.closeSent {
			s.queueLocked(ws.OpPong, append([]byte(nil), f.payload...))
		}
		return nil
	case ws.OpPong:
		return nil
	case ws.OpClose:
		code, reason, err := parseClose(f.payload)
		if err != nil {
			return err
		}
		if !s.closeSent {
			if code == den.CloseNoStatus {
				s.queueLocked(ws.OpClose, nil)
				s.closeSent = true
			} else {
				s.sendCloseLocked(code, reason)
			}
		}
		s.closeAfterFlush, s.stopRead = true, true
		s.rd = nil
		s.endLocked(den.WebSocketEvent{Kind: den.WebSocketCloseEvent, Code: code, Reason: reason, WasClean: true})
		return nil
	}
	var m *message
	var err error
	if f.op != ws.OpContinuation && f.fin && (s.rd == nil || s.rd.asm.op == 0) {
		m, err = finish(f.op, append([]byte(nil), f.payload...))
	} else {
		if s.rd == nil {
			s.rd = &reader{}
		}
		m, err = s.rd.asm.add(f, s.h.cfg.MaxMessage)
	}
	if err != nil || m == nil || s.closeSent || s.ended {
		return err
	}
	if m.typ == den.TextMessage {
		if pair := s.g.auto.Load(); pair != nil && string(m.data) == pair.Request {
			s.queueLocked(ws.OpText, []byte(pair.Response))
			s.autoTS = time.Now().UnixNano()
			return nil
		}
	}
	s.evq = append(s.evq, den.WebSocketEvent{Socket: s, Kind: den.WebSocketMessageEvent, Type: m.typ, Data: m.data})
	return nil
}

// ready handles an epoll event for s (on the poller's goroutine).
func (s *socket) ready(fd int, events uint32, buf []byte, iov [][]byte) {
	s.mu.Lock()
	if s.fd != fd {
		s.mu.Unlock()
		return // a stale event for a closed descriptor
	}
	s.armed = 0 // one-shot: the event disarmed it
	if events&unix.EPOLLOUT != 0 {
		s.wantOut = false
	}
	if events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 && s.readableLocked() {
		s.readLocked(buf) // a hang-up while an event is with the object waits for the next read
	}
	if len(s.out) > 0 && !s.wantOut {
		s.flushLocked(iov)
	} else if len(s.out) == 0 && s.closeAfterFlush {
		s.shutdownLocked()
	}
	s.rearmLocked()
	settle := s.unsettledLocked()
	s.mu.Unlock()
	if settle {
		s.settle()
	}
}

// unsettledLocked reports whether settle has work: an ended socket still in
// its group, or an event to pass on.
func (s *socket) unsettledLocked() bool {
	return s.ended && !s.removed || !s.inflight && len(s.evq) > 0
}

// settle takes an ended socket out of its group and passes its next event
// to the object. Call with no lock held.
func (s *socket) settle() {
	s.removeIfEnded()
	s.pump()
}

func (s *socket) removeIfEnded() {
	s.mu.Lock()
	remove := s.ended && !s.removed
	s.removed = s.removed || remove
	s.mu.Unlock()
	if remove {
		s.h.mu.Lock()
		s.h.removeLocked(s)
		s.h.mu.Unlock()
	}
}

// pump delivers the socket's next event unless one is with the object.
func (s *socket) pump() {
	s.mu.Lock()
	if s.inflight || len(s.evq) == 0 {
		s.mu.Unlock()
		return
	}
	ev := s.evq[0]
	s.evq[0] = den.WebSocketEvent{}
	s.evq = s.evq[1:]
	if len(s.evq) == 0 {
		s.evq = nil
	}
	s.inflight = true
	s.mu.Unlock()
	if ev.Kind != den.WebSocketMessageEvent {
		s.removeIfEnded() // the object must not list a socket it hears the end of
	}
	err := s.h.d.DeliverWebSocket(s.g.ns, s.g.id, ev, s.delivered)
	if err == nil {
		if o := s.h.cfg.Observer; o != nil && ev.Kind == den.WebSocketMessageEvent {
			o.WebSocketMessage(s.g.ns, s.g.id)
		}
		return
	}
	if den.IsOverloaded(err) && !s.h.closed.Load() {
		s.mu.Lock()
		s.evq = append([]den.WebSocketEvent{ev}, s.evq...)
		s.mu.Unlock()
		s.h.timers.add(s.h, s, timerRetry) // still inflight: nothing overtakes ev
		return
	}
	s.h.log.Debug("websocket event dropped", "class", s.g.key.class, "id", s.g.id.String(), "err", err)
	s.delivered(nil)
}

// delivered is called when the object has handled an event.
func (s *socket) delivered(error) {
	s.mu.Lock()
	s.inflight = false
	more := len(s.evq) > 0
	if !more {
		s.rearmLocked()
	}
	s.mu.Unlock()
	if more {
		s.pump()
	}
}

// upgrade is the body of the 101 response that accepted s.
type upgrade struct{ s *socket }

func (u upgrade) Read([]byte) (int, error) { return 0, io.EOF }

// Close abandons the socket if it was never connected.
func (u upgrade) Close() error {
	u.s.mu.Lock()
	waiting := u.s.state == pending
	u.s.mu.Unlock()
	if waiting {
		u.s.abandon()
	}
	return nil
}

// hopHeaders are written by the handshake itself.
var hopHeaders = map[string]bool{
	"Upgrade": true, "Connection": true, "Sec-Websocket-Accept": true,
	"Content-Length": true, "Content-Type": true, "Transfer-Encoding": true,
}

// Connect completes the handshake with gobwas/ws on the hijacked
// connection, takes the connection's file descriptor away from net/http
// and parks it in the hub's epoll set.
func (u upgrade) Connect(w http.ResponseWriter, r *http.Request, header http.Header) error {
	s := u.s
	s.mu.Lock()
	if s.state != pending {
		s.mu.Unlock()
		return den.Errorf(den.EINVALID, "this WebSocket is no longer waiting for its 101 response")
	}
	s.state = connecting
	s.mu.Unlock()
	hdr := http.Header{}
	for k, v := range header {
		if !hopHeaders[http.CanonicalHeaderKey(k)] {
			hdr[k] = v
		}
	}
	conn, rw, _, err := ws.HTTPUpgrader{Header: hdr}.Upgrade(r, w)
	if err != nil {
		if conn != nil {
			conn.Close()
		}
		s.abandon()
		return den.Errorf(den.ECANCELED, "WebSocket handshake: %w", err)
	}
	var early []byte
	if n := rw.Reader.Buffered(); n > 0 {
		p, _ := rw.Reader.Peek(n)
		early = append([]byte(nil), p...)
	}
	fd, err := rawconn.Detach(conn, true)
	if errors.Is(err, rawconn.ErrNotTCP) {
		err = fmt.Errorf("%w (is TLS terminated in front of Den?)", err)
	}
	if err != nil {
		s.abandon()
		return den.Errorf(den.EINTERNAL, "WebSocket handshake: %w", err)
	}
	return s.h.attach(s, fd, early)
}
