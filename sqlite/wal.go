package sqlite

import (
	"os"
	"time"

	"modernc.org/libc"
	lib "modernc.org/sqlite/lib"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"

	"github.com/den-run/den"
)

// Log is the point-in-time history of one object's database, as the DB
// drives it (pitr.Log implements it). The DB calls its methods from its
// owner's goroutine only:
//
//   - Attach once the connection is open, before anything checkpoints;
//   - CommittedFrames after every COMMIT that wrote (SQLite's WAL hook
//     gives the WAL's frame count), or Committed, which reads the WAL, after
//     a write the hook does not see (a backup) and before any lookup;
//   - ArchiveDurable, now and then, for the part of the WAL that barriers
//     made durable, so that a checkpoint has less left to archive;
//   - Archive before every checkpoint, once the WAL is durable, and
//     Checkpointed after it;
//   - Close when the database closes.
//
// The DB takes checkpoints over from SQLite (wal_autocheckpoint=0), so no
// WAL frame is overwritten before Archive has copied it.
type Log interface {
	Attach(db string) error
	Committed() error
	CommittedFrames(frames int64) error
	WALSize() int64
	Archive() error
	ArchiveKept() error
	ArchiveDurable(end int64) error
	Checkpointed() error
	Empty() bool
	Current() (den.Bookmark, error)
	ForTime(t time.Time) (den.Bookmark, error)
	Check(bm den.Bookmark) (inWAL bool, err error)
	WriteImage(bm den.Bookmark, dst *os.File) error
	PendingRestore() string
	Stage(build func(f *os.File) error) error
	Unstage() error
	TempFile() (*os.File, error)
	Info() (den.HistoryInfo, error)
	Close() error
}

// walUser is a Log that can read the WAL through SQLite's own descriptor
// (pitr.Log): a live object's history reads the WAL after every commit,
// and opening it by path each time cost 3–6% of the CPU of the
// round-robin benchmark. The descriptor is SQLite's: valid until the
// connection closes, which is after the Log's Close.
type walUser interface {
	UseWAL(fd int)
}

// DefaultCheckpointBytes is the WAL size past which a commit checkpoints,
// about SQLite's own default of 1,000 pages.
const DefaultCheckpointBytes = 4 << 20

// history is a DB's point-in-time history (nil in a DB without one).
type history struct {
	log        Log
	checkpoint int64 // WAL bytes that trigger a checkpoint after a commit
	restored   bool  // opening the database applied a staged restore
	wrote      bool  // a turn committed a write since the database opened
	broken     bool  // a history call failed: stop feeding it
	seenWAL    int64 // WALSize at the last noteWAL
	restarted  bool  // a RESTART checkpoint left the WAL file larger than the WAL
	// For archiving in steps: each commit's sync token and the WAL's end
	// after it, until a barrier made it durable; and how far the WAL is
	// archived.
	ends     []walEnd
	archived int64

	frames uintptr // C memory the WAL hook writes: the WAL's frames after a commit; 0 without a hook
}

// walEnd is where the WAL ended after the commit of a sync token.
type walEnd struct {
	token uint64
	end   int64
}

// archiveStep is how much durable, unarchived WAL makes a commit archive
// it (ArchiveDurable): an eighth of the checkpoint size, so a checkpoint
// archives at most about that much while the object's turns wait.
func (h *history) archiveStep() int64 { return h.checkpoint / 8 }

// walHook is SQLite's WAL hook: after every commit that wrote, it stores the
// WAL's frame count where arg points. An object's database has one WAL
// (ATTACH is refused).
func walHook(tls *libc.TLS, arg, db, zDb uintptr, frames int32) int32 {
	*(*int64)(cmem(arg)) = int64(frames)
	return 0
}

// hookWAL installs the WAL hook (after wal_autocheckpoint=0, which removes
// SQLite's own). Without one (no memory), every commit reads the WAL.
func (h *history) hookWAL(d *DB) {
	p := libc.Xcalloc(d.sql.tls, 1, 8)
	if p == 0 {
		return
	}
	h.frames = p
	lib.Xsqlite3_wal_hook(d.sql.tls, connHandleOf(d.conn), cFunc(walHook), p)
}

