package pitr

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/den-run/den"
)

// record returns an encoded record of one frame of page size ps.
func record(t txInfo, ps int, fill byte) []byte {
	b := t.encodeHeader(1)
	b = binary.BigEndian.AppendUint32(b, 1)
	b = append(b, bytes.Repeat([]byte{fill}, ps)...)
	return append(b, encodeFooter(crc32c(b), int64(len(b))+footerSize)...)
}

// TestTornTailIsCutOff writes a log whose last record a crash tore, and
// checks that attaching the log cuts it off and keeps the records before.
func TestTornTailIsCutOff(t *testing.T) {
	const ps = 512
	root := t.TempDir()
	a := New(filepath.Join(root, "history"), Options{})
	id := den.Key{1}.IDFromName("x")
	dir := a.Dir("C", id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixNano()
	base := txInfo{txid: 1, time: now, hash: 7, dbPages: 1}
	os.WriteFile(filepath.Join(dir, snapName(1)), bytes.Repeat([]byte{0}, ps), 0o600)
	var log []byte
	log = append(log, logHeader{pageSize: ps, base: base}.encode()...)
	log = append(log, record(txInfo{txid: 2, time: now + 1, hash: 8, dbPages: 1}, ps, 'a')...)
	log = append(log, record(txInfo{txid: 3, time: now + 2, hash: 9, dbPages: 1}, ps, 'b')...)
	good := len(log)
	torn := record(txInfo{txid: 4, time: now + 3, hash: 10, dbPages: 1}, ps, 'c')
	log = append(log, torn[:len(torn)-30]...)
	os.WriteFile(filepath.Join(dir, logName(1)), log, 0o600)
	db := filepath.Join(root, "db.sqlite")
	os.WriteFile(db, bytes.Repeat([]byte{0}, ps), 0o600) // one page: the state after transaction 3

	l := a.Open("C", id)
	if err := l.Attach(db); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if fi, _ := os.Stat(filepath.Join(dir, logName(1))); fi.Size() != int64(good) {
		t.Errorf("log is %d bytes after attach, want %d (the torn record cut off)", fi.Size(), good)
	}
	cur, err := l.Current()
	if err != nil || cur.Seq != 3 {
		t.Fatalf("current: %v %v, want transaction 3", cur, err)
	}
	if l.rebase != nil {
		t.Error("a consistent history was started again")
	}
	img, _ := os.CreateTemp(t.TempDir(), "img")
	defer img.Close()
	bm := l.bookmark(txInfo{txid: 2, time: now + 1, hash: 8})
	if err := l.WriteImage(bm, img); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(img.Name())
	if len(b) != ps || b[100] != 'a' {
		t.Errorf("image at transaction 2: %d bytes, byte 100 %q", len(b), b[100])
	}
}

func FuzzReadRecord(f *testing.F) {
	f.Add(record(txInfo{txid: 2, time: 5, hash: 8, dbPages: 1}, 512, 'a'))
	f.Add([]byte("DENT"))
	f.Add(compactRecord(txInfo{txid: 2, time: 5, hash: 8, dbPages: 1}, 512))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		rec, frames, err := readRecord(r, 0, int64(len(b)), 512, true)
		if err == nil && int64(len(frames)) != rec.payload {
			t.Fatalf("%d bytes of frames, header says %d", len(frames), rec.payload)
		}
		if err == nil && rec.compact && rec.frames < 64 {
			// Applying whatever passed the checks must fail cleanly or
			// write whole pages, never panic.
			applyRecord(rec, frames, &memImage{}, make([]byte, 512))
		}
	})
}

func FuzzParseWALHeader(f *testing.F) {
	h := make([]byte, 32)
	binary.BigEndian.PutUint32(h, walMagicLE)
	binary.BigEndian.PutUint32(h[8:], 4096)
	c1, c2 := walChecksum(false, 0, 0, h[:24])
	binary.BigEndian.PutUint32(h[24:], c1)
	binary.BigEndian.PutUint32(h[28:], c2)
	f.Add(h)
	f.Fuzz(func(t *testing.T, b []byte) {
		hdr, err := parseWALHeader(b)
		if err == nil && (hdr.pageSize < 512 || hdr.pageSize > 65536) {
			t.Fatalf("page size %d accepted", hdr.pageSize)
		}
	})
}
