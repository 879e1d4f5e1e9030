package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/den-run/den"
	"modernc.org/libc"
	lib "modernc.org/sqlite/lib"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// BusyTimeout is how long a statement waits for a lock another connection
// holds (an export or a backup) before it fails.
const BusyTimeout = 5 * time.Second

// schema creates the internal tables, as workerd lays them out; setup
// creates the tables of schemaTables (in the same order) that are missing.
var schema = []string{
	"CREATE TABLE IF NOT EXISTS _cf_KV (key TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID",
	"CREATE TABLE IF NOT EXISTS _cf_METADATA (key INTEGER PRIMARY KEY, value BLOB)",
}

var schemaTables = []string{"_cf_KV", "_cf_METADATA"}

// setupSQL is setup's SQL, as C strings made once for every activation.
var setupSQL struct {
	locking, pragmas uintptr
	pragmasSyncOff   uintptr // pragmas with synchronous=OFF
	syncNormal       uintptr
	tables           []uintptr // schemaTables
}

func init() {
	setupSQL.locking = staticCString("PRAGMA locking_mode=EXCLUSIVE")
	setupSQL.pragmas = staticCString("PRAGMA synchronous=NORMAL; PRAGMA cache_size=-1024; PRAGMA temp_store=MEMORY")
	setupSQL.pragmasSyncOff = staticCString("PRAGMA synchronous=OFF; PRAGMA cache_size=-1024; PRAGMA temp_store=MEMORY")
	setupSQL.syncNormal = staticCString("PRAGMA synchronous=NORMAL")
	for _, t := range schemaTables {
		setupSQL.tables = append(setupSQL.tables, staticCString(t))
	}
}

// DB is one object's database on a single connection. It implements
// [den.Database]. Its methods are used by one goroutine at a time, except Sync,
// which may run on any goroutine at any time, even after Close: a committer
// syncs many objects' databases together while they run their next turns.
//
// Errors are *den.Error values. After COMMIT fails, or SQLite rolls back an
// open transaction on its own, the DB is broken: every later call but Sync
// and Close returns the same error, and the caller should Close it and open
// the database again.
type DB struct {
	conn     *sqlite.Conn
	work     *libc.TLS // the C stack lent to the connection, nil between events (stack.go)
	home     *libc.TLS // the connection's thread state between events
	path     string    // path of the database file
	wal      string    // path of the WAL file
	dir      string    // directory holding the database
	syncFile func(string) error

	created    bool        // Open created the file: the first Sync fdatasyncs it
	newEntries bool        // the files' names may not be durable: the first Sync fsyncs dir
	dirs       *newDirs    // the Store's directories not yet synced; nil for none
	files      *newFiles   // the Store's databases with new files; nil for none
	settled    *settler    // the Store's settler; nil: the first Sync fsyncs dir
	dirSynced  atomic.Bool // Sync has made the files' names durable since Open
	syncOff    bool        // synchronous=OFF until the new WAL holds frames (syncOn)

	err        error       // set when broken or closed; returned by every call
	inTurn     bool        // Begin ran and neither Commit nor Rollback has since
	dirty      bool        // a write changed a row since Begin
	held       bool        // earlier turns' writes wait in the open transaction (hold.go)
	heldDirty  bool        // and one of them changed a row
	turnSP     bool        // the turn runs in a savepoint of the held transaction
	deferFK    bool        // user SQL set PRAGMA defer_foreign_keys in this transaction
	depth      int         // Transaction nesting
	savepoints []savepoint // Transaction's, by depth

	sql sqlState // the SQL API: sandbox, statement cache, open cursors (sql.go)

	hist *history // point-in-time history (wal.go); nil without one

	// writeSeq counts the changes to the WAL seen (from 1: the WAL found
	// at open is not known durable); durableSeq is the highest count known
	// durable, from Sync or a barrier (Synced). Both only grow.
	writeSeq, durableSeq atomic.Uint64
}

