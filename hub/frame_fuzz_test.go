package hub

import (
	"bytes"
	"testing"

	"github.com/gobwas/ws"
)

// clientFrame builds a masked client frame as a browser sends it.
func clientFrame(op ws.OpCode, fin bool, p []byte) []byte {
	var b bytes.Buffer
	f := ws.MaskFrameInPlace(ws.NewFrame(op, fin, append([]byte(nil), p...)))
	ws.WriteFrame(&b, f)
	return b.Bytes()
}

// FuzzFrames feeds arbitrary client bytes, split at an arbitrary point, to
// the frame parser and the assembler: they must never panic, never return
// a message over the limit, and must agree with a one-piece parse.
func FuzzFrames(f *testing.F) {
	f.Add(clientFrame(ws.OpText, true, []byte("hello")), uint8(3))
	f.Add(append(clientFrame(ws.OpText, false, []byte("frag")), clientFrame(ws.OpContinuation, true, []byte("ment"))...), uint8(9))
	f.Add(clientFrame(ws.OpBinary, true, bytes.Repeat([]byte{7}, 300)), uint8(1))
	f.Add(clientFrame(ws.OpPing, true, []byte("p")), uint8(0))
	f.Add(clientFrame(ws.OpClose, true, []byte{3, 232, 'o', 'k'}), uint8(2))
	f.Add([]byte{0x81, 0x7f, 0xff, 0, 0, 0, 0, 0, 0, 0}, uint8(4))
	f.Add([]byte{0x81, 0x05, 'h', 'e', 'l', 'l', 'o'}, uint8(4)) // unmasked
	const limit = 1024
	f.Fuzz(func(t *testing.T, data []byte, cut uint8) {
		whole := parseAll(t, [][]byte{append([]byte(nil), data...)}, limit)
		c := min(int(cut), len(data))
		split := parseAll(t, [][]byte{append([]byte(nil), data[:c]...), append([]byte(nil), data[c:]...)}, limit)
		if whole != split {
			t.Fatalf("one piece: %q; two pieces: %q", whole, split)
		}
	})
}

// parseAll runs the socket's input loop over chunks and returns a summary
// of what came out.
func parseAll(t *testing.T, chunks [][]byte, limit int) string {
	var out bytes.Buffer
	var in []byte
	var asm assembler
	for _, c := range chunks {
		in = append(in, c...)
		for {
			f, n, err := nextFrame(in, limit)
			if err != nil {
				return out.String() + "error:" + err.Error()
			}
			if n == 0 {
				break
			}
			in = in[n:]
			if f.op.IsControl() {
				if f.op == ws.OpClose {
					if _, _, err := parseClose(f.payload); err != nil {
						return out.String() + "error:" + err.Error()
					}
				}
				out.WriteString("control;")
				continue
			}
			m, err := asm.add(f, limit)
			if err != nil {
				return out.String() + "error:" + err.Error()
			}
			if m != nil {
				if len(m.data) > limit {
					t.Fatalf("a message of %d bytes passed the %d-byte limit", len(m.data), limit)
				}
				out.WriteString(m.typ.String() + ":" + string(m.data) + ";")
			}
		}
	}
	return out.String()
}
