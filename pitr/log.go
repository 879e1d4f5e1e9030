package pitr

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/den-run/den"
)

// Log is the history of one object's database while the database is open.
// It is used by the database's owner alone, from one goroutine.
//
// Its life: [Log.Attach] once the database connection is open (and before
// anything checkpoints), [Log.Committed] after every COMMIT, [Log.Archive]
// before every checkpoint (after the WAL was made durable) and
// [Log.Checkpointed] after it, [Log.Close] when the database closes.
type Log struct {
	a     *Archive
	class string
	id    den.ID
	dir   string
	ret   time.Duration

	db, walPath string
	attached    bool

	// The history on disk.
	bases     []uint64          // complete snapshot+log pairs, oldest first
	baseInfo  map[uint64]txInfo // each pair's snapshot transaction
	pageSize  int               // of the history; 0 until known
	cur       *os.File          // the newest log, or nil
	curSize   int64
	sinceSnap int64                 // bytes of records in the newest log
	last      txInfo                // the newest archived transaction
	rebase    *txInfo               // a snapshot of the database file to write first, or nil
	index     map[uint64][]txRecord // each log's records, loaded for lookups

	// The write-ahead log.
	wal     *walFile
	walFD   int // SQLite's descriptor of the WAL, if useFD (UseWAL)
	useFD   bool
	hdr     walHeader
	hasHdr  bool
	scanEnd int64       // end of the last commit frame seen
	c1, c2  uint32      // the running checksum at scanEnd
	pending []pendingTx // committed and not archived, in order
	// spent: the salts of a WAL checkpointed and not truncated; its
	// header is not read again (SQLite writes a new one, with new salts,
	// at the next commit).
	spent    [2]uint32
	hasSpent bool
	nextTxid uint64
	lastTime int64

	// For page deltas: where each page's latest frame in this WAL is, up
	// to walIndexed; the database file, opened while archiving.
	walPages   map[uint32]int64
	walIndexed int64

	lazy bool // the newest pair is a first pair not yet made durable

	// Commits noted by CommittedFrames and not yet read from the WAL.
	marks   []commitMark
	markEnd int64
	dbf     *os.File // open only during archive

	win *walWindow // the WAL's unread frames while the WAL is open, or nil
}

// pendingTx is a transaction still only in the WAL.
type pendingTx struct {
	txInfo
	start int64
}

// Attach reads the history's tail and the database's WAL and works out how
// they relate: frames the history already holds are skipped; a database the
// history does not explain (its first attach, or a file changed behind the
// history's back) gets a new snapshot at the next Archive. Transactions
// found in the WAL are dated by the WAL file's modification time. db is the
// database file; its WAL is db + "-wal".
func (l *Log) Attach(db string) error {
	if l.attached {
		return errors.New("pitr: log already attached")
	}
	l.attached = true
	l.db, l.walPath = db, db+"-wal"
	l.baseInfo = map[uint64]txInfo{}
	l.index = map[uint64][]txRecord{}
	if err := l.loadHistory(); err != nil {
		return fmt.Errorf("read history: %w", err)
	}
	dbSize, err := fileSize(db)
	if err != nil {
		return err
	}
	if err := l.openWAL(); err != nil {
		return err
	}
	consistent := len(l.bases) > 0
	resumed := false
	if consistent && l.wal != nil && l.readWALHeader() && l.last.walEnd > 0 &&
		l.hdr.salt1 == l.last.salt1 && l.hdr.salt2 == l.last.salt2 {
		// The WAL the newest archived transaction came from: resume
		// after it if its commit frame is still there. If it is not,
		// nothing is known about the database file: start again.
		c1, c2, err := frameChecksumAt(l.wal, l.last.walEnd-l.hdr.frameSize())
		if err == nil && uint64(c1)<<32|uint64(c2) == l.last.hash {
			l.scanEnd, l.c1, l.c2 = l.last.walEnd, c1, c2
			resumed = true
		} else {
			consistent = false
			l.scanEnd, l.c1, l.c2 = walHeaderSize, l.hdr.c1, l.hdr.c2
		}
	}
	if consistent && !resumed {
		// Every earlier WAL was archived before it was checkpointed, so
		// the database file holds the newest archived state.
		consistent = l.pageSize > 0 && dbSize == int64(l.last.dbPages)*int64(l.pageSize)
	}
	l.nextTxid = l.last.txid + 1
	l.lastTime = l.last.time
	if !consistent {
		r := txInfo{txid: l.nextTxid, time: l.stamp(l.a.now()), hash: randomHash()}
		l.rebase = &r
		l.nextTxid++
		if l.wal != nil && !l.hasHdr {
			l.readWALHeader()
		}
	}
	if l.hasHdr {
		var at time.Time
		if size, mtime, err := l.wal.stat(); err == nil {
			at = mtime
			l.win = readWindow(l.wal, l.scanEnd, size)
		}
		if err := l.scan(at); err != nil {
			return err
		}
	}
	l.closeWAL()
	return l.prune()
}