var _ den.Database = (*DB)(nil)

// openDB opens the database at path and prepares it for use.
// noWAL says the database has no WAL file yet (SQLite creates it here): its
// first header then needs no sync of its own (see syncOn).
func openDB(ctx context.Context, path string, syncFile func(string) error, noWAL bool) (*DB, error) {
	// No OpenWAL: we set journal_mode ourselves, under our busy timeout.
	// OpenNoMutex is implied: the connection has one user at a time.
	conn, err := openConn(path)
	if err != nil {
		return nil, den.Errorf(den.EINTERNAL, "open object db: %w", err)
	}
	if done := ctx.Done(); done != nil {
		conn.SetInterrupt(done)
	}
	err = setup(conn, noWAL)
	if ctx.Done() != nil {
		conn.SetInterrupt(nil)
	}
	if err != nil {
		closeConn(conn)
		if ctx.Err() != nil {
			return nil, ctxError(ctx)
		}
		return nil, sqlError("open object db", err)
	}
	d := &DB{
		conn:     conn,
		path:     path,
		wal:      path + "-wal",
		dir:      filepath.Dir(path),
		syncFile: syncFile,
		syncOff:  noWAL,
	}
	if err := d.openSQL(); err != nil {
		closeConn(conn)
		return nil, sqlError("open object db: sandbox", err)
	}
	// Entered (stack.go): the state that ran the open is the work stack.
	d.work, d.home = connTLSOf(conn), libc.NewTLS()
	return d, nil
}

// setup sets the connection's pragmas and creates the internal tables.
// It runs on every activation, so it parses as little as it can: options
// with a C API are set through it, the pragmas without one go to SQLite in
// one sqlite3_exec (no Go statement objects), and the tables are created
// only if the schema lacks them (IF NOT EXISTS would parse each CREATE).
//
// With syncOff it sets synchronous=OFF instead of NORMAL, for a database
// whose WAL SQLite creates here (see syncOn).
func setup(conn *sqlite.Conn, syncOff bool) error {
	if !rawOK() {
		return errRawHandles
	}
	if err := setNoCheckpointOnClose(conn); err != nil {
		return err
	}
	if err := setForeignKeys(conn); err != nil { // PRAGMA foreign_keys=ON
		return err
	}
	// journal_mode first, while synchronous is still FULL: on a new database
	// it writes and fsyncs page 1, and SQLite deletes the WAL of a database
	// file that is empty. It also reads the schema.
	// One connection owns the database for as long as its object is live:
	// exclusive locking keeps the WAL index in memory (no -shm file) and
	// takes no file lock per transaction.
	if err := execRaw(conn, setupSQL.locking); err != nil {
		return err
	}
	var mode string
	err := sqlitex.ExecuteTransient(conn, "PRAGMA journal_mode=WAL", &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error { mode = stmt.ColumnText(0); return nil },
	})
	if err != nil {
		return err
	}
	if mode != "wal" {
		return fmt.Errorf("journal_mode is %q, not wal", mode)
	}
	// synchronous=NORMAL: Sync fsyncs the WAL instead of every COMMIT.
	// cache_size 1 MiB: many databases are open at once. temp_store: no
	// temporary files for statement journals and sorts.
	pragmas := setupSQL.pragmas
	if syncOff {
		// No checkpoint may run while synchronous is OFF: it would skip its
		// syncs. syncOn turns SQLite's own checkpoints back on.
		if rc := lib.Xsqlite3_wal_autocheckpoint(connTLSOf(conn), connHandleOf(conn), 0); rc != lib.SQLITE_OK {
			return sqlite.ResultCode(rc).ToError()
		}
		pragmas = setupSQL.pragmasSyncOff
	}
	if err := execRaw(conn, pragmas); err != nil {
		return err
	}
	for i, q := range schema {
		if ok, err := tableExists(conn, setupSQL.tables[i]); err != nil || ok {
			if err != nil {
				return err
			}
			continue
		}
		if err := sqlitex.ExecuteTransient(conn, q, nil); err != nil {
			return err
		}
	}
	return nil
}

