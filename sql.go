package den

import "time"

// SQL limits, enforced by every SQL implementation (Cloudflare's documented
// production limits; see docs/SQL.md for where Den differs from workerd).
const (
	MaxSQLBytes            = 100_000 // SQL text of one Exec, in bytes
	MaxSQLParams           = 100     // bound parameters of one Exec
	MaxSQLColumns          = 100     // columns of a table, index or result
	MaxSQLValueBytes       = 2 << 20 // a string, a blob or a row (2 MiB)
	MaxSQLLikePatternBytes = 50      // a LIKE or GLOB pattern
	MaxSQLFunctionArgs     = 32      // arguments of one SQL function call

	// DefaultMaxSQLStatementTime bounds how long one SQL statement may run
	// before it is interrupted and its object reset, as Cloudflare bounds
	// storage operations (30 s). A runtime may configure another.
	DefaultMaxSQLStatementTime = 30 * time.Second

	// DefaultMaxDatabaseBytes is the default cap on one object's database
	// (10 GB, as on Cloudflare). A runtime may configure another per
	// namespace.
	DefaultMaxDatabaseBytes = 10_000_000_000
)

// Messages of the SQL API's own errors, as Cloudflare words them (adapted
// to Go's API where they name one).
const (
	MsgSQLNoStatement = "SQL code did not contain a statement."
	MsgSQLBindings    = "Wrong number of parameter bindings for SQL query."
	MsgSQLMultiParams = "When executing multiple SQL statements in a single call, only the last statement can have parameters."
	MsgSQLNoResults   = "Expected exactly one result from SQL query, but got no results."
	MsgSQLManyResults = "Expected exactly one result from SQL query, but got multiple results."
	MsgSQLTransaction = "To execute a transaction, please use Storage.Transaction instead of the SQL BEGIN TRANSACTION or SAVEPOINT statements. Storage.Transaction rolls back when its function fails and works with the turn's implicit transaction."
)

// SQL is the SQL API on an object's own SQLite database
// (ctx.storage.sql in Cloudflare's API). Like [KV] it is used only from the
// object's own turns and never blocks on another object.
//
// Exec compiles and runs query with args bound to its parameters and returns
// a [Cursor] over the rows of its last statement. Several statements may be
// separated by ';': they run in order, args bind to the last one (the
// others may have no parameters), and the cursor belongs to the last; if one
// fails, none of them leaves a change. Text with no statement is an error.
// A statement is compiled once and cached per object by its text.
//
// Parameters bind by position (?, ?NNN, :name, @name and $name all count by
// their index) and their number must match len(args). Go values map to
// SQLite types as follows:
//
//	nil, nil pointer                → NULL
//	int, int8…int64, uint…uint64    → INTEGER (a uint64 above 2⁶³−1 is an error)
//	float32, float64                → REAL
//	bool                            → INTEGER 1 or 0
//	string, json.RawMessage         → TEXT
//	[]byte                          → BLOB (a nil []byte is NULL)
//	time.Time                       → TEXT, RFC 3339 in UTC with nanoseconds,
//	                                  which SQLite's date functions read
//
// and named types of those kinds and pointers to them likewise. Result
// values are int64 (INTEGER), float64 (REAL), string (TEXT), []byte (BLOB,
// never nil) and nil (NULL).
//
// Writes join the turn's implicit transaction and any open
// [KV.Transaction], exactly like key-value writes. The statements BEGIN,
// COMMIT, ROLLBACK, SAVEPOINT and RELEASE are refused: use
// KV.Transaction. The database is sandboxed: no ATTACH, no TEMP objects, no
// access to names that begin with "_cf_" (Den's own tables), pragma and
// function allow-lists, virtual tables limited to fts5, fts5vocab, rtree and
// rtree_i32, and the MaxSQL* limits.
//
// Errors are *Error values: EINVALID for a statement SQLite or the sandbox
// refuses (the message ends with the SQLite code, such as
// "no such table: t: SQLITE_ERROR", or names what the sandbox refused),
// ELIMIT for a broken limit, including the database size cap. A critical
// failure (the size cap or the disk is full, an I/O error) has Reset set: the
// turn's writes roll back and the object resets.
type SQL interface {
	Exec(query string, args ...any) (*Cursor, error)
	// DatabaseSize returns the bytes the database uses: its pages less its
	// free pages, times the page size. The key-value data and Den's own
	// tables count too.
	DatabaseSize() (int64, error)
}

// SQLType is the type of one SQL value, as SQLite stores it.
type SQLType uint8

// The five SQLite storage classes.
const (
	SQLNull SQLType = iota
	SQLInteger
	SQLReal
	SQLText
	SQLBlob
)

// String returns the type's SQL name, such as "INTEGER".
func (t SQLType) String() string {
	switch t {
	case SQLNull:
		return "NULL"
	case SQLInteger:
		return "INTEGER"
	case SQLReal:
		return "REAL"
	case SQLText:
		return "TEXT"
	case SQLBlob:
		return "BLOB"
	}
	return "SQLType(?)"
}

// Rows is the storage side of a [Cursor]: a statement's result set, read one
// row at a time. Storage adapters implement it; apps use Cursor.
//
// Next advances to the next row and reports whether there is one. The
// column accessors read the current row: Type gives the value's type, and
// Int64, Float64, Text and Blob convert it as SQLite does (Blob returns a
// fresh slice, never nil). RowsRead and RowsWritten count the rows read and
// written so far. Close releases the statement; it is idempotent, and Next
// returns false after it.
type Rows interface {
	Columns() []string
	Next() (bool, error)
	Type(i int) SQLType
	Int64(i int) int64
	Float64(i int) float64
	Text(i int) string
	Blob(i int) []byte
	RowsRead() int64
	RowsWritten() int64
	Close() error
}
