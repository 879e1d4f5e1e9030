package sqlite

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/den-run/den"
	"modernc.org/libc"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// sqlState is a DB's SQL API: the sandbox, the statement cache and the
// cursors still open. Owned by the DB's goroutine.
type sqlState struct {
	sandbox   sandbox
	cache     stmtCache
	open      []*rows       // cursors positioned in their result; closed by Commit, Rollback, Close
	maxBytes  int64         // the size cap, for error messages
	tls       *libc.TLS     // the connection's, for the C calls of raw.go
	deadline  uintptr       // C memory the progress handler reads (deadline.go)
	timeLimit time.Duration // how long one user statement may run
	unauth    func()        // unregisters the authorizer: before the connection closes
	pageSize  int64         // the database's page size; 0 until read
}

// stmtInfo is what Den knows of a compiled user statement.
type stmtInfo struct {
	cols       []string
	params     int
	writes     bool    // it may change the database
	dml        bool    // it inserts, updates or deletes rows of a user table (sqlite3_changes counts them)
	deferFK    bool    // it sets PRAGMA defer_foreign_keys (hold.go)
	reprepares int32   // SQLite's count of recompilations when cols was read
	handle     uintptr // the sqlite3_stmt
}

const (
	// Two plain pragmas, not one SELECT over the pragma_* table-valued
	// functions: those compile three virtual tables, ~10× the cost, paid
	// once per activation.
	sqlPageCount    = "PRAGMA page_count"
	sqlFreelistSize = "PRAGMA freelist_count"
	sqlPageSize     = "PRAGMA page_size"
)

// execSavepoint makes an Exec of several statements all or nothing.
var execSavepoint = newSavepoint("_cf_exec_savepoint")

var errTurnEnded = den.Errorf(den.EINVALID, "SQL cursor was closed because the turn that opened it committed (at its end, an outgoing call or Storage.Sync): read a cursor within its turn, or use All")

// openSQL sets up the sandbox on a newly opened DB.
func (d *DB) openSQL() error {
	d.sql.maxBytes = den.DefaultMaxDatabaseBytes
	unauth, err := setupSandbox(d.conn, &d.sql.sandbox)
	if err != nil {
		return err
	}
	d.sql.unauth = unauth
	d.sql.tls = connTLSOf(d.conn)
	d.openDeadline(0)
	return nil
}

// SQL returns the SQL API on the database: d itself.
func (d *DB) SQL() den.SQL { return d }

// Exec runs query with args under the sandbox; see [den.SQL]. The cursor is
// closed by the next Commit, Rollback or Close.
func (d *DB) Exec(query string, args ...any) (*den.Cursor, error) {
	if d.err != nil {
		return nil, d.err
	}
	if len(query) > den.MaxSQLBytes {
		return nil, den.Errorf(den.ELIMIT, "SQL statement too long: %d bytes; the limit is %d bytes", len(query), den.MaxSQLBytes)
	}
	if len(args) > den.MaxSQLParams {
		return nil, den.Errorf(den.ELIMIT, "too many SQL parameters: %d; the limit is %d", len(args), den.MaxSQLParams)
	}
	r, err := d.run(query, args)
	if err != nil {
		return nil, err
	}
	return den.NewCursor(r), nil
}

func (d *DB) run(query string, args []any) (*rows, error) {
	if c := d.sql.cache.get(query); c != nil {
		if !c.inUse {
			c.inUse = true
			return d.start(c.stmt, c, c.info, args)
		}
		// An open cursor reads the cached statement: compile a copy.
		stmt, info, _, err := d.prepare(query)
		if err != nil {
			return nil, err
		}
		return d.start(stmt, nil, info, args)
	}
	stmt, info, rest, err := d.prepare(query)
	if err != nil {
		return nil, err
	}
	if stmt == nil {
		return nil, den.Errorf(den.EINVALID, den.MsgSQLNoStatement)
	}
	if blank(rest) {
		return d.start(stmt, d.sql.cache.add(query, stmt, info), info, args)
	}
	if d.inTurn || d.depth > 0 {
		var r *rows
		err := d.inSavepoint(&execSavepoint, func() (err error) {
			r, err = d.script(stmt, info, rest, args)
			return err
		})
		return r, err
	}
	return d.script(stmt, info, rest, args)
}