// Begin starts the turn's implicit transaction (BEGIN DEFERRED), or, when
// earlier turns' writes are held (Hold), a savepoint in theirs. It is an
// error to call it while a turn's transaction is open.
func (d *DB) Begin() error {
	if d.err != nil {
		return d.err
	}
	if d.inTurn {
		return den.Errorf(den.EINTERNAL, "begin: a transaction is already open")
	}
	if d.held {
		if d.deferFK { // as if the last turn's transaction had ended
			if err := d.exec(sqlDeferFKOff); err != nil {
				return d.fail("begin", err)
			}
			d.deferFK = false
		}
		if err := d.exec(turnSavepoint.begin); err != nil {
			return d.fail("begin", err)
		}
		d.inTurn, d.turnSP, d.dirty = true, true, false
		return nil
	}
	if err := d.exec("BEGIN"); err != nil {
		return d.fail("begin", err)
	}
	d.inTurn, d.dirty, d.deferFK = true, false, false
	return nil
}

// Commit commits the turn's transaction, with the writes of the turns held
// before it, and reports whether the turn changed any row. With no turn
// open it commits the held writes alone. The writes are in the WAL but not
// yet durable: call Sync. If COMMIT fails the DB is broken.
func (d *DB) Commit() (wrote bool, err error) {
	if d.err != nil {
		return false, d.err
	}
	if !d.inTurn && !d.held {
		return false, den.Errorf(den.EINTERNAL, "commit: no transaction is open")
	}
	if d.depth > 0 {
		return false, den.Errorf(den.EINTERNAL, "commit: a Transaction is still running")
	}
	d.closeCursors(errTurnEnded) // a statement still stepping would block COMMIT
	if d.turnSP {
		if err := d.exec(turnSavepoint.release); err != nil {
			d.err = sqlError("commit", err)
			return false, d.err
		}
	}
	wrote = d.inTurn && d.dirty
	d.dirty = d.dirty || d.heldDirty // what the transaction wrote, for the history
	d.inTurn, d.turnSP, d.held, d.heldDirty = false, false, false, false
	if err := d.exec("COMMIT"); err != nil {
		d.err = sqlError("commit", err)
		return false, d.err
	}
	if err := d.syncOn(); err != nil {
		d.err = sqlError("commit", err)
		return false, d.err
	}
	if err := d.afterCommit(); err != nil { // point-in-time history (wal.go)
		d.err = err
		return false, d.err
	}
	d.dirty = false
	return wrote, nil
}

// Rollback discards the turn's writes; those held from earlier turns stay.
// It does nothing if no turn is open.
func (d *DB) Rollback() error {
	if d.conn == nil || !d.inTurn {
		return d.err // nil unless broken or closed
	}
	d.closeCursors(errTurnEnded)
	sp := d.turnSP
	d.inTurn, d.turnSP, d.dirty = false, false, false
	if d.conn.AutocommitEnabled() {
		if d.held && d.err == nil {
			// SQLite rolled back the whole transaction: the held writes too.
			d.err = den.Errorf(den.EINTERNAL, "rollback: SQLite rolled back the transaction, with the writes of earlier turns")
		}
		d.held, d.heldDirty = false, false
		return d.err // SQLite already rolled it back
	}
	if sp {
		d.undo(&turnSavepoint)
		return d.err
	}
	if err := d.exec("ROLLBACK"); err != nil && d.err == nil {
		d.err = sqlError("rollback", err)
	}
	return d.err
}

