package hub

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"unicode/utf8"

	"github.com/den-run/den"
	"github.com/gobwas/ws"
)

// frame is one frame from a client, unmasked.
type frame struct {
	op      ws.OpCode
	fin     bool
	payload []byte // aliases the input
}

// protocolError ends a socket: the runtime sends a Close frame with code and
// tells the object through its error handler.
type protocolError struct {
	code int
	msg  string
}

func (e *protocolError) Error() string { return e.msg }

func errProtocol(format string, args ...any) *protocolError {
	return &protocolError{code: den.CloseProtocolError, msg: "WebSocket protocol error: " + fmt.Sprintf(format, args...)}
}

func errTooLarge(n int64, limit int) *protocolError {
	return &protocolError{code: den.CloseTooLarge, msg: fmt.Sprintf("Message is too large: %d > %d", n, limit)}
}

// nextFrame parses one client frame from b and unmasks its payload in place.
// It returns n == 0 when b does not hold a whole frame yet, and an error for
// a frame the protocol forbids or whose payload alone exceeds limit.
func nextFrame(b []byte, limit int) (f frame, n int, err error) {
	if len(b) < 2 {
		return f, 0, nil
	}
	f.fin = b[0]&0x80 != 0
	rsv := b[0] & 0x70
	f.op = ws.OpCode(b[0] & 0x0f)
	masked := b[1]&0x80 != 0
	length := int64(b[1] & 0x7f)
	hdr := 2
	switch length {
	case 126:
		if len(b) < 4 {
			return f, 0, nil
		}
		length = int64(binary.BigEndian.Uint16(b[2:4]))
		hdr = 4
	case 127:
		if len(b) < 10 {
			return f, 0, nil
		}
		u := binary.BigEndian.Uint64(b[2:10])
		if u>>63 != 0 {
			return f, 0, errProtocol("the most significant bit of a 64-bit length must be 0")
		}
		length = int64(u)
		hdr = 10
	}
	switch {
	case rsv != 0:
		return f, 0, errProtocol("reserved bits set, but no extension was negotiated")
	case f.op.IsReserved():
		return f, 0, errProtocol("reserved opcode %#x", byte(f.op))
	case !masked:
		return f, 0, errProtocol("frames from a client must be masked")
	case f.op.IsControl() && (!f.fin || length > 125):
		return f, 0, errProtocol("control frames must be final and carry at most 125 bytes")
	case length > int64(limit):
		return f, 0, errTooLarge(length, limit)
	}
	total := hdr + 4 + int(length)
	if len(b) < total {
		return f, 0, nil
	}
	var mask [4]byte
	copy(mask[:], b[hdr:hdr+4])
	f.payload = b[hdr+4 : total]
	ws.Cipher(f.payload, mask, 0)
	return f, total, nil
}

// frameSize returns the size of the frame whose first bytes b holds, or 0
// when b is too short to tell.
func frameSize(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	length := int(b[1] & 0x7f)
	switch length {
	case 126:
		if len(b) < 4 {
			return 0
		}
		return 4 + 4 + int(binary.BigEndian.Uint16(b[2:4]))
	case 127:
		if len(b) < 10 {
			return 0
		}
		return 10 + 4 + int(binary.BigEndian.Uint64(b[2:10])&(1<<62-1))
	}
	return 2 + 4 + length
}

// assembler joins fragmented data frames into messages.
type assembler struct {
	op  ws.OpCode // of the message being assembled, 0 if none
	buf []byte
}

// message is a complete data message.
type message struct {
	typ  den.MessageType
	data []byte // owned by the message
}

// add takes one data frame (text, binary or continuation) and returns the
// message it completes, if any.
func (a *assembler) add(f frame, limit int) (*message, error) {
	switch {
	case f.op == ws.OpContinuation && a.op == 0:
		return nil, errProtocol("continuation frame without a message to continue")
	case f.op != ws.OpContinuation && a.op != 0:
		return nil, errProtocol("a new message began before the fragmented one ended")
	}
	if f.op != ws.OpContinuation && f.fin {
		return finish(f.op, append([]byte(nil), f.payload...))
	}
	if f.op != ws.OpContinuation {
		a.op = f.op
	}
	if n := int64(len(a.buf)) + int64(len(f.payload)); n > int64(limit) {
		return nil, errTooLarge(n, limit)
	}
	a.buf = append(a.buf, f.payload...)
	if !f.fin {
		return nil, nil
	}
	op, data := a.op, a.buf
	a.op, a.buf = 0, nil
	return finish(op, data)
}

func finish(op ws.OpCode, data []byte) (*message, error) {
	if op == ws.OpText {
		if !utf8.Valid(data) {
			return nil, &protocolError{code: den.CloseInvalidPayload, msg: "WebSocket text message is not valid UTF-8"}
		}
		return &message{typ: den.TextMessage, data: data}, nil
	}
	return &message{typ: den.BinaryMessage, data: data}, nil
}

// parseClose reads a Close frame's payload: 1005 and "" when it has none.
func parseClose(p []byte) (code int, reason string, err error) {
	if len(p) == 0 {
		return den.CloseNoStatus, "", nil
	}
	if len(p) == 1 {
		return 0, "", errProtocol("a Close frame's payload must hold a 2-byte code")
	}
	c, r := ws.ParseCloseFrameData(p)
	if err := ws.CheckCloseFrameData(c, r); err != nil {
		return 0, "", errProtocol("invalid Close frame: %v", err)
	}
	return int(c), r, nil
}

// header encodes a server frame's header (never masked) into h and returns
// its length.
func header(h *[10]byte, op ws.OpCode, n int) int {
	h[0] = 0x80 | byte(op)
	switch {
	case n < 126:
		h[1] = byte(n)
		return 2
	case n <= 0xffff:
		h[1] = 126
		binary.BigEndian.PutUint16(h[2:4], uint16(n))
		return 4
	}
	h[1] = 127
	binary.BigEndian.PutUint64(h[2:10], uint64(n))
	return 10
}

// closePayload encodes a Close frame's payload.
func closePayload(code int, reason string) []byte {
	return ws.NewCloseFrameBody(ws.StatusCode(code), reason)
}

// sharedMax is the largest payload Send encodes into one contiguous frame,
// which every socket a broadcast sends it to shares and which leaves with a
// single send(2). A larger payload is not copied: its header and payload go
// out together with writev.
const sharedMax = 16 << 10

// encoded is one frame built whole: header and payload.
type encoded struct {
	op    ws.OpCode
	hlen  int
	frame []byte // never changed once built
}

// encoder builds the frames Send queues. It remembers the last small frame
// it built, so that a broadcast (one payload sent to many sockets in a row)
// encodes and copies it once. It is safe for concurrent use.
type encoder struct{ last atomic.Pointer[encoded] }

// frame returns the frame for op and data; small frames may be shared.
func (e *encoder) frame(op ws.OpCode, data []byte) outFrame {
	if len(data) > sharedMax {
		f := outFrame{data: data}
		f.hlen = uint8(header(&f.hdr, op, len(data)))
		return f
	}
	if l := e.last.Load(); l != nil && l.op == op && bytes.Equal(l.frame[l.hlen:], data) {
		return outFrame{data: l.frame}
	}
	var h [10]byte
	n := header(&h, op, len(data))
	b := make([]byte, n+len(data))
	copy(b, h[:n])
	copy(b[n:], data)
	e.last.Store(&encoded{op: op, hlen: n, frame: b})
	return outFrame{data: b}
}