// script runs the statements of a multi-statement Exec: first, which is not
// the last, and those in rest. It returns the cursor of the last.
func (d *DB) script(stmt *sqlite.Stmt, info stmtInfo, rest string, args []any) (*rows, error) {
	var read, written int64
	for {
		if info.params > 0 {
			stmt.Finalize()
			return nil, den.Errorf(den.EINVALID, den.MsgSQLMultiParams)
		}
		r := &rows{d: d, stmt: stmt, info: info}
		err := r.drain()
		r.release()
		if err != nil {
			return nil, err
		}
		read, written = read+r.read, written+r.written
		if stmt, info, rest, err = d.prepare(rest); err != nil {
			return nil, err
		}
		if stmt == nil {
			return nil, den.Errorf(den.EINVALID, den.MsgSQLNoStatement)
		}
		if blank(rest) {
			break
		}
	}
	r, err := d.start(stmt, nil, info, args)
	if err != nil {
		return nil, err
	}
	r.read, r.written = r.read+read, r.written+written
	return r, nil
}

// prepare compiles the first statement of query under the sandbox. It
// returns the statement (nil if query holds none), what it does and the
// text after it.
func (d *DB) prepare(query string) (*sqlite.Stmt, stmtInfo, string, error) {
	sb := &d.sql.sandbox
	sb.reset()
	stmt, trailing, err := d.prepareTransient(query)
	if err != nil {
		return nil, stmtInfo{}, "", d.sqlFail(err, true)
	}
	text, rest := query[:len(query)-trailing], query[len(query)-trailing:]
	if blank(text) {
		stmt.Finalize() // SQLite compiled nothing
		return nil, stmtInfo{}, rest, nil
	}
	if sb.alter {
		if name, ok := renameTarget(text); ok && (reserved(name) || hiddenTables[strings.ToLower(name)]) {
			stmt.Finalize()
			return nil, stmtInfo{}, "", den.Errorf(den.EINVALID, "names that begin with _cf_ are reserved for Den: cannot rename a table to %s: SQLITE_AUTH", name)
		}
	}
	h := handleOf(stmt)
	info := stmtInfo{
		cols:       columnNames(d.sql.tls, h),
		params:     stmt.BindParamCount(),
		writes:     sb.writes || !readonly(d.sql.tls, h),
		dml:        sb.dml && !sb.ddl,
		deferFK:    sb.deferFK,
		reprepares: reprepares(d.sql.tls, h),
		handle:     h,
	}
	return stmt, info, rest, nil
}

// enter puts the connection in user mode: the sandbox checks what SQLite
// compiles (a statement is compiled again when the schema changed, during
// a Step) and strings are held to the user limit. leave ends it.
func (d *DB) enter() {
	d.startDeadline()
	d.sql.sandbox.user, d.sql.sandbox.denied = true, ""
	d.conn.Limit(sqlite.LimitLength, den.MaxSQLValueBytes)
}

func (d *DB) leave() {
	d.stopDeadline()
	d.sql.sandbox.user = false
	d.conn.Limit(sqlite.LimitLength, internalMaxLength)
}

func (d *DB) prepareTransient(query string) (*sqlite.Stmt, int, error) {
	d.enter()
	defer d.leave()
	return d.conn.PrepareTransient(query)
}

func (d *DB) step(stmt *sqlite.Stmt) (bool, error) {
	d.enter()
	defer d.leave()
	return stmt.Step()
}