// Close rolls back any open transaction and closes the connection. Later
// calls return nil; every other method but Sync then fails.
func (d *DB) Close() error {
	if d.conn == nil {
		return nil
	}
	d.closeSQL() // SQLite will not close with statements left
	var first error
	if !d.conn.AutocommitEnabled() {
		if err := d.exec("ROLLBACK"); err != nil {
			first = sqlError("close object db: rollback", err)
		}
	}
	if first == nil && d.err == nil {
		if err := d.syncOn(); err != nil { // before the history's checkpoint
			first = sqlError("close object db", err)
		}
	}
	empty := first == nil && d.err == nil && d.empty()
	keep, err := d.closeHistory(empty) // point-in-time history (wal.go)
	if err != nil && first == nil {
		first = err
	}
	if d.hist == nil && !empty && first == nil && d.err == nil {
		first = d.checkpointLarge()
	}
	if err := d.closeConnection(); err != nil && first == nil {
		first = sqlError("close object db", err)
	}
	d.err = den.Errorf(den.EINTERNAL, "object db is closed")
	if empty && first == nil && !keep {
		// An object that stores nothing leaves no file behind, so stubs
		// for names that never write (a GET of an unknown counter, a
		// scan of random names) do not fill the disk.
		for _, p := range []string{d.wal, d.path + "-shm", d.path} {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				first = den.Errorf(den.EINTERNAL, "remove empty object db: %w", err)
			}
		}
		if first == nil && d.files != nil {
			d.files.remove(d.path) // no files, nothing to make durable
		}
	}
	return first
}

// syncOn sets synchronous=NORMAL once a database opened without a WAL has
// frames in it, before anything can checkpoint.
//
// SQLite syncs a WAL's header before the first frame after it, on the
// turn's goroutine: after a checkpoint restarts the WAL, the frames written
// over must not be replayed with an old header by a crash (sqlite.org
// ticket ff5be73dee). A WAL that did not exist when the session opened has
// no old frames, so its first header needs no sync; the barrier's
// fdatasync makes header and frames durable together before any reply.
// synchronous=OFF skips that one sync. Every checkpoint runs with NORMAL,
// which syncs the WAL before it and the database file after.
func (d *DB) syncOn() error {
	if !d.syncOff || walFileSize(d.wal) == 0 {
		return nil
	}
	if err := execRaw(d.conn, setupSQL.syncNormal); err != nil {
		return err
	}
	if d.hist == nil { // a history takes checkpoints over (wal.go)
		if rc := lib.Xsqlite3_wal_autocheckpoint(d.sql.tls, connHandleOf(d.conn), defaultAutoCheckpoint); rc != lib.SQLITE_OK {
			return sqlite.ResultCode(rc).ToError()
		}
	}
	d.syncOff = false
	return nil
}

// defaultAutoCheckpoint is SQLite's default wal_autocheckpoint, in pages.
const defaultAutoCheckpoint = 1000

// closeCheckpointBytes is the WAL size at which Close checkpoints. A smaller
// WAL stays for the next session: closing then costs no fsync, and reopening
// reads the WAL's frame headers back, about a millisecond per MiB.
const closeCheckpointBytes = 1 << 20

// checkpointLarge checkpoints the WAL into the database file and truncates
// it, if the WAL holds closeCheckpointBytes or more. The checkpoint fsyncs
// the database file (synchronous=NORMAL) before it truncates the WAL.
func (d *DB) checkpointLarge() error {
	if walFileSize(d.wal) < closeCheckpointBytes {
		return nil
	}
	if err := d.syncOn(); err != nil {
		return sqlError("close object db: checkpoint", err)
	}
	if err := d.exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return sqlError("close object db: checkpoint", err)
	}
	return nil
}

// empty reports whether the database holds nothing: no key, no metadata and
// no schema object of the user's. It runs on every close, so it asks the
// cheapest question first (most objects that hold something hold a key),
// through SQLite's C API, as short statements.
func (d *DB) empty() bool {
	for _, q := range emptySQL {
		found, err := hasRow(d.conn, q)
		if err != nil || found {
			return false
		}
	}
	return true
}