// unhookWAL removes the WAL hook and frees its memory; before the
// connection closes.
func (h *history) unhookWAL(d *DB) {
	if h == nil || h.frames == 0 {
		return
	}
	lib.Xsqlite3_wal_hook(d.sql.tls, connHandleOf(d.conn), 0, 0)
	libc.Xfree(d.sql.tls, h.frames)
	h.frames = 0
}

// takeFrames returns the frame count the WAL hook stored since the last
// call, or 0 if no commit wrote; without a hook, -1 (read the WAL).
func (h *history) takeFrames() int64 {
	if h.frames == 0 {
		return -1
	}
	p := (*int64)(cmem(h.frames))
	n := *p
	*p = 0
	return n
}

// attachHistory takes checkpoints over from SQLite and attaches log to the
// freshly opened database d, then applies a restore staged for it.
func (d *DB) attachHistory(log Log, checkpointBytes int64) error {
	// wal_autocheckpoint=0 through the C API, not a parsed pragma: it runs
	// on every activation.
	if rc := lib.Xsqlite3_wal_autocheckpoint(d.sql.tls, connHandleOf(d.conn), 0); rc != lib.SQLITE_OK {
		return sqlError("open object db: history", sqlite.ResultCode(rc).ToError())
	}
	if checkpointBytes <= 0 {
		checkpointBytes = DefaultCheckpointBytes
	}
	if u, ok := log.(walUser); ok {
		if fd, ok := walDescriptor(d.conn); ok {
			u.UseWAL(fd)
		}
	}
	if err := log.Attach(d.path); err != nil {
		log.Close()
		return den.Errorf(den.EINTERNAL, "open object db: history: %w", err)
	}
	d.hist = &history{log: log, checkpoint: checkpointBytes, seenWAL: log.WALSize()}
	d.hist.hookWAL(d)
	d.writeSeq.Store(1) // the WAL found at open: not known durable
	if p := log.PendingRestore(); p != "" {
		if err := d.applyRestore(p); err != nil {
			return err
		}
	}
	return nil
}

// afterCommit records the commit in the history and checkpoints if the WAL
// has grown past its limit. An error breaks the DB: the history would miss
// a transaction.
func (d *DB) afterCommit() error {
	h := d.hist
	if h == nil {
		return nil
	}
	h.wrote = h.wrote || d.dirty
	var err error
	switch n := h.takeFrames(); {
	case n > 0:
		err = h.log.CommittedFrames(n)
	case n < 0:
		err = h.log.Committed()
	}
	if err != nil {
		return den.Errorf(den.EINTERNAL, "commit: history: %w", err)
	}
	if d.noteWAL() {
		h.ends = append(h.ends, walEnd{d.writeSeq.Load(), h.log.WALSize()})
	}
	if h.log.WALSize() >= h.checkpoint {
		return d.checkpoint("RESTART")
	}
	return d.archiveDurable()
}

// archiveDurable archives the WAL that barriers made durable, if it is at
// least a step past what is archived. The WAL stays the durable copy of
// those transactions, so the append is not synced (the checkpoint's Archive
// syncs it).
func (d *DB) archiveDurable() error {
	h := d.hist
	durable, end, i := d.durableSeq.Load(), int64(-1), 0
	for ; i < len(h.ends) && h.ends[i].token <= durable; i++ {
		end = h.ends[i].end
	}
	if i > 0 {
		h.ends = append(h.ends[:0], h.ends[i:]...)
	}
	if end < 0 || end-h.archived < h.archiveStep() {
		return nil
	}
	if err := h.log.ArchiveDurable(end); err != nil {
		return den.Errorf(den.EINTERNAL, "commit: history: %w", err)
	}
	h.archived = end
	return nil
}