// loadHistory reads the pairs on disk and the newest log's tail, cutting
// off a torn record.
func (l *Log) loadHistory() error {
	bases, err := listPairs(l.dir)
	if err != nil {
		return err
	}
	if len(bases) == 0 {
		return nil
	}
	// The newest log is opened once, for its header and its tail.
	newest := bases[len(bases)-1]
	f, err := openFile(filepath.Join(l.dir, logName(newest)), os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, b := range bases {
		var h logHeader
		if b == newest {
			h, err = readLogHeader(f)
		} else {
			h, err = l.readLogHeader(b)
		}
		if err != nil && len(bases) == 1 && unwritten(filepath.Join(l.dir, logName(b))) {
			// A lazy first pair whose header a crash lost: checkLazy
			// removes it.
			h = logHeader{lazy: true}
		} else if err != nil {
			return err
		}
		if h.lazy {
			if ok, err := l.checkLazy(b, h); err != nil || !ok {
				return err // a torn first pair is gone: the history starts again
			}
			l.lazy = true
		}
		l.baseInfo[b] = h.base
		l.pageSize = h.pageSize
	}
	l.bases = bases
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	l.last = l.baseInfo[newest]
	end, last, err := l.tail(f, size)
	if err != nil {
		return err
	}
	if end != size {
		// A crash tore the last append: cut it off.
		if err := f.Truncate(end); err != nil {
			return err
		}
		if err := l.a.syncFile(f.Name()); err != nil {
			return err
		}
	}
	if last != nil {
		l.last = last.txInfo
	}
	l.curSize, l.sinceSnap = end, end-logHeaderSize
	return nil
}

// tail returns the end of the last valid record of log f of size bytes and
// that record (nil if there is none). It reads the last record through its
// footer and falls back to reading the whole log if that fails.
func (l *Log) tail(f *os.File, size int64) (int64, *txRecord, error) {
	if size <= logHeaderSize {
		return logHeaderSize, nil, nil
	}
	foot := make([]byte, footerSize)
	if _, err := f.ReadAt(foot, size-footerSize); err == nil && binary.LittleEndian.Uint32(foot[4:]) == footerMagic {
		n := int64(binary.LittleEndian.Uint64(foot[8:]))
		if n > 0 && n <= size-logHeaderSize {
			rec, _, err := readRecord(f, size-n, size, l.pageSize, false)
			if err == nil {
				return size, &rec, nil
			}
		}
	}
	var last *txRecord
	off := int64(logHeaderSize)
	for off < size {
		rec, _, err := readRecord(f, off, size, l.pageSize, false)
		if err != nil {
			break
		}
		last = &rec
		off += rec.size()
	}
	return off, last, nil
}

func (l *Log) readLogHeader(base uint64) (logHeader, error) {
	f, err := openFile(filepath.Join(l.dir, logName(base)), os.O_RDONLY, 0)
	if err != nil {
		return logHeader{}, err
	}
	defer f.Close()
	return readLogHeader(f)
}

// readLogHeader reads the header of log f.
func readLogHeader(f *os.File) (logHeader, error) {
	b := make([]byte, logHeaderSize)
	if _, err := f.ReadAt(b, 0); err != nil {
		return logHeader{}, fmt.Errorf("%s: %w", f.Name(), err)
	}
	return decodeLogHeader(b)
}

// readWALHeader reads the WAL's header if it has a valid one and reports
// whether it does. A new header starts a new WAL: nothing of it is
// archived yet.
func (l *Log) readWALHeader() bool {
	b := make([]byte, walHeaderSize)
	if _, err := l.reader().ReadAt(b, 0); err != nil {
		return false
	}
	h, err := parseWALHeader(b)
	if err != nil {
		return false
	}
	if l.hasSpent && h.salt1 == l.spent[0] && h.salt2 == l.spent[1] {
		return false // checkpointed: nothing of it is new
	}
	l.hdr, l.hasHdr = h, true
	l.walPages, l.walIndexed = nil, 0
	l.scanEnd, l.c1, l.c2 = walHeaderSize, h.c1, h.c2
	if l.pageSize != 0 && l.pageSize != h.pageSize && l.rebase == nil {
		// The page size changed (VACUUM): the history starts again.
		r := txInfo{txid: l.nextTxid, time: l.stamp(l.a.now()), hash: randomHash()}
		l.rebase = &r
		l.nextTxid++
	}
	return true
}

// Committed records the transactions committed to the WAL since the last
// call: it reads their frames, checking the checksum chain, and dates each
// by its CommittedFrames note, or now. Call it before Current, ForTime,
// Check and Info; Archive calls it itself. A call that finds nothing new
// costs one small read.
func (l *Log) Committed() error {
	defer l.closeWAL()
	return l.catchUp()
}

// CommittedFrames notes a commit that left the WAL with frames frames, dated
// now, without reading anything (SQLite's WAL hook tells the count after
// every commit): the next Committed or Archive reads the transaction and
// gives it this time. It keeps WALSize current.
func (l *Log) CommittedFrames(frames int64) error {
	if l.pageSize == 0 {
		return l.Committed() // the frame size is not known yet: read the WAL
	}
	end := walHeaderSize + frames*int64(frameHeaderSize+l.pageSize)
	if end <= max(l.scanEnd, l.markEnd) {
		return nil
	}
	l.marks = append(l.marks, commitMark{end: end, at: l.a.now()})
	l.markEnd = end
	return nil
}

// commitMark is a commit noted by CommittedFrames and not yet read.
type commitMark struct {
	end int64 // where its commit frame ends in the WAL
	at  time.Time
}

// catchUp reads the transactions committed to the WAL and not yet read,
// opening the WAL; the caller closes it (closeWAL).
func (l *Log) catchUp() error {
	if err := l.openWAL(); err != nil || l.wal == nil {
		return err
	}
	if l.win == nil && l.markEnd > 0 {
		// The WAL hook told where the last commit ends: read everything
		// not yet archived at once.
		from := int64(0)
		if len(l.pending) > 0 {
			from = l.pending[0].start
		} else if l.hasHdr {
			from = l.scanEnd
		}
		l.win = readWindow(l.wal, from, l.markEnd)
	}
	if !l.hasHdr && !l.readWALHeader() {
		return nil
	}
	return l.scan(l.a.now())
}

// reader reads the WAL, through the window where it holds the bytes.
func (l *Log) reader() io.ReaderAt {
	if l.win != nil {
		return l.win
	}
	return l.wal
}

// UseWAL has the log read the WAL through fd, the database connection's
// own descriptor of it, instead of opening it by path: a live object's log
// reads the WAL after every commit. Call it before Attach; fd must stay
// open until Close.
func (l *Log) UseWAL(fd int) {
	l.walFD, l.useFD = fd, true
}

// openWAL opens the WAL for reading if it exists and is not open.
func (l *Log) openWAL() error {
	if l.wal != nil {
		return nil
	}
	if l.useFD {
		l.wal = &walFile{fd: l.walFD, path: l.walPath, borrowed: true}
		return nil
	}
	f, err := openWALFile(l.walPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("history: open WAL: %w", err)
	}
	l.wal = f
	return nil
}

// closeWAL closes the WAL between uses: a live object's descriptors are
// counted against the process's limit.
func (l *Log) closeWAL() {
	l.win.release()
	l.win = nil
	if l.wal != nil {
		l.wal.Close()
		l.wal = nil
	}
}

// scan records the transactions after scanEnd, dated by their notes, or at.
func (l *Log) scan(at time.Time) error {
	// The frame buffer is borrowed for the scan, not kept: a live object's
	// Log would otherwise hold a frame (4 KiB and more) between commits.
	buf := frameBuffer()
	txs, err := scanWAL(l.reader(), l.hdr, l.scanEnd, l.c1, l.c2, l.markEnd, buf)
	framePool.Put(buf)
	if err != nil {
		return fmt.Errorf("history: read WAL: %w", err)
	}
	for _, tx := range txs {
		when := at
		for len(l.marks) > 0 && l.marks[0].end <= tx.end {
			if l.marks[0].end == tx.end {
				when = l.marks[0].at
			}
			l.marks = l.marks[1:]
		}
		t := txInfo{txid: l.nextTxid, time: l.stamp(when), hash: tx.hash(), dbPages: tx.dbPages,
			salt1: l.hdr.salt1, salt2: l.hdr.salt2, walEnd: tx.end}
		l.nextTxid++
		l.pending = append(l.pending, pendingTx{txInfo: t, start: tx.start})
		l.scanEnd, l.c1, l.c2 = tx.end, tx.c1, tx.c2
	}
	if len(l.marks) == 0 {
		l.marks = nil
	}
	return nil
}

// stamp returns t as a transaction time: never before the previous one.
func (l *Log) stamp(t time.Time) int64 {
	n := t.UnixNano()
	if n <= l.lastTime {
		n = l.lastTime + 1
	}
	l.lastTime = n
	return n
}

// WALSize returns how far the WAL holds committed frames, in bytes.
func (l *Log) WALSize() int64 { return max(l.scanEnd, l.markEnd) }

// Empty reports whether the history holds nothing yet: no transaction was
// ever archived for the object.
func (l *Log) Empty() bool { return len(l.bases) == 0 }

// Archive appends the transactions committed to the WAL since the last
// Archive to the history, and makes them durable. The caller must have made
// the WAL durable first, so that the history never holds a transaction a
// crash could take back from the database.
func (l *Log) Archive() error { return l.archive(true, -1) }

// ArchiveKept appends the transactions committed since the last Archive, as
// Archive does, but leaves the append to the page cache: for a database that
// closes and keeps its WAL, which stays the durable copy of those
// transactions. A crash that loses the append loses nothing: the next Attach
// resumes after the last record that survived and reads the rest from the
// WAL (dating them by its modification time). An object's first pair is
// written lazily too (see lazy.go).
func (l *Log) ArchiveKept() error { return l.archive(false, -1) }

// ArchiveDurable appends, as ArchiveKept does (no sync), the transactions
// whose commit frames end at or before end in the WAL: the caller knows that
// much of the WAL is durable. A live object archives so in steps, so that
// the checkpoint need not archive the whole WAL at once while its turns
// wait; the checkpoint's Archive then syncs the log, steps included.
func (l *Log) ArchiveDurable(end int64) error { return l.archive(false, end) }

// archive appends the pending transactions, those that end at or before
// limit if limit is not negative, and syncs the log if durable.
func (l *Log) archive(durable bool, limit int64) error {
	defer l.closeFiles()
	if err := l.catchUp(); err != nil {
		return err
	}
	n := len(l.pending)
	if limit >= 0 {
		n = 0
		for n < len(l.pending) && l.pending[n].walEnd <= limit {
			n++
		}
	}
	batch := l.pending[:n]
	if len(batch) == 0 && l.rebase == nil {
		if durable && l.lazy {
			return l.makeDurable()
		}
		return nil
	}
	if l.rebase != nil || len(l.bases) == 0 {
		if err := l.snapshotRebase(!durable); err != nil {
			return fmt.Errorf("history: snapshot: %w", err)
		}
	}
	if durable && l.lazy {
		if err := l.makeDurable(); err != nil {
			return err
		}
	}
	if len(batch) == 0 {
		return nil
	}
	fs := l.hdr.frameSize()
	// The transactions' frames are contiguous in the WAL: read them at once.
	first, end := batch[0].start, batch[len(batch)-1].walEnd
	size := int(end - first)
	frames := l.win.view(first, size)
	if frames == nil {
		frames = make([]byte, size)
		if _, err := l.wal.ReadAt(frames, first); err != nil {
			return fmt.Errorf("history: read WAL: %w", err)
		}
	}
	if err := l.indexWAL(first, end); err != nil {
		return err
	}
	ps := int64(l.pageSize)
	if l.hdr.pageSize != l.pageSize {
		return fmt.Errorf("history: WAL page size %d, history %d", l.hdr.pageSize, l.pageSize)
	}
	dbPages, err := fileSize(l.db)
	if err != nil {
		return err
	}
	dbPages /= ps
	base := make([]byte, ps)
	out := make([]byte, 0, len(frames)/8+txHeaderSize+footerSize)
	sizes := make([]int64, len(batch))
	for i, p := range batch {
		n := int((p.walEnd - p.start) / fs)
		start := len(out)
		out = p.appendHeader(out, n, 0)
		for off := p.start - first; off < p.walEnd-first; off += fs {
			frame := frames[off : off+fs]
			pgno := binary.BigEndian.Uint32(frame)
			page := frame[frameHeaderSize:]
			kind, err := l.baseOf(pgno, first, frames, dbPages, base)
			if err != nil {
				return err
			}
			out = append(out, frame[0:4]...) // the page number, big-endian as in the WAL
			out = append(out, kind)
			var crc uint32
			var b []byte
			if kind == kindPrev {
				crc, b = crc32c(base), base
			}
			out = binary.LittleEndian.AppendUint32(out, crc)
			lenAt := len(out)
			out = append(out, 0, 0, 0, 0)
			out = appendDelta(out, page, b)
			binary.LittleEndian.PutUint32(out[lenAt:], uint32(len(out)-lenAt-4))
			l.walPages[pgno] = first + off
		}
		binary.LittleEndian.PutUint64(out[start+56:], uint64(len(out)-start-txHeaderSize))
		crc := crc32c(out[start:])
		out = append(out, encodeFooter(crc, int64(len(out)-start)+footerSize)...)
		sizes[i] = int64(len(out) - start)
	}
	if err := l.openCur(); err != nil {
		return err
	}
	if _, err := l.cur.WriteAt(out, l.curSize); err != nil {
		return fmt.Errorf("history: append: %w", err)
	}
	if durable {
		if err := l.a.syncFile(l.cur.Name()); err != nil {
			return fmt.Errorf("history: sync: %w", err)
		}
	}
	last := l.bases[len(l.bases)-1]
	off := l.curSize
	for i, p := range batch {
		n := int((p.walEnd - p.start) / fs)
		if idx, ok := l.index[last]; ok {
			l.index[last] = append(idx, txRecord{txInfo: p.txInfo, off: off, frames: n, payload: sizes[i] - txHeaderSize - footerSize, compact: true})
		}
		off += sizes[i]
	}
	l.curSize += int64(len(out))
	l.sinceSnap += int64(len(out))
	l.last = batch[len(batch)-1].txInfo
	l.pending = append(l.pending[:0], l.pending[n:]...)
	return nil
}

// closeDB closes the database file baseOf opened: a live object's
// descriptors are counted, and archives are rare.
func (l *Log) closeDB() {
	if l.dbf != nil {
		l.dbf.Close()
		l.dbf = nil
	}
}

// openCur opens the newest log for appending if it is not open.
func (l *Log) openCur() error {
	if l.cur != nil {
		return nil
	}
	f, err := openFile(filepath.Join(l.dir, logName(l.bases[len(l.bases)-1])), os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	l.cur = f
	return nil
}

func (l *Log) closeCur() {
	if l.cur != nil {
		l.cur.Close()
		l.cur = nil
	}
}

// closeFiles closes what archiving opened: the log, the WAL and the
// database file are opened for each use and closed after it.
func (l *Log) closeFiles() {
	l.closeCur()
	l.closeWAL()
	l.closeDB()
}

// indexWAL notes where in the WAL each page's latest frame before first
// is, reading the frame headers the index lacks (on the first archive after
// the database opened with a WAL archived in part), and marks the frames up
// to end as indexed (the archive records them as it goes).
func (l *Log) indexWAL(first, end int64) error {
	if l.walPages == nil {
		l.walPages = map[uint32]int64{}
	}
	fs := l.hdr.frameSize()
	if l.walIndexed < walHeaderSize {
		l.walIndexed = walHeaderSize
	}
	// Read the frames in chunks, for their headers: one system call per
	// 64 frames, not one per frame.
	const chunkFrames = 64
	var buf []byte
	for off := l.walIndexed; off < first; {
		n := min((first-off)/fs, chunkFrames)
		if need := int(n * fs); cap(buf) < need {
			buf = make([]byte, need)
		}
		b := buf[:n*fs]
		if _, err := l.reader().ReadAt(b, off); err != nil {
			return fmt.Errorf("history: read WAL: %w", err)
		}
		for i := int64(0); i < n; i++ {
			l.walPages[binary.BigEndian.Uint32(b[i*fs:])] = off + i*fs
		}
		off += n * fs
	}
	l.walIndexed = end
	return nil
}

// baseOf fills base with page pgno as the history holds it before the
// frame being archived, and returns kindPrev; or returns kindZero when that
// page is not known for sure. The history's page is the page's latest frame
// in this WAL (every frame of it is archived in order), or else the
// database file's page: the file changes only at checkpoints, which copy
// archived frames. A page past the file's end may have been cut off by a
// checkpoint after the history recorded it: it is not known.
func (l *Log) baseOf(pgno uint32, first int64, frames []byte, dbPages int64, base []byte) (byte, error) {
	fs := l.hdr.frameSize()
	if off, ok := l.walPages[pgno]; ok {
		if off >= first {
			copy(base, frames[off-first+frameHeaderSize:off-first+fs])
			return kindPrev, nil
		}
		if _, err := l.reader().ReadAt(base, off+frameHeaderSize); err != nil {
			return 0, fmt.Errorf("history: read WAL: %w", err)
		}
		return kindPrev, nil
	}
	if pgno == 0 || int64(pgno) > dbPages {
		return kindZero, nil
	}
	if l.dbf == nil {
		f, err := openFile(l.db, os.O_RDONLY, 0)
		if err != nil {
			return 0, fmt.Errorf("history: %w", err)
		}
		l.dbf = f
	}
	if _, err := l.dbf.ReadAt(base, (int64(pgno)-1)*int64(len(base))); err != nil {
		return 0, fmt.Errorf("history: read database: %w", err)
	}
	return kindPrev, nil
}

// Checkpointed tells the log that the database was checkpointed: the
// database file now holds the newest archived state, and the WAL was
// truncated or will start again at the next commit (SQLite's RESTART: the
// file is kept and written over, with new salts). Every committed
// transaction must have been archived. It takes a snapshot when
// the newest log has grown past the database's size, and prunes the history
// past the retention window.
func (l *Log) Checkpointed() error {
	if len(l.pending) > 0 {
		return errors.New("history: checkpointed with transactions not archived")
	}
	defer l.closeFiles()
	if l.hasHdr {
		l.spent, l.hasSpent = [2]uint32{l.hdr.salt1, l.hdr.salt2}, true
	}
	l.hasHdr, l.scanEnd, l.c1, l.c2 = false, 0, 0, 0
	l.marks, l.markEnd = nil, 0
	l.walPages, l.walIndexed = nil, 0
	if len(l.bases) > 0 && l.rebase == nil {
		size, err := fileSize(l.db)
		if err != nil {
			return err
		}
		if l.sinceSnap > 0 && l.sinceSnap >= max(size, minSnapshotBytes) {
			if err := l.writePair(l.last, size); err != nil {
				return fmt.Errorf("history: snapshot: %w", err)
			}
		}
	}
	return l.prune()
}

// minSnapshotBytes is the least log growth that starts a new snapshot, so
// that a tiny database is not copied at every checkpoint.
const minSnapshotBytes = 64 << 20

// snapshotRebase writes the pair that starts the history, or starts it
// again: the database file as it is (it changes only at checkpoints, which
// follow an Archive) as the state after the rebase transaction. The first
// pair of a history is written lazily if the caller may (see lazy.go).
func (l *Log) snapshotRebase(mayBeLazy bool) error {
	if l.rebase == nil {
		// No pair yet and no rebase: cannot happen, as Attach sets one
		// for an empty history.
		return errors.New("history has no snapshot")
	}
	size, err := fileSize(l.db)
	if err != nil {
		return err
	}
	if l.hasHdr {
		l.pageSize = l.hdr.pageSize
	} else if l.pageSize == 0 {
		l.pageSize = dbPageSize(l.db)
	}
	r := *l.rebase
	r.dbPages = uint32(size / int64(l.pageSize))
	write := l.writePair
	if mayBeLazy && len(l.bases) == 0 {
		write = l.writeLazyPair
	}
	if err := write(r, size); err != nil {
		return err
	}
	l.last, l.rebase = r, nil
	return nil
}

// writePair copies the database file as the snapshot of base and starts an
// empty log after it, then makes both durable. size is the file's size.
func (l *Log) writePair(base txInfo, size int64) error {
	if err := l.a.mkdirs(l.dir); err != nil {
		return err
	}
	snap := filepath.Join(l.dir, snapName(base.txid))
	if err := l.copyDurably(l.db, snap, size); err != nil {
		return err
	}
	logPath := filepath.Join(l.dir, logName(base.txid))
	tmp := logPath + ".tmp"
	hdr := logHeader{pageSize: l.pageSize, base: base}
	if err := os.WriteFile(tmp, hdr.encode(), 0o600); err != nil {
		return err
	}
	if err := l.a.syncFile(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, logPath); err != nil {
		return err
	}
	if err := l.a.syncFile(l.dir); err != nil {
		return err
	}
	return l.startLog(logPath, base)
}

// startLog opens the new pair's log at path, empty, as the newest.
func (l *Log) startLog(path string, base txInfo) error {
	f, err := openFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	l.useLog(f, base)
	return nil
}

// useLog makes f, the new pair's log, empty, the newest.
func (l *Log) useLog(f *os.File, base txInfo) {
	if l.cur != nil {
		l.cur.Close()
	}
	l.cur, l.curSize, l.sinceSnap = f, logHeaderSize, 0
	l.bases = append(l.bases, base.txid)
	l.baseInfo[base.txid] = base
	l.index[base.txid] = []txRecord{}
}

// copyDurably copies the first size bytes of src to dst through a temporary
// file, synced before it is renamed into place.
func (l *Log) copyDurably(src, dst string, size int64) error {
	in, err := openFile(src, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := openFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, io.LimitReader(in, size))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = l.a.syncFile(tmp)
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// prune deletes the pairs that no bookmark within the retention window
// needs: those older than the newest pair whose snapshot is at or before
// the window's start.
func (l *Log) prune() error {
	cutoff := l.a.now().Add(-l.ret).UnixNano()
	keep := 0
	for i, b := range l.bases {
		if l.baseInfo[b].time <= cutoff {
			keep = i
		}
	}
	if keep == 0 {
		return nil
	}
	for _, b := range l.bases[:keep] {
		for _, name := range []string{logName(b), snapName(b)} {
			if err := os.Remove(filepath.Join(l.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("history: prune: %w", err)
			}
		}
		delete(l.baseInfo, b)
		delete(l.index, b)
	}
	l.bases = append(l.bases[:0], l.bases[keep:]...)
	return nil
}

// Close closes the log's files. The history stays on disk.
func (l *Log) Close() error {
	var first error
	for _, f := range []*os.File{l.cur, l.dbf} {
		if f != nil {
			if err := f.Close(); err != nil && first == nil {
				first = err
			}
		}
	}
	if err := l.wal.Close(); err != nil && first == nil {
		first = err
	}
	l.cur, l.wal, l.dbf = nil, nil, nil
	l.win.release()
	l.win = nil
	return first
}

func fileSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// dbPageSize reads the page size from a database file's header, 4096 if it
// has none.
func dbPageSize(path string) int {
	f, err := openFile(path, os.O_RDONLY, 0)
	if err != nil {
		return 4096
	}
	defer f.Close()
	var b [2]byte
	if _, err := f.ReadAt(b[:], 16); err != nil {
		return 4096
	}
	n := int(binary.BigEndian.Uint16(b[:]))
	if n == 1 {
		return 65536
	}
	if n < 512 || n&(n-1) != 0 {
		return 4096
	}
	return n
}

func randomHash() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])
}
