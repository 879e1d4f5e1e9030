package pitr

import (
	"encoding/binary"
	"errors"
)

// A compact record ("DENZ") stores each page as a delta instead of a copy:
// most transactions change a few bytes of a few pages, and a full 4 KiB
// page per change made the history about 50 times larger than the change.
//
//	frame:  page number u32 (big-endian) | kind u8 | base CRC-32C u32 |
//	        encoded length u32 | encoded [length]byte
//
// kind says what the page is encoded against, its base:
//
//	kindPrev: the page as the history holds it just before this
//	          transaction (the snapshot's page, or the page's latest record
//	          since); base CRC is that page's CRC-32C, checked on replay, so
//	          a base that differs is an error, never a silently wrong image.
//	kindZero: a page of zeros (a page that is new, or whose earlier
//	          version the archiver cannot be sure of); base CRC is 0.
//
// The encoding of page XOR base is a run of tokens until the page is
// covered: zeros uvarint | literal length uvarint | literal bytes. Equal
// bytes cost nothing but the count of the run.
const (
	kindPrev = 1
	kindZero = 2

	deltaFrameHeader = 4 + 1 + 4 + 4
)

// appendDelta appends the encoding of page against base (nil: zeros) to dst.
// page and base have the same length. Equal runs are found 8 bytes at a time.
func appendDelta(dst, page, base []byte) []byte {
	n := len(page)
	same := func(i int) bool {
		if base == nil {
			return page[i] == 0
		}
		return page[i] == base[i]
	}
	// same8 reports whether the 8 bytes at i (i+8 <= n) are equal.
	same8 := func(i int) bool {
		w := binary.LittleEndian.Uint64(page[i:])
		if base == nil {
			return w == 0
		}
		return w == binary.LittleEndian.Uint64(base[i:])
	}
	for i := 0; i < n; {
		z := i
		for i+8 <= n && same8(i) {
			i += 8
		}
		for i < n && same(i) {
			i++
		}
		zeros := i - z
		// A literal ends where 8 equal bytes in a row start (shorter runs
		// cost more as two tokens than as literal bytes), or at the end.
		lit := i
		for i < n && !(i+8 <= n && same8(i)) {
			i++
		}
		if i == n { // no run of 8 follows: leave trailing equal bytes to the next token
			for i > lit && same(i-1) {
				i--
			}
		}
		dst = binary.AppendUvarint(dst, uint64(zeros))
		dst = binary.AppendUvarint(dst, uint64(i-lit))
		if base == nil {
			dst = append(dst, page[lit:i]...)
		} else {
			for k := lit; k < i; k++ {
				dst = append(dst, page[k]^base[k])
			}
		}
	}
	return dst
}

var errBadDelta = errors.New("history log: bad page delta")

// applyDelta decodes enc onto page, which holds the base on entry (zeros for
// kindZero) and the page on return.
func applyDelta(page, enc []byte) error {
	i := 0
	for len(enc) > 0 {
		zeros, n := binary.Uvarint(enc)
		if n <= 0 || zeros > uint64(len(page)-i) {
			return errBadDelta
		}
		enc = enc[n:]
		i += int(zeros)
		lit, n := binary.Uvarint(enc)
		if n <= 0 || lit > uint64(len(page)-i) || lit > uint64(len(enc)-n) {
			return errBadDelta
		}
		enc = enc[n:]
		for k := range int(lit) {
			page[i+k] ^= enc[k]
		}
		enc = enc[lit:]
		i += int(lit)
	}
	if i != len(page) {
		return errBadDelta
	}
	return nil
}