// start binds args to stmt and steps it once, so that a statement with no
// rows has run when Exec returns. c is stmt's cache entry, nil for a
// statement to finalize when done.
func (d *DB) start(stmt *sqlite.Stmt, c *cached, info stmtInfo, args []any) (*rows, error) {
	r := &rows{d: d, stmt: stmt, c: c, info: info}
	if len(args) != info.params {
		r.release()
		return nil, den.Errorf(den.EINVALID, den.MsgSQLBindings)
	}
	for i, arg := range args {
		if err := bind(stmt, i+1, arg); err != nil {
			r.release()
			return nil, err
		}
	}
	row, err := d.step(stmt)
	if err != nil {
		r.release()
		return nil, d.sqlFail(err, false)
	}
	if n := reprepares(d.sql.tls, info.handle); n != info.reprepares {
		// The schema changed and SQLite recompiled the statement: a
		// SELECT * may have other columns now.
		r.info.cols, r.info.reprepares = columnNames(d.sql.tls, info.handle), n
		if c != nil {
			c.info.cols, c.info.reprepares = r.info.cols, n
		}
	}
	if info.writes {
		d.dirty = true
	}
	d.deferFK = d.deferFK || info.deferFK
	switch {
	case !row:
		r.end()
	case info.writes:
		// A writing statement with rows left (RETURNING) would block the
		// RELEASE of a savepoint or the COMMIT: SQLite made every change
		// in the first step anyway, so read its rows now.
		if err := r.buffer(); err != nil {
			return nil, err
		}
	default:
		r.pending = true
		d.sql.open = append(d.sql.open, r)
	}
	return r, nil
}

// closeCursors closes every open cursor; reading one later returns err.
func (d *DB) closeCursors(err error) {
	for len(d.sql.open) > 0 {
		r := d.sql.open[len(d.sql.open)-1]
		r.err = err
		r.release()
	}
}

// closeSQL closes the cursors and finalizes the cached statements, which
// must happen before the connection closes.
func (d *DB) closeSQL() {
	d.closeCursors(errTurnEnded)
	d.sql.cache.close()
	if d.sql.unauth != nil {
		d.sql.unauth()
		d.sql.unauth = nil
	}
	d.closeDeadline()
	d.hist.unhookWAL(d)
}

// DatabaseSize returns the bytes the database's pages hold, free pages not
// counted.
func (d *DB) DatabaseSize() (int64, error) {
	if d.err != nil {
		return 0, d.err
	}
	if d.sql.pageSize == 0 {
		ps, err := d.pragmaInt(sqlPageSize)
		if err != nil {
			return 0, d.fail("database size", err)
		}
		d.sql.pageSize = ps
	}
	pages, err := d.pragmaInt(sqlPageCount)
	if err != nil {
		return 0, d.fail("database size", err)
	}
	free, err := d.pragmaInt(sqlFreelistSize)
	if err != nil {
		return 0, d.fail("database size", err)
	}
	return (pages - free) * d.sql.pageSize, nil
}

// pragmaInt runs a pragma that returns one integer, through the
// connection's statement cache.
func (d *DB) pragmaInt(q string) (int64, error) {
	var n int64
	err := sqlitex.Execute(d.conn, q, &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error { n = stmt.ColumnInt64(0); return nil },
	})
	return n, err
}

// setMaxSize caps the database at limit bytes with PRAGMA max_page_count; a
// write that would grow it further fails with SQLITE_FULL. A cap below the
// database's size keeps it at its size.
func (d *DB) setMaxSize(limit int64) error {
	pageSize, err := d.pragmaInt(sqlPageSize)
	if err != nil {
		return err
	}
	d.sql.pageSize = pageSize
	pages := max(limit/max(pageSize, 1), 1)
	if err := sqlitex.ExecuteTransient(d.conn, fmt.Sprintf("PRAGMA max_page_count = %d", pages), nil); err != nil {
		return err
	}
	d.sql.maxBytes = limit
	return nil
}