// checkpoint archives the WAL's transactions, then copies them into the
// database file. The WAL is made durable first, so the history never holds
// a transaction a crash could take back.
//
// mode is SQLite's: "RESTART" for a checkpoint after a commit, which keeps
// the WAL file for the next commits to write over. Writing over blocks
// that are already allocated lets fdatasync skip the filesystem journal;
// growing a truncated file again made every barrier's sync about twice as
// long (measured: 0.5 ms against 1.1 ms). "TRUNCATE" at close, so an object
// at rest keeps no large WAL on disk.
func (d *DB) checkpoint(mode string) error {
	h := d.hist
	if err := d.Sync(); err != nil {
		return err
	}
	if err := h.log.Archive(); err != nil {
		return den.Errorf(den.EINTERNAL, "checkpoint: archive: %w", err)
	}
	if err := d.syncOn(); err != nil {
		return sqlError("checkpoint", err)
	}
	var busy bool
	err := sqlitex.ExecuteTransient(d.conn, "PRAGMA wal_checkpoint("+mode+")", &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error { busy = stmt.ColumnInt(0) != 0; return nil },
	})
	if err != nil {
		return sqlError("checkpoint", err)
	}
	if busy {
		return den.Errorf(den.EINTERNAL, "checkpoint: the WAL is in use")
	}
	if err := h.log.Checkpointed(); err != nil {
		return den.Errorf(den.EINTERNAL, "checkpoint: history: %w", err)
	}
	h.restarted = mode == "RESTART"
	h.ends, h.archived = h.ends[:0], 0 // offsets in a WAL that starts again
	return nil
}

// noteWAL counts a change of the WAL since the last call (a commit that
// wrote, or a checkpoint) as a write for Sync's bookkeeping, and reports
// whether there was one.
func (d *DB) noteWAL() bool {
	h := d.hist
	if n := h.log.WALSize(); n != h.seenWAL {
		h.seenWAL = n
		d.writeSeq.Add(1)
		return true
	}
	return false
}

// closeHistory runs before the connection closes, in place of Close's own
// checkpointLarge. A database left empty that has no history and took no
// write from a turn (an object addressed but never written) is removed with
// nothing archived (keep reports false). Any other archives its last
// transactions, and checkpoints if its WAL is large; its file is kept (keep
// reports true), even if empty, since its history refers to it: data
// written and deleted in one session can still be restored.
func (d *DB) closeHistory(empty bool) (keep bool, err error) {
	h := d.hist
	if h == nil {
		return false, nil
	}
	defer h.log.Close()
	if d.err != nil {
		return true, nil // broken: the WAL is archived at the next open
	}
	if empty && h.log.Empty() && !h.wrote {
		return false, nil
	}
	// Every commit reached the log (the WAL hook, or Committed after a
	// write the hook does not see), so WALSize is current without reading
	// the WAL; the archive below reads it once.
	d.noteWAL()
	if h.log.WALSize() >= closeCheckpointBytes || h.restarted && walFileSize(d.wal) >= closeCheckpointBytes {
		// The file too: after a RESTART checkpoint it may hold a
		// short WAL in front of old frames.
		return true, d.checkpoint("TRUNCATE")
	}
	// A small WAL stays for the next session, as without history, but its
	// transactions are archived now, with their commit times; the next
	// open resumes after them. The WAL stays the durable copy, so the log
	// append is not synced (ArchiveKept). The WAL is synced here only if
	// some write is not known durable: the output gate's barriers have
	// usually made every one of them durable already.
	if d.unsynced() {
		if err := d.Sync(); err != nil {
			return true, err
		}
	}
	if err := h.log.ArchiveKept(); err != nil {
		return true, den.Errorf(den.EINTERNAL, "close object db: archive: %w", err)
	}
	return true, nil
}

// walFileSize returns the size of the WAL file at path, 0 if there is none.
func walFileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// closeWithoutCheckpoint closes a DB opened only to read it (ScanAlarms):
// a checkpoint here would move WAL frames the history has not archived
// into the database file.
func (d *DB) closeWithoutCheckpoint() error {
	d.closeSQL()
	err := d.closeConnection()
	d.err = den.Errorf(den.EINTERNAL, "object db is closed")
	return err
}
