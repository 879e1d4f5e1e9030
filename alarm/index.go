package alarm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/den-run/den"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// The index is one table with a row per object that has, or recently had,
// an alarm, and an index on the due time. Times are nanoseconds since the
// Unix epoch, like the alarm record in an object's _cf_METADATA.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS alarms (
		class    TEXT NOT NULL,
		id       BLOB NOT NULL,
		name     TEXT NOT NULL DEFAULT '',
		due      INTEGER NOT NULL,
		seq      INTEGER NOT NULL DEFAULT 1,
		retried  INTEGER NOT NULL DEFAULT 0,
		retries  INTEGER NOT NULL DEFAULT 0,
		failures INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (class, id)
	) WITHOUT ROWID`,
	"CREATE INDEX IF NOT EXISTS alarms_due ON alarms (due, class, id)",
	"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID",
}

const (
	// sqlSchedule keeps the earlier of the row's due time and the new one,
	// and always bumps seq, so that an update the runner prepared before
	// it (see sqlSet) does not apply.
	sqlSchedule = `INSERT INTO alarms (class, id, name, due) VALUES (?1, ?2, ?3, ?4)
		ON CONFLICT (class, id) DO UPDATE SET
			due = min(due, excluded.due),
			seq = seq + 1,
			failures = iif(excluded.due < due, 0, failures),
			name = iif(excluded.name = '', name, excluded.name)`
	sqlSet = `UPDATE alarms SET due = ?4, retried = ?5, retries = ?6, failures = ?7, seq = seq + 1
		WHERE class = ?1 AND id = ?2 AND seq = ?3`
	sqlDelete = "DELETE FROM alarms WHERE class = ?1 AND id = ?2 AND seq = ?3"
	sqlForget = "DELETE FROM alarms WHERE class = ?1 AND id = ?2"
	// sqlDue has no LIMIT ?: readRows stops at the limit. SQLite recompiles
	// a statement with a bound LIMIT and a two-sided range at every step
	// after new bindings, a parse for every batch of due rows.
	sqlDue = `SELECT class, id, name, due, seq, retried, retries, failures FROM alarms
		WHERE due <= ?1 AND (due, class, id) > (?2, ?3, ?4)
		ORDER BY due, class, id`
	sqlNext     = "SELECT due FROM alarms WHERE due > ?1 ORDER BY due LIMIT 1"
	sqlLookup   = "SELECT class, id, name, due, seq, retried, retries, failures FROM alarms WHERE class = ?1 AND id = ?2"
	sqlCount    = "SELECT count(*) FROM alarms"
	sqlComplete = "SELECT value FROM meta WHERE key = 'complete'"
	sqlMark     = "INSERT INTO meta VALUES ('complete', 1) ON CONFLICT DO UPDATE SET value = 1"
	// The writer's commits fsync only for writes that must be durable.
	sqlSyncFull   = "PRAGMA synchronous=FULL"
	sqlSyncNormal = "PRAGMA synchronous=NORMAL"
)

// maxBatch bounds the writes one index transaction groups together.
const maxBatch = 512

// Entry is one object's alarm, as a scan of the objects' databases finds it.
type Entry struct {
	Class string
	ID    [32]byte
	Name  string // the name the ID was made from, if known
	At    time.Time
}

// Row is one object's entry in the index.
type Row struct {
	Class string
	ID    [32]byte
	Name  string
	// Due is when the runner next looks at the object: at or before its
	// alarm, or when a failed delivery is retried.
	Due time.Time
	// Retried is the alarm time that failed to run, RetryCount how many
	// counted retries it has had, and Failures how many deliveries in a row
	// failed without counting (the object could not be reached).
	Retried    time.Time
	RetryCount int
	Failures   int

	seq int64 // bumped by every write; updates apply only to the seq read
}

// IndexConfig configures an Index. Zero fields take the defaults shown.
type IndexConfig struct {
	// Scan lists the alarm of every object. When the index file is new (or
	// a rebuild was interrupted), Open calls it to rebuild the index from
	// the objects' own records before anything runs; nil means there is
	// nothing to rebuild from.
	Scan func(ctx context.Context, add func(Entry) error) error
	// Logger receives the rebuild's log lines: slog.Default().
	Logger *slog.Logger
}

// Index is the node's schedule of alarms: a small SQLite database with a row
// per object that has an alarm, ordered by due time. It implements
// den.AlarmScheduler for the host and serves the Runner.
//
// The index may hold more, and earlier, rows than the objects have alarms:
// a firing checks the object's own record and fixes the row. It never holds
// a later time than an object's alarm, except while a failed delivery waits
// for its retry. See docs/ALARMS.md.
//
// Writes from many goroutines are grouped into one transaction (and one
// fsync) each. Its methods are safe for concurrent use.
type Index struct {
	path string
	cfg  IndexConfig
	log  *slog.Logger

	ctx    context.Context // canceled by Close
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup // the writer
	ops    chan *op

	wr     *sqlite.Conn // owned by the writer goroutine (by Open before it starts)
	wrSync bool         // wr commits with synchronous=FULL (owned like wr)

	rmu sync.Mutex   // protects rd
	rd  *sqlite.Conn // reads

	watermark atomic.Int64  // a write making a row due before this (ns) wakes the runner
	wake      chan struct{} // cap 1

	mu     sync.Mutex // protects opened, closed
	opened bool
	closed bool
}

var _ den.AlarmScheduler = (*Index)(nil)

// NewIndex returns an Index kept in the SQLite database at path (such as
// <data>/alarms.sqlite). It touches nothing: Open does.
func NewIndex(path string, cfg IndexConfig) *Index {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	x := &Index{path: path, cfg: cfg, log: cfg.Logger, ops: make(chan *op), wake: make(chan struct{}, 1)}
	x.watermark.Store(math.MaxInt64)
	return x
}

// Open opens (creating if needed) the index, rebuilds it with
// IndexConfig.Scan if it is not complete, and starts its writer.
func (x *Index) Open(ctx context.Context) (err error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.opened {
		return den.Errorf(den.EINVALID, "alarm index: already opened")
	}
	x.opened = true
	_, statErr := os.Stat(x.path)
	if x.wr, err = openConn(x.path); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			x.wr.Close()
			if x.rd != nil {
				x.rd.Close()
			}
		}
	}()
	x.wrSync = true
	for _, q := range append([]string{sqlSyncFull, "PRAGMA cache_size=-8192", "PRAGMA temp_store=MEMORY"}, schema...) {
		if err := sqlitex.ExecuteTransient(x.wr, q, nil); err != nil {
			return den.Errorf(den.EINTERNAL, "open alarm index: %w", err)
		}
	}
	if errors.Is(statErr, os.ErrNotExist) {
		// The new file's directory entry must be durable before anything
		// in it is promised durable.
		if err := syncDir(filepath.Dir(x.path)); err != nil {
			return den.Errorf(den.EINTERNAL, "open alarm index: %w", err)
		}
	}
	rd, err := openConn(x.path)
	if err != nil {
		return err
	}
	x.rmu.Lock()
	x.rd = rd
	x.rmu.Unlock()
	if err := x.rebuild(ctx); err != nil {
		return err
	}
	x.ctx, x.cancel = context.WithCancelCause(context.Background())
	x.wg.Go(x.writer)
	return nil
}

// Close stops the writer and closes the database. Writes after Close fail
// with EUNAVAILABLE. Close is idempotent.
func (x *Index) Close() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed || !x.opened || x.cancel == nil {
		x.closed = true
		return nil
	}
	x.closed = true
	x.cancel(errors.New("alarm index closed"))
	x.wg.Wait()
	x.rmu.Lock()
	defer x.rmu.Unlock()
	err := x.rd.Close()
	if werr := x.wr.Close(); err == nil {
		err = werr
	}
	if err != nil {
		return den.Errorf(den.EINTERNAL, "close alarm index: %w", err)
	}
	return nil
}

func openConn(path string) (*sqlite.Conn, error) {
	conn, err := sqlite.OpenConn(path, sqlite.OpenReadWrite|sqlite.OpenCreate|sqlite.OpenWAL)
	if err != nil {
		return nil, den.Errorf(den.EINTERNAL, "open alarm index: %w", err)
	}
	conn.SetBusyTimeout(5 * time.Second)
	return conn, nil
}

// rebuild fills the index from the objects' own records unless it is marked
// complete, in one transaction that also marks it complete.
func (x *Index) rebuild(ctx context.Context) (err error) {
	complete := false
	if err := sqlitex.ExecuteTransient(x.wr, sqlComplete, &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error { complete = stmt.ColumnBool(0); return nil },
	}); err != nil {
		return den.Errorf(den.EINTERNAL, "open alarm index: %w", err)
	}
	if complete {
		return nil
	}
	start := time.Now()
	n := 0
	if err := sqlitex.ExecuteTransient(x.wr, rebuildCache, nil); err != nil {
		return den.Errorf(den.EINTERNAL, "rebuild alarm index: %w", err)
	}
	defer func() {
		// Checkpoint the rebuild out of the WAL now rather than in the
		// first writes after it, and give the cache back.
		for _, q := range []string{"PRAGMA wal_checkpoint(TRUNCATE)", "PRAGMA cache_size=-8192", "PRAGMA shrink_memory"} {
			if qerr := sqlitex.ExecuteTransient(x.wr, q, nil); qerr != nil && err == nil {
				err = den.Errorf(den.EINTERNAL, "rebuild alarm index: %w", qerr)
			}
		}
	}()
	end := sqlitex.Transaction(x.wr)
	defer end(&err)
	if x.cfg.Scan != nil {
		x.log.Info("rebuilding the alarm index from the objects' databases", "path", x.path)
		err := x.cfg.Scan(ctx, func(e Entry) error {
			n++
			return schedule(x.wr, e.Class, e.ID, e.Name, e.At.UnixNano())
		})
		if err != nil {
			return den.Errorf(den.ErrorCode(err), "rebuild alarm index: %w", err)
		}
	}
	if err := sqlitex.ExecuteTransient(x.wr, sqlMark, nil); err != nil {
		return den.Errorf(den.EINTERNAL, "rebuild alarm index: %w", err)
	}
	if x.cfg.Scan != nil {
		x.log.Info("rebuilt the alarm index", "alarms", n, "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// rebuildCache is the writer's page cache during a rebuild, which inserts
// rows at random places in the due index. A larger cache makes a rebuild of
// a million rows several times faster; it is given back afterwards.
const rebuildCache = "PRAGMA cache_size=-65536" // 64 MiB

// ScheduleAlarm makes sure the index durably holds a row for the object due
// at or before at; it implements den.AlarmScheduler. It returns ECANCELED or
// ETIMEOUT if ctx ends first, EUNAVAILABLE once the index is closed, and
// EINTERNAL if the write failed.
func (x *Index) ScheduleAlarm(ctx context.Context, class string, id den.ID, at time.Time) error {
	o := &op{schedule: true, row: Row{Class: class, ID: id.Bytes(), Name: id.Name(), Due: at}}
	return x.do(ctx, o)
}

// Forget deletes the object's row, whatever it holds: for an object being
// deleted, whose alarm is deleted in the same turn. It returns as ScheduleAlarm
// does.
func (x *Index) Forget(ctx context.Context, class string, id den.ID) error {
	return x.do(ctx, &op{forget: true, row: Row{Class: class, ID: id.Bytes()}})
}

// set replaces row r (as it was read) with next, or deletes it if next.Due is
// zero, unless the row was written since r was read. It reports whether it
// did.
func (x *Index) set(ctx context.Context, r Row, next Row) (bool, error) {
	next.Class, next.ID, next.seq = r.Class, r.ID, r.seq
	o := &op{row: next}
	err := x.do(ctx, o)
	return o.applied, err
}

// op is one write, applied by the writer goroutine with others.
type op struct {
	schedule bool // sqlSchedule; otherwise sqlSet or sqlDelete with row.seq
	forget   bool // sqlForget
	row      Row
	applied  bool          // set by the writer: the row changed
	err      error         // set by the writer
	done     chan struct{} // closed by the writer
}

// do hands o to the writer and waits for it.
func (x *Index) do(ctx context.Context, o *op) error {
	if x.ctx == nil {
		return den.Errorf(den.EUNAVAILABLE, "alarm index is not open")
	}
	o.done = make(chan struct{})
	select {
	case x.ops <- o:
	case <-x.ctx.Done():
		return den.Errorf(den.EUNAVAILABLE, "alarm index is closed")
	case <-ctx.Done():
		return ctxError(ctx)
	}
	select {
	case <-o.done:
		return o.err
	case <-ctx.Done():
		return ctxError(ctx)
	}
}

// writer applies writes in batches, one transaction each, fsynced if the
// batch holds a write that must be durable (see apply).
func (x *Index) writer() {
	batch := make([]*op, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case <-x.ctx.Done():
			return
		case o := <-x.ops:
			batch = append(batch, o)
		}
	more:
		for len(batch) < maxBatch {
			select {
			case o := <-x.ops:
				batch = append(batch, o)
			default:
				break more
			}
		}
		x.apply(batch)
		for _, o := range batch {
			close(o.done)
		}
	}
}

// apply writes batch in one transaction and wakes the runner if a row became
// due earlier than it waits for.
//
// The transaction is fsynced (synchronous=FULL) only if the batch holds a
// ScheduleAlarm or a Forget: a turn commits only after its ScheduleAlarm
// returned, so that row must be on disk first. The runner's updates after a
// delivery need not be: a crash that loses one leaves the row as the
// runner read it, due at or before the delivery, which never makes the
// schedule later than an object's own record; the next start fires it
// again, and the turn finds the object's record (deleted, or later) and
// the row is set from it. The WAL keeps commits in order, so the next
// fsynced batch makes them durable too.
func (x *Index) apply(batch []*op) {
	durable := false
	for _, o := range batch {
		durable = durable || o.schedule || o.forget
	}
	err := func() (err error) {
		if err := x.setSync(durable); err != nil {
			return err
		}
		end := sqlitex.Transaction(x.wr)
		defer end(&err)
		for _, o := range batch {
			if err := x.write(o); err != nil {
				return err
			}
		}
		return nil
	}()
	earliest := int64(math.MaxInt64)
	for _, o := range batch {
		if err != nil {
			o.applied, o.err = false, den.Errorf(den.EINTERNAL, "write alarm index: %w", err)
			continue
		}
		switch {
		case o.schedule || o.applied && !o.row.Due.IsZero():
			earliest = min(earliest, o.row.Due.UnixNano())
		case !o.applied:
			earliest = math.MinInt64 // the row is as it was, likely still due
		}
	}
	if earliest < x.watermark.Load() {
		select {
		case x.wake <- struct{}{}:
		default:
		}
	}
}

// setSync makes the writer's next commits fsync (synchronous=FULL) or not
// (NORMAL).
func (x *Index) setSync(full bool) error {
	if x.wrSync == full {
		return nil
	}
	q := sqlSyncNormal
	if full {
		q = sqlSyncFull
	}
	stmt, err := x.wr.Prepare(q)
	if err != nil {
		return err
	}
	if _, err := stmt.Step(); err != nil {
		stmt.Reset()
		return err
	}
	if err := stmt.Reset(); err != nil {
		return err
	}
	x.wrSync = full
	return nil
}

func (x *Index) write(o *op) error {
	r := o.row
	if o.schedule {
		return schedule(x.wr, r.Class, r.ID, r.Name, r.Due.UnixNano())
	}
	var stmt *sqlite.Stmt
	var err error
	if o.forget {
		if stmt, err = x.wr.Prepare(sqlForget); err != nil {
			return err
		}
		stmt.BindText(1, r.Class)
		stmt.BindBytes(2, r.ID[:])
		if _, err := stmt.Step(); err != nil {
			stmt.Reset()
			return err
		}
		o.applied = x.wr.Changes() > 0
		return stmt.Reset()
	}
	if r.Due.IsZero() {
		stmt, err = x.wr.Prepare(sqlDelete)
	} else {
		stmt, err = x.wr.Prepare(sqlSet)
	}
	if err != nil {
		return err
	}
	stmt.BindText(1, r.Class)
	stmt.BindBytes(2, r.ID[:])
	stmt.BindInt64(3, r.seq)
	if !r.Due.IsZero() {
		stmt.BindInt64(4, r.Due.UnixNano())
		stmt.BindInt64(5, nanos(r.Retried))
		stmt.BindInt64(6, int64(r.RetryCount))
		stmt.BindInt64(7, int64(r.Failures))
	}
	if _, err := stmt.Step(); err != nil {
		stmt.Reset()
		return err
	}
	o.applied = x.wr.Changes() > 0
	return stmt.Reset()
}

func schedule(conn *sqlite.Conn, class string, id [32]byte, name string, due int64) error {
	stmt, err := conn.Prepare(sqlSchedule)
	if err != nil {
		return err
	}
	stmt.BindText(1, class)
	stmt.BindBytes(2, id[:])
	stmt.BindText(3, name)
	stmt.BindInt64(4, due)
	if _, err := stmt.Step(); err != nil {
		stmt.Reset()
		return err
	}
	return stmt.Reset()
}

// wakeBefore arms the runner's wake-up: a write that makes a row due before
// t sends on Wake.
func (x *Index) wakeBefore(t int64) { x.watermark.Store(t) }

// due returns up to limit rows due at or before now that come after the row
// after in (due, class, id) order; after.Due zero means from the start.
func (x *Index) due(now time.Time, after Row, limit int) ([]Row, error) {
	x.rmu.Lock()
	defer x.rmu.Unlock()
	stmt, err := x.rd.Prepare(sqlDue)
	if err != nil {
		return nil, den.Errorf(den.EINTERNAL, "read alarm index: %w", err)
	}
	stmt.BindInt64(1, now.UnixNano())
	if after.Due.IsZero() {
		stmt.BindInt64(2, math.MinInt64)
	} else {
		stmt.BindInt64(2, after.Due.UnixNano())
	}
	stmt.BindText(3, after.Class)
	stmt.BindBytes(4, after.ID[:])
	rows, err := readRows(stmt, limit)
	if err != nil {
		return nil, den.Errorf(den.EINTERNAL, "read alarm index: %w", err)
	}
	return rows, nil
}

// next returns the earliest due time after now, if any.
func (x *Index) next(now time.Time) (time.Time, bool, error) {
	x.rmu.Lock()
	defer x.rmu.Unlock()
	stmt, err := x.rd.Prepare(sqlNext)
	if err != nil {
		return time.Time{}, false, den.Errorf(den.EINTERNAL, "read alarm index: %w", err)
	}
	stmt.BindInt64(1, now.UnixNano())
	row, err := stmt.Step()
	var t time.Time
	if row {
		t = time.Unix(0, stmt.ColumnInt64(0))
	}
	if rerr := stmt.Reset(); err == nil {
		err = rerr
	}
	if err != nil {
		return time.Time{}, false, den.Errorf(den.EINTERNAL, "read alarm index: %w", err)
	}
	return t, row, nil
}

// Lookup returns the row of object id of class, if there is one.
func (x *Index) Lookup(class string, id [32]byte) (Row, bool, error) {
	x.rmu.Lock()
	defer x.rmu.Unlock()
	if x.rd == nil {
		return Row{}, false, den.Errorf(den.EUNAVAILABLE, "alarm index is not open")
	}
	stmt, err := x.rd.Prepare(sqlLookup)
	if err != nil {
		return Row{}, false, den.Errorf(den.EINTERNAL, "read alarm index: %w", err)
	}
	stmt.BindText(1, class)
	stmt.BindBytes(2, id[:])
	rows, err := readRows(stmt, 1)
	if err != nil {
		return Row{}, false, den.Errorf(den.EINTERNAL, "read alarm index: %w", err)
	}
	if len(rows) == 0 {
		return Row{}, false, nil
	}
	return rows[0], true, nil
}

// Len returns the number of rows in the index.
func (x *Index) Len() (int, error) {
	x.rmu.Lock()
	defer x.rmu.Unlock()
	if x.rd == nil {
		return 0, den.Errorf(den.EUNAVAILABLE, "alarm index is not open")
	}
	n := 0
	err := sqlitex.Execute(x.rd, sqlCount, &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error { n = stmt.ColumnInt(0); return nil },
	})
	if err != nil {
		return 0, den.Errorf(den.EINTERNAL, "read alarm index: %w", err)
	}
	return n, nil
}

// readRows reads the rows stmt returns and resets it.
func readRows(stmt *sqlite.Stmt, limit int) (_ []Row, err error) {
	defer func() {
		if rerr := stmt.Reset(); err == nil {
			err = rerr
		}
	}()
	rows := make([]Row, 0, min(limit, 64))
	for len(rows) < limit {
		ok, err := stmt.Step()
		if err != nil {
			return nil, err
		}
		if !ok {
			return rows, nil
		}
		r := Row{
			Class:      stmt.ColumnText(0),
			Name:       stmt.ColumnText(2),
			Due:        time.Unix(0, stmt.ColumnInt64(3)),
			seq:        stmt.ColumnInt64(4),
			RetryCount: stmt.ColumnInt(6),
			Failures:   stmt.ColumnInt(7),
		}
		stmt.ColumnBytes(1, r.ID[:])
		if ns := stmt.ColumnInt64(5); ns != 0 {
			r.Retried = time.Unix(0, ns)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// syncDir fsyncs the directory dir.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func ctxError(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return den.Errorf(den.ETIMEOUT, "alarm index: %w", context.Cause(ctx))
	}
	return den.Errorf(den.ECANCELED, "alarm index: %w", context.Cause(ctx))
}

func (r Row) String() string {
	return fmt.Sprintf("%s/%x due %s", r.Class, r.ID, r.Due.UTC().Format(time.RFC3339Nano))
}