// rows is den.Rows for one user statement. It reads the statement lazily,
// or, for a writing statement, from rows it buffered when Exec ran it.
type rows struct {
	d        *DB
	stmt     *sqlite.Stmt // nil once released
	c        *cached      // stmt's cache entry; nil: finalize stmt when done
	info     stmtInfo
	pending  bool    // Exec stepped to a row that Next has not yet returned
	buffered bool    // the rows are in buf
	buf      [][]any // rows not yet returned
	cur      []any   // the current buffered row
	read     int64   // rows returned
	written  int64
	err      error // why the DB closed the cursor early
}

var _ den.Rows = (*rows)(nil)

func (r *rows) Columns() []string { return r.info.cols }

func (r *rows) Next() (bool, error) {
	if r.buffered {
		if len(r.buf) == 0 {
			r.cur = nil
			return false, nil
		}
		r.cur, r.buf = r.buf[0], r.buf[1:]
		r.read++
		return true, nil
	}
	if r.stmt == nil {
		return false, r.err
	}
	if r.pending {
		r.pending = false
		r.read++
		return true, nil
	}
	row, err := r.d.step(r.stmt)
	if err != nil {
		r.release()
		return false, r.d.sqlFail(err, false)
	}
	if !row {
		r.end()
		return false, nil
	}
	r.read++
	return true, nil
}

// buffer reads the rest of the statement, which is on its first row, into
// r.buf and ends it.
func (r *rows) buffer() error {
	r.buffered = true
	n := len(r.info.cols)
	for {
		vals := make([]any, n)
		for i := range vals {
			vals[i] = r.value(i)
		}
		r.buf = append(r.buf, vals)
		row, err := r.d.step(r.stmt)
		if err != nil {
			r.release()
			return r.d.sqlFail(err, false)
		}
		if !row {
			r.end()
			return nil
		}
	}
}

// value returns column i of the statement's current row.
func (r *rows) value(i int) any {
	switch r.stmt.ColumnType(i) {
	case sqlite.TypeInteger:
		return r.stmt.ColumnInt64(i)
	case sqlite.TypeFloat:
		return r.stmt.ColumnFloat(i)
	case sqlite.TypeText:
		return r.stmt.ColumnText(i)
	case sqlite.TypeBlob:
		b := make([]byte, r.stmt.ColumnLen(i))
		r.stmt.ColumnBytes(i, b)
		return b
	}
	return nil
}

// drain steps the statement to its end.
func (r *rows) drain() error {
	for {
		row, err := r.d.step(r.stmt)
		if err != nil {
			return r.d.sqlFail(err, false)
		}
		if !row {
			break
		}
		r.read++
	}
	if r.info.dml {
		r.written += int64(r.d.conn.Changes())
	}
	if r.info.writes {
		r.d.dirty = true
	}
	r.d.deferFK = r.d.deferFK || r.info.deferFK
	return nil
}

// end records a statement that ran to its end and releases it.
func (r *rows) end() {
	if r.info.dml {
		r.written += int64(r.d.conn.Changes())
	}
	r.release()
}

// release returns the statement to the cache, or finalizes it.
func (r *rows) release() {
	if r.stmt == nil {
		return
	}
	open := r.d.sql.open
	if i := slices.Index(open, r); i >= 0 {
		r.d.sql.open = slices.Delete(open, i, i+1)
	}
	if r.c != nil {
		r.d.sql.cache.release(r.c)
	} else {
		r.stmt.Finalize()
	}
	r.stmt = nil
}

func (r *rows) Type(i int) den.SQLType {
	if r.cur != nil {
		switch r.cur[i].(type) {
		case int64:
			return den.SQLInteger
		case float64:
			return den.SQLReal
		case string:
			return den.SQLText
		case []byte:
			return den.SQLBlob
		}
		return den.SQLNull
	}
	if r.stmt == nil {
		return den.SQLNull
	}
	switch r.stmt.ColumnType(i) {
	case sqlite.TypeInteger:
		return den.SQLInteger
	case sqlite.TypeFloat:
		return den.SQLReal
	case sqlite.TypeText:
		return den.SQLText
	case sqlite.TypeBlob:
		return den.SQLBlob
	}
	return den.SQLNull
}

