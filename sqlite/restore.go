package sqlite

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"

	"github.com/den-run/den"
)

var _ den.HistoryDatabase = (*DB)(nil)

// errNoHistory is returned by the history methods of a DB whose Store keeps
// none.
var errNoHistory = den.Errorf(den.EINVALID, den.MsgNoHistory)

// hist returns the DB's history, or an error if it has none or is broken.
func (d *DB) histOrErr() (*history, error) {
	if d.err != nil {
		return nil, d.err
	}
	if d.hist == nil {
		return nil, errNoHistory
	}
	return d.hist, nil
}

// CurrentBookmark returns a bookmark for the last committed state. The
// caller makes the commits durable first (the actor waits for the barrier).
func (d *DB) CurrentBookmark() (string, error) {
	h, err := d.histOrErr()
	if err != nil {
		return "", err
	}
	if err := h.log.Committed(); err != nil {
		return "", den.Errorf(den.EINTERNAL, "bookmark: %w", err)
	}
	bm, err := h.log.Current()
	if err != nil {
		return "", err
	}
	return bm.String(), nil
}

// BookmarkForTime returns a bookmark for the last state committed at or
// before t.
func (d *DB) BookmarkForTime(t time.Time) (string, error) {
	h, err := d.histOrErr()
	if err != nil {
		return "", err
	}
	if err := h.log.Committed(); err != nil {
		return "", den.Errorf(den.EINTERNAL, "bookmark: %w", err)
	}
	bm, err := h.log.ForTime(t)
	if err != nil {
		return "", err
	}
	return bm.String(), nil
}

// History describes the database's history.
func (d *DB) History() (den.HistoryInfo, error) {
	h, err := d.histOrErr()
	if err != nil {
		return den.HistoryInfo{}, err
	}
	if err := h.log.Committed(); err != nil {
		return den.HistoryInfo{}, den.Errorf(den.EINTERNAL, "history: %w", err)
	}
	return h.log.Info()
}

// Restored reports whether opening the database applied a staged restore.
func (d *DB) Restored() bool { return d.hist != nil && d.hist.restored }

// archived checks bookmark and archives the WAL if the state it names is
// still only there, so the history can rebuild it.
func (d *DB) archived(h *history, bookmark string) (den.Bookmark, error) {
	bm, err := den.ParseBookmark(bookmark)
	if err != nil {
		return bm, err
	}
	if err := h.log.Committed(); err != nil {
		return bm, den.Errorf(den.EINTERNAL, "history: %w", err)
	}
	inWAL, err := h.log.Check(bm)
	if err != nil {
		return bm, err
	}
	if inWAL {
		if err := d.Sync(); err != nil {
			return bm, err
		}
		if err := h.log.Archive(); err != nil {
			return bm, den.Errorf(den.EINTERNAL, "history: archive: %w", err)
		}
	}
	return bm, nil
}

// StageRestore stages the state bookmark names to replace the database when
// it is next opened.
func (d *DB) StageRestore(bookmark string) error {
	h, err := d.histOrErr()
	if err != nil {
		return err
	}
	bm, err := d.archived(h, bookmark)
	if err != nil {
		return err
	}
	return h.log.Stage(func(f *os.File) error { return h.log.WriteImage(bm, f) })
}

// StageImage stages the SQLite database r reads to replace the database
// when it is next opened, with its alarm deleted if clearAlarm. The file
// must pass SQLite's quick_check, have this database's page size and fit
// its size cap.
func (d *DB) StageImage(r io.Reader, clearAlarm bool) error {
	h, err := d.histOrErr()
	if err != nil {
		return err
	}
	pageSize, maxPages, err := d.pageLimits()
	if err != nil {
		return err
	}
	return h.log.Stage(func(f *os.File) error {
		n, err := io.Copy(f, io.LimitReader(r, pageSize*maxPages+1))
		if err != nil {
			return den.Errorf(den.EINTERNAL, "import: %w", err)
		}
		if n > pageSize*maxPages {
			return den.Errorf(den.ELIMIT, "import: the database is larger than this object's cap of %d bytes", pageSize*maxPages)
		}
		return prepareImage(f, pageSize, clearAlarm)
	})
}

// pageLimits returns the database's page size and its cap in pages.
func (d *DB) pageLimits() (pageSize, maxPages int64, err error) {
	for q, p := range map[string]*int64{"PRAGMA page_size": &pageSize, "PRAGMA max_page_count": &maxPages} {
		err := sqlitex.ExecuteTransient(d.conn, q, &sqlitex.ExecOptions{
			ResultFunc: func(stmt *sqlite.Stmt) error { *p = stmt.ColumnInt64(0); return nil },
		})
		if err != nil {
			return 0, 0, sqlError("import", err)
		}
	}
	return pageSize, maxPages, nil
}

