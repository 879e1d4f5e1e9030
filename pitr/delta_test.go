package pitr

import (
	"bytes"
	"encoding/binary"
	"io"
	"strings"
	"testing"
)

// memImage is an image in memory, growing as pages are written.
type memImage struct{ b []byte }

func (m *memImage) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(m.b)) {
		return 0, io.EOF
	}
	n := copy(p, m.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (m *memImage) WriteAt(p []byte, off int64) (int, error) {
	if end := off + int64(len(p)); end > int64(len(m.b)) {
		m.b = append(m.b, make([]byte, end-int64(len(m.b)))...)
	}
	return copy(m.b[off:], p), nil
}

// compactRecord returns a compact record of two frames of page size ps:
// page 1 new (against zeros), then page 1 again against the first.
func compactRecord(t txInfo, ps int) []byte {
	p1 := bytes.Repeat([]byte{'a'}, ps)
	p2 := bytes.Clone(p1)
	copy(p2[100:], "changed")
	b := t.appendHeader(nil, 2, 0)
	for i, f := range [][2][]byte{{p1, nil}, {p2, p1}} {
		b = binary.BigEndian.AppendUint32(b, 1)
		kind, crc := byte(kindZero), uint32(0)
		if i == 1 {
			kind, crc = kindPrev, crc32c(p1)
		}
		b = append(b, kind)
		b = binary.LittleEndian.AppendUint32(b, crc)
		enc := appendDelta(nil, f[0], f[1])
		b = binary.LittleEndian.AppendUint32(b, uint32(len(enc)))
		b = append(b, enc...)
	}
	binary.LittleEndian.PutUint64(b[56:], uint64(len(b)-txHeaderSize))
	return append(b, encodeFooter(crc32c(b), int64(len(b))+footerSize)...)
}

func TestCompactRecordRoundTrip(t *testing.T) {
	const ps = 512
	b := compactRecord(txInfo{txid: 2, time: 5, hash: 8, dbPages: 1}, ps)
	rec, frames, err := readRecord(bytes.NewReader(b), 0, int64(len(b)), ps, true)
	if err != nil {
		t.Fatal(err)
	}
	if !rec.compact || rec.frames != 2 || rec.size() != int64(len(b)) {
		t.Fatalf("record %+v, %d bytes", rec, len(b))
	}
	// The second version of the page costs its change, not a page.
	if len(b) > txHeaderSize+footerSize+2*deltaFrameHeader+ps+40 {
		t.Errorf("compact record of two small changes is %d bytes", len(b))
	}
	img := &memImage{}
	if err := applyRecord(rec, frames, img, make([]byte, ps)); err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte{'a'}, ps)
	copy(want[100:], "changed")
	if !bytes.Equal(img.b, want) {
		t.Fatalf("image %q", img.b)
	}
}

// TestWrongBaseIsAnError applies a delta onto a page that is not the one
// it was made against: replay must refuse, not build a wrong image.
func TestWrongBaseIsAnError(t *testing.T) {
	const ps = 512
	b := compactRecord(txInfo{txid: 2, time: 5, hash: 8, dbPages: 1}, ps)
	rec, frames, err := readRecord(bytes.NewReader(b), 0, int64(len(b)), ps, true)
	if err != nil {
		t.Fatal(err)
	}
	// Keep only the second frame (against page 1 as the first wrote it)
	// and replay it onto an image whose page 1 differs.
	first := deltaFrameHeader + int(binary.LittleEndian.Uint32(frames[9:]))
	rec.frames = 1
	img := &memImage{b: bytes.Repeat([]byte{'b'}, ps)}
	err = applyRecord(rec, frames[first:], img, make([]byte, ps))
	if err == nil || !strings.Contains(err.Error(), "not the one its delta was made against") {
		t.Fatalf("err = %v", err)
	}
	if !bytes.Equal(img.b, bytes.Repeat([]byte{'b'}, ps)) {
		t.Fatal("a refused delta changed the image")
	}
}

func FuzzDelta(f *testing.F) {
	f.Add([]byte("hello, world"), []byte("hello, there"))
	f.Add(make([]byte, 64), bytes.Repeat([]byte{1}, 64))
	f.Add([]byte("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaxaaaaaaaaay"), []byte("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"))
	f.Fuzz(func(t *testing.T, page, base []byte) {
		n := min(len(page), len(base))
		page, base = page[:n], base[:n]
		for _, b := range [][]byte{base, nil} {
			enc := appendDelta(nil, page, b)
			got := make([]byte, n)
			if b != nil {
				copy(got, b)
			}
			if err := applyDelta(got, enc); err != nil {
				t.Fatalf("apply: %v", err)
			}
			if !bytes.Equal(got, page) {
				t.Fatalf("round trip: %x, want %x", got, page)
			}
			if len(enc) > n+n/4+8 {
				t.Fatalf("%d bytes encode a %d-byte page", len(enc), n)
			}
		}
	})
}

func FuzzApplyDelta(f *testing.F) {
	f.Add(appendDelta(nil, []byte("hello, world"), nil))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, enc []byte) {
		page := make([]byte, 12)
		applyDelta(page, enc) // must not panic
	})
}

// The archive remembers the lazy pairs it wrote or checked, by object, for
// the pair's base and snapshot CRC only, until made durable or deleted.
func TestIntactPairsAreRememberedExactly(t *testing.T) {
	a := New(t.TempDir(), Options{})
	h := logHeader{snapCRC: 42}
	if a.isIntact("d", 1, h) {
		t.Fatal("an unseen pair is intact")
	}
	a.intact("d", 1, h)
	if !a.isIntact("d", 1, h) {
		t.Fatal("a pair just written is not remembered")
	}
	if a.isIntact("d", 2, h) || a.isIntact("d", 1, logHeader{snapCRC: 43}) || a.isIntact("e", 1, h) {
		t.Fatal("another pair passes for the remembered one")
	}
	a.forgetIntact("d")
	if a.isIntact("d", 1, h) {
		t.Fatal("a forgotten pair is still intact")
	}
}