func (r *rows) Int64(i int) int64 {
	if r.cur != nil {
		v, _ := r.cur[i].(int64)
		return v
	}
	if r.stmt == nil {
		return 0
	}
	return r.stmt.ColumnInt64(i)
}

func (r *rows) Float64(i int) float64 {
	if r.cur != nil {
		v, _ := r.cur[i].(float64)
		return v
	}
	if r.stmt == nil {
		return 0
	}
	return r.stmt.ColumnFloat(i)
}

func (r *rows) Text(i int) string {
	if r.cur != nil {
		switch v := r.cur[i].(type) {
		case string:
			return v
		case []byte:
			return string(v)
		}
		return ""
	}
	if r.stmt == nil {
		return ""
	}
	return r.stmt.ColumnText(i)
}

func (r *rows) Blob(i int) []byte {
	if r.cur != nil {
		switch v := r.cur[i].(type) {
		case []byte:
			return slices.Clone(v)
		case string:
			return []byte(v)
		}
		return []byte{}
	}
	if r.stmt == nil {
		return []byte{}
	}
	b := make([]byte, r.stmt.ColumnLen(i))
	r.stmt.ColumnBytes(i, b)
	return b
}

func (r *rows) RowsRead() int64    { return r.read }
func (r *rows) RowsWritten() int64 { return r.written }

func (r *rows) Close() error {
	r.release()
	r.buffered, r.buf, r.cur = false, nil, nil
	return nil
}

// bind binds arg to parameter i of stmt, mapping Go types as den.SQL says.
func bind(stmt *sqlite.Stmt, i int, arg any) error {
	switch v := arg.(type) {
	case nil:
		stmt.BindNull(i)
	case int64:
		stmt.BindInt64(i, v)
	case int:
		stmt.BindInt64(i, int64(v))
	case float64:
		stmt.BindFloat(i, v)
	case string:
		if len(v) > den.MaxSQLValueBytes {
			return tooBig(i, len(v))
		}
		stmt.BindText(i, v)
	case []byte:
		if v == nil {
			stmt.BindNull(i)
			return nil
		}
		if len(v) > den.MaxSQLValueBytes {
			return tooBig(i, len(v))
		}
		stmt.BindBytes(i, v)
	case bool:
		stmt.BindBool(i, v)
	case json.RawMessage:
		return bind(stmt, i, string(v))
	case time.Time:
		stmt.BindText(i, v.UTC().Format(time.RFC3339Nano))
	default:
		return bindReflect(stmt, i, arg)
	}
	return nil
}

// bindReflect binds named types and pointers.
func bindReflect(stmt *sqlite.Stmt, i int, arg any) error {
	rv := reflect.ValueOf(arg)
	switch rv.Kind() {
	case reflect.Pointer:
		if rv.IsNil() {
			stmt.BindNull(i)
			return nil
		}
		return bind(stmt, i, rv.Elem().Interface())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		stmt.BindInt64(i, rv.Int())
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		n := rv.Uint()
		if n > 1<<63-1 {
			return den.Errorf(den.EINVALID, "SQL parameter %d: %d does not fit in an SQLite INTEGER (at most 2^63-1)", i, n)
		}
		stmt.BindInt64(i, int64(n))
		return nil
	case reflect.Float32, reflect.Float64:
		stmt.BindFloat(i, rv.Float())
		return nil
	case reflect.Bool:
		stmt.BindBool(i, rv.Bool())
		return nil
	case reflect.String:
		return bind(stmt, i, rv.String())
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return bind(stmt, i, rv.Bytes())
		}
	}
	return den.Errorf(den.EINVALID, "SQL parameter %d: cannot bind a %T: use nil, an integer, a float, a string, []byte, bool or time.Time", i, arg)
}

func tooBig(i, n int) error {
	return den.Errorf(den.ELIMIT, "SQL parameter %d is %d bytes; a string or blob is limited to %d bytes (2 MiB)", i, n, den.MaxSQLValueBytes)
}
