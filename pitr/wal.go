package pitr

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// The SQLite WAL format (https://sqlite.org/fileformat2.html#walformat): a
// 32-byte header, then frames of a 24-byte header and one page. Every frame
// carries a checksum chained from the header's, so the valid frames are the
// longest prefix whose checksums and salts match; a frame whose "database
// size after commit" is not zero ends a transaction.
const (
	walHeaderSize   = 32
	frameHeaderSize = 24
	walMagicLE      = 0x377f0682 // checksums over little-endian words
	walMagicBE      = 0x377f0683 // over big-endian words
)

// walHeader is the parsed header of a WAL file.
type walHeader struct {
	bigEndian    bool
	pageSize     int
	salt1, salt2 uint32
	c1, c2       uint32 // the header's checksum: the seed of the first frame's
}

// frameSize is the size of one frame in this WAL.
func (h walHeader) frameSize() int64 { return int64(frameHeaderSize + h.pageSize) }

var errNoWAL = errors.New("no valid WAL header")

// parseWALHeader checks and parses the 32-byte header b.
func parseWALHeader(b []byte) (walHeader, error) {
	if len(b) < walHeaderSize {
		return walHeader{}, errNoWAL
	}
	var h walHeader
	switch binary.BigEndian.Uint32(b[0:]) {
	case walMagicLE:
	case walMagicBE:
		h.bigEndian = true
	default:
		return walHeader{}, errNoWAL
	}
	h.pageSize = int(binary.BigEndian.Uint32(b[8:]))
	if h.pageSize < 512 || h.pageSize > 65536 || h.pageSize&(h.pageSize-1) != 0 {
		return walHeader{}, fmt.Errorf("WAL header: bad page size %d", h.pageSize)
	}
	h.salt1 = binary.BigEndian.Uint32(b[16:])
	h.salt2 = binary.BigEndian.Uint32(b[20:])
	h.c1 = binary.BigEndian.Uint32(b[24:])
	h.c2 = binary.BigEndian.Uint32(b[28:])
	c1, c2 := walChecksum(h.bigEndian, 0, 0, b[:24])
	if c1 != h.c1 || c2 != h.c2 {
		return walHeader{}, errNoWAL
	}
	return h, nil
}

// walChecksum continues SQLite's WAL checksum (s1, s2) over b, whose length
// is a multiple of 8.
func walChecksum(bigEndian bool, s1, s2 uint32, b []byte) (uint32, uint32) {
	if bigEndian {
		for i := 0; i+8 <= len(b); i += 8 {
			s1 += binary.BigEndian.Uint32(b[i:]) + s2
			s2 += binary.BigEndian.Uint32(b[i+4:]) + s1
		}
		return s1, s2
	}
	for i := 0; i+8 <= len(b); i += 8 {
		s1 += binary.LittleEndian.Uint32(b[i:]) + s2
		s2 += binary.LittleEndian.Uint32(b[i+4:]) + s1
	}
	return s1, s2
}

// walTx is one transaction found in the WAL: frames [start, end), the last
// one its commit frame.
type walTx struct {
	start, end int64
	dbPages    uint32 // the database's size in pages after it
	c1, c2     uint32 // the commit frame's checksum
}

// hash is the value a bookmark's check is derived from.
func (t walTx) hash() uint64 { return uint64(t.c1)<<32 | uint64(t.c2) }

// framePool holds the frame buffers scans borrow (frameBuffer).
var framePool sync.Pool

// frameBuffer returns a buffer from framePool, empty or the size of an
// earlier scan's frames; scanWAL grows it as needed.
func frameBuffer() *[]byte {
	if p, ok := framePool.Get().(*[]byte); ok {
		return p
	}
	return new([]byte)
}

// scanWAL reads the valid frames of r after offset off, where the running
// checksum is (c1, c2), and returns the transactions they complete. Frames
// after the last commit frame (a transaction being written, one rolled back,
// or a torn tail) are not returned. *scratch is the frame buffer, reused.
//
// Frames that end at or before trusted are taken as valid if their salts
// match, without computing their checksums: the caller knows SQLite wrote
// them in this session (its WAL hook reported their commit), and the
// checksum stored in a valid frame is the running checksum.
func scanWAL(r io.ReaderAt, h walHeader, off int64, c1, c2 uint32, trusted int64, scratch *[]byte) ([]walTx, error) {
	fs := h.frameSize()
	if int64(cap(*scratch)) < fs {
		*scratch = make([]byte, fs)
	}
	win, _ := r.(*walWindow)
	var txs []walTx
	start := off
	for {
		buf := win.view(off, int(fs)) // no copy where the window holds it
		if buf == nil {
			buf = (*scratch)[:fs]
			n, err := r.ReadAt(buf, off)
			if n < len(buf) {
				if err == nil || errors.Is(err, io.EOF) {
					return txs, nil
				}
				return txs, err
			}
		}
		if binary.BigEndian.Uint32(buf[8:]) != h.salt1 || binary.BigEndian.Uint32(buf[12:]) != h.salt2 {
			return txs, nil
		}
		s1, s2 := binary.BigEndian.Uint32(buf[16:]), binary.BigEndian.Uint32(buf[20:])
		if off+fs > trusted {
			k1, k2 := walChecksum(h.bigEndian, c1, c2, buf[:8])
			k1, k2 = walChecksum(h.bigEndian, k1, k2, buf[frameHeaderSize:])
			if k1 != s1 || k2 != s2 {
				return txs, nil
			}
		}
		c1, c2 = s1, s2
		off += fs
		if commit := binary.BigEndian.Uint32(buf[4:]); commit != 0 {
			txs = append(txs, walTx{start: start, end: off, dbPages: commit, c1: c1, c2: c2})
			start = off
		}
	}
}

// frameAt reads the frame header at off and returns its stored checksum.
func frameChecksumAt(r io.ReaderAt, off int64) (uint32, uint32, error) {
	var b [frameHeaderSize]byte
	if _, err := r.ReadAt(b[:], off); err != nil {
		return 0, 0, err
	}
	return binary.BigEndian.Uint32(b[16:]), binary.BigEndian.Uint32(b[20:]), nil
}
