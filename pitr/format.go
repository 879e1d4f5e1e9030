package pitr

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// A log file ("<base>.log") is a 64-byte header, then one record per
// transaction, appended in order. All integers are little-endian.
//
//	header:  magic "DENPITR1" | page size u32 | 0 u32 | base txid u64 |
//	         base time i64 (unix ns) | base hash u64 | base pages u32 |
//	         flags u8 (1: lazy) | 0 [3]byte | snapshot CRC-32C u32 |
//	         snapshot size u64 | 0 [4]byte
//	record:  txHeader (64 bytes) | frames | footer (16 bytes)
//	txHeader: magic "DENT" | frames u32 | txid u64 | time i64 | hash u64 |
//	         pages u32 (database size after it) | WAL salt1 u32 | WAL salt2 u32 |
//	         0 u32 | WAL end offset u64 | 0 u64
//	frame:   page number u32 (big-endian, as in the WAL) | page [page size]byte
//	footer:  CRC-32C of txHeader and frames u32 | "TNED" | record length u64
//
// That is the full record. Den writes compact records ("DENZ" in place of
// "DENT", the frames' byte length in the header's last u64), whose frames
// are page deltas: see delta.go. Readers take both.
//
// The footer lets a reader find the last record from the end of the file;
// the CRC detects a record torn by a crash, which is cut off when the log is
// next opened. The WAL fields say where in the write-ahead log the
// transaction ended, so that frames still in the WAL after a crash are not
// archived twice.
const (
	logMagic      = "DENPITR1"
	logHeaderSize = 64
	txHeaderSize  = 64
	footerSize    = 16
	txMagic       = 0x544e4544 // "DENT" little-endian: full pages
	txMagicZ      = 0x5a4e4544 // "DENZ" little-endian: page deltas
	footerMagic   = 0x44454e54 // "TNED" little-endian
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// logHeader is the header of a log file: the snapshot it follows.
type logHeader struct {
	pageSize int
	base     txInfo // the snapshot's transaction; its WAL fields are zero
	// lazy marks a first pair written without syncing (see Log.lazy):
	// snapSize and snapCRC let the next Attach check it came through.
	lazy     bool
	snapSize int64
	snapCRC  uint32
}

// lazyOffset is the header byte that holds the lazy flag.
const lazyOffset = 44

func (h logHeader) encode() []byte {
	b := make([]byte, logHeaderSize)
	copy(b, logMagic)
	binary.LittleEndian.PutUint32(b[8:], uint32(h.pageSize))
	binary.LittleEndian.PutUint64(b[16:], h.base.txid)
	binary.LittleEndian.PutUint64(b[24:], uint64(h.base.time))
	binary.LittleEndian.PutUint64(b[32:], h.base.hash)
	binary.LittleEndian.PutUint32(b[40:], h.base.dbPages)
	if h.lazy {
		b[lazyOffset] = 1
	}
	binary.LittleEndian.PutUint32(b[48:], h.snapCRC)
	binary.LittleEndian.PutUint64(b[52:], uint64(h.snapSize))
	return b
}

func decodeLogHeader(b []byte) (logHeader, error) {
	if len(b) < logHeaderSize || string(b[:8]) != logMagic {
		return logHeader{}, errors.New("not a history log: bad header")
	}
	h := logHeader{pageSize: int(binary.LittleEndian.Uint32(b[8:]))}
	h.base.txid = binary.LittleEndian.Uint64(b[16:])
	h.base.time = int64(binary.LittleEndian.Uint64(b[24:]))
	h.base.hash = binary.LittleEndian.Uint64(b[32:])
	h.base.dbPages = binary.LittleEndian.Uint32(b[40:])
	h.lazy = b[lazyOffset]&1 != 0
	h.snapCRC = binary.LittleEndian.Uint32(b[48:])
	h.snapSize = int64(binary.LittleEndian.Uint64(b[52:]))
	if h.pageSize < 512 || h.pageSize > 65536 || h.pageSize&(h.pageSize-1) != 0 {
		return logHeader{}, fmt.Errorf("history log: bad page size %d", h.pageSize)
	}
	return h, nil
}

// txInfo describes one transaction of the history.
type txInfo struct {
	txid    uint64
	time    int64 // unix nanoseconds; never less than the previous transaction's
	hash    uint64
	dbPages uint32
	// where it ended in the WAL it came from (zero for a snapshot)
	salt1, salt2 uint32
	walEnd       int64
}

// txRecord is a transaction's record as read back from a log.
type txRecord struct {
	txInfo
	off     int64 // of its txHeader in the log file
	frames  int
	payload int64 // bytes of its frames
	compact bool  // its frames are page deltas (DENZ)
}

// size returns the record's length in the log.
func (r txRecord) size() int64 { return txHeaderSize + r.payload + footerSize }

// appendHeader appends the header of a compact record of frames frames
// taking payload bytes.
func (t txInfo) appendHeader(dst []byte, frames int, payload int64) []byte {
	b := t.encodeHeader(frames)
	binary.LittleEndian.PutUint32(b[0:], txMagicZ)
	binary.LittleEndian.PutUint64(b[56:], uint64(payload))
	return append(dst, b...)
}

func (t txInfo) encodeHeader(frames int) []byte {
	b := make([]byte, txHeaderSize)
	binary.LittleEndian.PutUint32(b[0:], txMagic)
	binary.LittleEndian.PutUint32(b[4:], uint32(frames))
	binary.LittleEndian.PutUint64(b[8:], t.txid)
	binary.LittleEndian.PutUint64(b[16:], uint64(t.time))
	binary.LittleEndian.PutUint64(b[24:], t.hash)
	binary.LittleEndian.PutUint32(b[32:], t.dbPages)
	binary.LittleEndian.PutUint32(b[36:], t.salt1)
	binary.LittleEndian.PutUint32(b[40:], t.salt2)
	binary.LittleEndian.PutUint64(b[48:], uint64(t.walEnd))
	return b
}

// decodeTxHeader decodes a record header of a log of pageSize pages.
func decodeTxHeader(b []byte, off int64, pageSize int) (txRecord, bool) {
	if len(b) < txHeaderSize {
		return txRecord{}, false
	}
	magic := binary.LittleEndian.Uint32(b)
	if magic != txMagic && magic != txMagicZ {
		return txRecord{}, false
	}
	t := txInfo{
		txid:    binary.LittleEndian.Uint64(b[8:]),
		time:    int64(binary.LittleEndian.Uint64(b[16:])),
		hash:    binary.LittleEndian.Uint64(b[24:]),
		dbPages: binary.LittleEndian.Uint32(b[32:]),
		salt1:   binary.LittleEndian.Uint32(b[36:]),
		salt2:   binary.LittleEndian.Uint32(b[40:]),
		walEnd:  int64(binary.LittleEndian.Uint64(b[48:])),
	}
	r := txRecord{txInfo: t, off: off, frames: int(binary.LittleEndian.Uint32(b[4:])), compact: magic == txMagicZ}
	if r.compact {
		r.payload = int64(binary.LittleEndian.Uint64(b[56:]))
		if r.payload < 0 || r.payload > int64(r.frames)*int64(deltaFrameHeader+2*pageSize+16) {
			return txRecord{}, false
		}
	} else {
		r.payload = int64(r.frames) * int64(4+pageSize)
	}
	return r, true
}

func encodeFooter(crc uint32, length int64) []byte {
	b := make([]byte, footerSize)
	binary.LittleEndian.PutUint32(b[0:], crc)
	binary.LittleEndian.PutUint32(b[4:], footerMagic)
	binary.LittleEndian.PutUint64(b[8:], uint64(length))
	return b
}

// readRecord reads and checks the record at off of a log of pageSize pages
// that ends at end, returning it and its frames' bytes.
func readRecord(r io.ReaderAt, off, end int64, pageSize int, withFrames bool) (txRecord, []byte, error) {
	hb := make([]byte, txHeaderSize)
	if _, err := r.ReadAt(hb, off); err != nil {
		return txRecord{}, nil, err
	}
	rec, ok := decodeTxHeader(hb, off, pageSize)
	if !ok {
		return txRecord{}, nil, errTorn
	}
	size := rec.payload
	if off+rec.size() > end {
		return rec, nil, errTorn
	}
	fb := make([]byte, size+footerSize)
	if _, err := r.ReadAt(fb, off+txHeaderSize); err != nil {
		if errors.Is(err, io.EOF) {
			return rec, nil, errTorn
		}
		return rec, nil, err
	}
	foot := fb[size:]
	crc := crc32.Update(crc32.Checksum(hb, castagnoli), castagnoli, fb[:size])
	if binary.LittleEndian.Uint32(foot[4:]) != footerMagic || binary.LittleEndian.Uint32(foot) != crc ||
		int64(binary.LittleEndian.Uint64(foot[8:])) != rec.size() {
		return rec, nil, errTorn
	}
	if !withFrames {
		return rec, nil, nil
	}
	return rec, fb[:size], nil
}

// readRecordHeader reads the header of the record at off without checking
// its frames (they were checked when the log was opened).
func readRecordHeader(r io.ReaderAt, off int64, pageSize int) (txRecord, error) {
	hb := make([]byte, txHeaderSize)
	if _, err := r.ReadAt(hb, off); err != nil {
		return txRecord{}, err
	}
	rec, ok := decodeTxHeader(hb, off, pageSize)
	if !ok {
		return txRecord{}, errTorn
	}
	return rec, nil
}

var errTorn = errors.New("history log: torn or corrupt record")

func snapName(base uint64) string { return fmt.Sprintf("%016x.snap", base) }
func logName(base uint64) string  { return fmt.Sprintf("%016x.log", base) }

// RestoreFile is the name of a database staged to replace the object's.
const RestoreFile = "restore.sqlite"

// listPairs returns the bases of the complete pairs in dir, oldest first,
// and removes leftovers of interrupted writes (temporary files, a snapshot
// without its log, a log without its snapshot).
func listPairs(dir string) ([]uint64, error) {
	names, err := readNames(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	snaps, logs := map[uint64]bool{}, map[uint64]bool{}
	for _, name := range names {
		if strings.HasSuffix(name, ".tmp") {
			os.Remove(filepath.Join(dir, name))
			continue
		}
		stem, ext, ok := strings.Cut(name, ".")
		if !ok || len(stem) != 16 {
			continue
		}
		n, err := strconv.ParseUint(stem, 16, 64)
		if err != nil {
			continue
		}
		switch ext {
		case "snap":
			snaps[n] = true
		case "log":
			logs[n] = true
		}
	}
	var bases []uint64
	for n := range snaps {
		if logs[n] {
			bases = append(bases, n)
		} else {
			os.Remove(filepath.Join(dir, snapName(n)))
		}
	}
	for n := range logs {
		if !snaps[n] {
			os.Remove(filepath.Join(dir, logName(n)))
		}
	}
	slices.Sort(bases)
	return bases, nil
}

// readNames returns the names in directory dir, in no order. Every open of
// an object with history lists its directory, so it reads the entries
// with plain system calls (os.ReadDir makes and sorts a DirEntry each).
func readNames(dir string) ([]string, error) {
	fd, err := openRaw(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var buf [8 << 10]byte
	var names []string
	for {
		n, err := unix.Getdents(fd, buf[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "readdirent", Path: dir, Err: err}
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}
