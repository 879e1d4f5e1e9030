package hub

import (
	"bytes"
	"testing"

	"github.com/gobwas/ws"
)

// TestEncoderSharesABroadcastsFrame: equal small payloads get one frame
// built once; it holds a copy, so the caller's bytes are not aliased; the
// opcode is part of what is shared; a large payload is not copied.
func TestEncoderSharesABroadcastsFrame(t *testing.T) {
	var e encoder
	p := []byte("hello")
	a := e.frame(ws.OpText, p)
	b := e.frame(ws.OpText, []byte("hello"))
	if a.hlen != 0 || !bytes.Equal(a.data, []byte{0x81, 5, 'h', 'e', 'l', 'l', 'o'}) {
		t.Fatalf("frame % x (header %d bytes apart)", a.data, a.hlen)
	}
	if &a.data[0] != &b.data[0] {
		t.Fatal("an equal payload was encoded again")
	}
	p[0] = 'j'
	if a.data[2] != 'h' {
		t.Fatal("the frame aliases the caller's payload")
	}
	if c := e.frame(ws.OpBinary, []byte("hello")); c.data[0] != 0x82 || &c.data[0] == &a.data[0] {
		t.Fatalf("a binary frame shared a text frame's bytes: % x", c.data)
	}
	big := make([]byte, sharedMax+1)
	d := e.frame(ws.OpBinary, big)
	if &d.data[0] != &big[0] || d.hlen != 4 || d.size() != 4+len(big) {
		t.Fatalf("a large payload was copied or mis-headed: hlen %d", d.hlen)
	}
}