// emptySQL is empty's questions, as C strings made once.
var emptySQL = []uintptr{
	staticCString("SELECT 1 FROM _cf_KV LIMIT 1"),
	staticCString("SELECT 1 FROM _cf_METADATA LIMIT 1"),
	staticCString(`SELECT 1 FROM sqlite_schema WHERE name NOT LIKE '\_cf\_%' ESCAPE '\' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' LIMIT 1`),
}

// Transaction runs fn inside SAVEPOINT _cf_sync_savepoint_<depth>. If fn
// returns an error, its writes roll back and the error is returned unchanged;
// if it panics, they roll back and the panic goes on. Transactions nest.
func (d *DB) Transaction(fn func() error) error {
	if d.err != nil {
		return d.err
	}
	for len(d.savepoints) <= d.depth {
		d.savepoints = append(d.savepoints, newSavepoint(fmt.Sprintf("_cf_sync_savepoint_%d", len(d.savepoints))))
	}
	sp := &d.savepoints[d.depth]
	d.depth++
	defer func() { d.depth-- }()
	return d.inSavepoint(sp, fn)
}

// savepoint holds the statements of one named savepoint.
type savepoint struct {
	begin, release, rollback string
}

func newSavepoint(name string) savepoint {
	return savepoint{
		begin:    "SAVEPOINT " + name,
		release:  "RELEASE " + name,
		rollback: "ROLLBACK TO " + name,
	}
}

// inSavepoint runs fn inside sp, rolling back to it if fn fails or panics.
func (d *DB) inSavepoint(sp *savepoint, fn func() error) error {
	if err := d.exec(sp.begin); err != nil {
		return d.fail("savepoint", err)
	}
	finished := false
	defer func() {
		if !finished { // fn panicked: undo, and let the panic go on
			d.undo(sp)
		}
	}()
	err := fn()
	finished = true
	if err != nil {
		d.undo(sp)
		return err
	}
	if err := d.exec(sp.release); err != nil {
		// RELEASE of an outermost savepoint is a COMMIT and may fail (a
		// deferred foreign key); the savepoint then stays open.
		err = d.fail("release savepoint", err)
		d.undo(sp)
		return err
	}
	return nil
}

// undo rolls back to sp and releases it. If that fails the DB is broken.
func (d *DB) undo(sp *savepoint) {
	if d.err != nil {
		return
	}
	err := d.exec(sp.rollback)
	if err == nil {
		err = d.exec(sp.release)
	}
	if err != nil {
		d.err = sqlError("roll back savepoint", err)
	}
}

// exec runs a statement that returns no rows, cached by its text.
func (d *DB) exec(query string) error {
	stmt, err := d.conn.Prepare(query)
	if err != nil {
		return err
	}
	for {
		row, err := stmt.Step()
		if err != nil {
			return err
		}
		if !row {
			return nil
		}
	}
}

// fail turns err from SQLite into a *den.Error. If SQLite rolled back the
// open transaction (as it may on a full disk, an I/O error or out of memory),
// later writes would commit on their own, so the DB breaks.
func (d *DB) fail(op string, err error) error {
	if d.err == nil && (d.inTurn || d.held || d.depth > 0) && d.conn.AutocommitEnabled() {
		d.err = sqlError(op+": transaction rolled back", err)
		return d.err
	}
	return sqlError(op, err)
}

// sqlError maps an error from SQLite to a *den.Error: ELIMIT when the disk or
// the database is full, EINTERNAL otherwise.
func sqlError(op string, err error) *den.Error {
	if sqlite.ErrCode(err).ToPrimary() == sqlite.ResultFull {
		return den.Errorf(den.ELIMIT, "%s: Durable Object storage is full (the disk or the database is full): %w", op, err)
	}
	return den.Errorf(den.EINTERNAL, "%s: %w", op, err)
}