// prepareImage checks the database file f as an image to restore (SQLite's
// header, rollback journal mode, the page size, quick_check) and deletes its
// alarm if clearAlarm.
func prepareImage(f *os.File, pageSize int64, clearAlarm bool) error {
	var hdr [100]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil || string(hdr[:16]) != "SQLite format 3\x00" {
		return den.Errorf(den.EINVALID, "import: not a SQLite database (no SQLite header)")
	}
	ps := int64(hdr[16])<<8 | int64(hdr[17])
	if ps == 1 {
		ps = 65536
	}
	if ps != pageSize {
		return den.Errorf(den.EINVALID, "import: the database's page size is %d bytes; Den's databases use %d: run PRAGMA page_size=%d; VACUUM on it first", ps, pageSize, pageSize)
	}
	if hdr[18] == 2 || hdr[19] == 2 {
		// A WAL-mode file: open it without a WAL (its frames, if any,
		// were not sent).
		if _, err := f.WriteAt([]byte{1, 1}, 18); err != nil {
			return den.Errorf(den.EINTERNAL, "import: %w", err)
		}
	}
	conn, err := openConnFlags(f.Name(), sqlite.OpenReadWrite)
	if err != nil {
		return den.Errorf(den.EINVALID, "import: cannot open the database: %v", err)
	}
	defer func() {
		closeConn(conn)
		os.Remove(f.Name() + "-journal")
	}()
	var check string
	err = sqlitex.ExecuteTransient(conn, "PRAGMA quick_check", &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error {
			if check == "" {
				check = stmt.ColumnText(0)
			}
			return nil
		},
	})
	if err != nil || check != "ok" {
		return den.Errorf(den.EINVALID, "import: the database is damaged (quick_check: %s %v)", check, errString(err))
	}
	if clearAlarm {
		err := sqlitex.ExecuteTransient(conn, "DELETE FROM _cf_METADATA WHERE key = 1", nil)
		if err != nil && !isNoSuchTable(err) {
			return sqlError("fork: clear the alarm", err)
		}
	}
	return nil
}

func isNoSuchTable(err error) bool {
	return sqlite.ErrCode(err) == sqlite.ResultError // "no such table" is a plain SQLITE_ERROR
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// applyRestore replaces the database with the staged file at path through
// SQLite's backup API: one transaction in the WAL, so a crash leaves the old
// state or the new one. The staged file is removed once the transaction is
// durable; if the restore fails it is removed too, so that the object still
// opens, on its old state.
func (d *DB) applyRestore(path string) (err error) {
	h := d.hist
	defer func() {
		if err != nil {
			h.log.Unstage()
		}
	}()
	src, err := openConnFlags(path, sqlite.OpenReadOnly)
	if err != nil {
		return den.Errorf(den.EINTERNAL, "restore: open the staged database: %w", err)
	}
	b, err := sqlite.NewBackup(d.conn, "main", src, "main")
	if err == nil {
		_, err = b.Step(-1)
		if cerr := b.Close(); err == nil {
			err = cerr
		}
	}
	closeConn(src)
	if err != nil {
		return sqlError("restore", err)
	}
	for _, q := range schema { // an imported file may lack Den's tables
		if err := sqlitex.ExecuteTransient(d.conn, q, nil); err != nil {
			return sqlError("restore", err)
		}
	}
	if err := h.log.Committed(); err != nil {
		return den.Errorf(den.EINTERNAL, "restore: history: %w", err)
	}
	if err := d.Sync(); err != nil {
		return err
	}
	if err := h.log.Unstage(); err != nil {
		return den.Errorf(den.EINTERNAL, "restore: %w", err)
	}
	h.restored = true
	return nil
}

// Image returns a consistent copy of the database at bookmark ("" for the
// last committed state) as a standalone SQLite file, unlinked and open at
// its start.
func (d *DB) Image(bookmark string) (*os.File, error) {
	if d.err != nil {
		return nil, d.err
	}
	if bookmark == "" {
		return d.backupImage()
	}
	h, err := d.histOrErr()
	if err != nil {
		return nil, err
	}
	bm, err := d.archived(h, bookmark)
	if err != nil {
		return nil, err
	}
	f, err := h.log.TempFile()
	if err != nil {
		return nil, den.Errorf(den.EINTERNAL, "export: %w", err)
	}
	if err := h.log.WriteImage(bm, f); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, den.Errorf(den.EINTERNAL, "export: %w", err)
	}
	return f, nil
}

// backupImage copies the database with SQLite's backup API into a new file
// beside it.
func (d *DB) backupImage() (_ *os.File, err error) {
	tmp, err := os.CreateTemp(filepath.Dir(d.path), ".export-*.tmp")
	if err != nil {
		return nil, den.Errorf(den.EINTERNAL, "export: %w", err)
	}
	path := tmp.Name()
	tmp.Close()
	defer func() {
		os.Remove(path)
		os.Remove(path + "-journal")
	}()
	dst, err := openConnFlags(path, sqlite.OpenReadWrite)
	if err != nil {
		return nil, den.Errorf(den.EINTERNAL, "export: %w", err)
	}
	b, err := sqlite.NewBackup(dst, "main", d.conn, "main")
	if err == nil {
		_, err = b.Step(-1)
		if cerr := b.Close(); err == nil {
			err = cerr
		}
	}
	if cerr := closeConn(dst); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, sqlError("export", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, den.Errorf(den.EINTERNAL, "export: %w", err)
	}
	// The copy of a WAL-mode database says WAL in its header: make it a
	// plain file that opens without one.
	if _, err := f.WriteAt([]byte{1, 1}, 18); err != nil && !errors.Is(err, fs.ErrClosed) {
		f.Close()
		return nil, den.Errorf(den.EINTERNAL, "export: %w", err)
	}
	return f, nil
}

// openConnFlags opens path with flags under connTables.
func openConnFlags(path string, flags sqlite.OpenFlags) (*sqlite.Conn, error) {
	connTables.Lock()
	defer connTables.Unlock()
	conn, err := sqlite.OpenConn(path, flags)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", filepath.Base(path), err)
	}
	conn.SetBusyTimeout(BusyTimeout)
	return conn, nil
}
