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
// page and base have the same length.
func appendDelta(dst, page, base []byte) []byte {
	n := len(page)
	diff := func(i int) bool {
		if base == nil {
			return page[i] != 0
		}
		return page[i] != base[i]
	}
	for i := 0; i < n; {
		z := i
		for i < n && !diff(i) {
			i++
		}
		zeros := i - z
		lit := i
		// A literal ends at the first run of 8 equal bytes: shorter runs
		// cost more as two tokens than as literal bytes.
		for i < n {
			if !diff(i) {
				j := i
				for j < n && j-i < 8 && !diff(j) {
					j++
				}
				if j-i == 8 || j == n {
					break
				}
				i = j
				continue
			}
			i++
		}
		dst = binary.AppendUvarint(dst, uint64(zeros))
		dst = binary.AppendUvarint(dst, uint64(i-lit))
		for k := lit; k < i; k++ {
			b := page[k]
			if base != nil {
				b ^= base[k]
			}
			dst = append(dst, b)
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
