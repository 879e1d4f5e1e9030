package den

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
)

// Cursor reads the rows of a statement run by [SQL.Exec], lazily: each Next
// steps the statement once. Read a row as values ([Cursor.Values]), as a map
// ([Cursor.Map]), into variables ([Cursor.Scan]) or into a struct
// ([Cursor.ScanStruct]); or take every row at once with [Cursor.All],
// [Cursor.Raw] or [ScanAll], or exactly one with [Cursor.One] or [ScanOne].
//
//	c, err := st.Storage().SQL().Exec("SELECT id, title FROM notes WHERE user = ?", user)
//	if err != nil { ... }
//	defer c.Close()
//	for c.Next() {
//		var id int64
//		var title string
//		if err := c.Scan(&id, &title); err != nil { ... }
//	}
//	if err := c.Err(); err != nil { ... }
//
// A cursor is read on the object's own goroutine, during the turn that
// opened it: it is closed when the turn's writes commit (at the end of the
// turn, at an outgoing call or at Storage.Sync), and reading it afterwards is
// an error. Reading it to the end, or Close, returns its statement to the
// object's statement cache early.
type Cursor struct {
	rows Rows
	cols []string
	row  bool // positioned on a row
	done bool
	err  error

	planType reflect.Type // the struct type plan was made for
	plan     [][]int      // field index of each column, nil for none
}

// NewCursor returns a Cursor over rows. Storage adapters call it.
func NewCursor(rows Rows) *Cursor { return &Cursor{rows: rows, cols: rows.Columns()} }

// Columns returns the names of the result's columns, in order, duplicates
// kept (a join may return two columns named id). A statement that returns no
// rows, such as an INSERT, has none.
func (c *Cursor) Columns() []string { return slices.Clone(c.cols) }

// Next advances to the next row and reports whether there is one. At the end,
// or on an error (see [Cursor.Err]), it closes the cursor and returns false.
func (c *Cursor) Next() bool {
	if c.done {
		return false
	}
	ok, err := c.rows.Next()
	if err != nil || !ok {
		c.finish(err)
		return false
	}
	c.row = true
	return true
}

// Err returns the error that ended the iteration, or nil.
func (c *Cursor) Err() error { return c.err }

// Close releases the cursor's statement. It is idempotent and returns nil
// unless releasing failed.
func (c *Cursor) Close() error {
	if c.done {
		return nil
	}
	c.finish(nil)
	return c.err
}

func (c *Cursor) finish(err error) {
	c.done, c.row = true, false
	if cerr := c.rows.Close(); err == nil {
		err = cerr
	}
	if c.err == nil {
		c.err = err
	}
}

// RowsRead returns the number of rows read so far: the rows the cursor has
// returned. It grows as the cursor is read.
func (c *Cursor) RowsRead() int64 { return c.rows.RowsRead() }

// RowsWritten returns the number of rows the statements inserted, updated or
// deleted (not counting index entries or rows that triggers changed).
func (c *Cursor) RowsWritten() int64 { return c.rows.RowsWritten() }

// Values returns the current row's values, one per column, in a new slice;
// nil if the cursor is not on a row.
func (c *Cursor) Values() []any {
	if !c.row {
		return nil
	}
	vals := make([]any, len(c.cols))
	for i := range vals {
		vals[i] = value(c.rows, i)
	}
	return vals
}

// Map returns the current row as a map from column name to value; nil if the
// cursor is not on a row. Of two columns with the same name, the later wins.
func (c *Cursor) Map() map[string]any {
	if !c.row {
		return nil
	}
	m := make(map[string]any, len(c.cols))
	for i, name := range c.cols {
		m[name] = value(c.rows, i)
	}
	return m
}

// Row returns a copy of the current row, which stays valid after the cursor
// moves on; the zero Row if the cursor is not on a row.
func (c *Cursor) Row() Row {
	if !c.row {
		return Row{}
	}
	return Row{cols: c.cols, vals: c.Values()}
}

// Scan copies the current row's columns into dest, one pointer per column.
// See [Row.Scan] for the conversions.
func (c *Cursor) Scan(dest ...any) error {
	if !c.row {
		return errNoRow
	}
	return scanRow(c.rows, c.cols, dest)
}

// ScanStruct copies the current row into the struct dst points to: each
// column goes to the field tagged `sql:"name"` with its name, or else to the
// field whose name matches it ignoring case. Columns with no field are
// skipped; fields with no column are left alone; a field tagged `sql:"-"`
// is never set. Fields of embedded structs count as the outer struct's.
func (c *Cursor) ScanStruct(dst any) error {
	if !c.row {
		return errNoRow
	}
	rv, err := structTarget(dst)
	if err != nil {
		return err
	}
	if c.planType != rv.Type() {
		c.planType, c.plan = rv.Type(), planStruct(rv.Type(), c.cols)
	}
	return scanStruct(c.rows, c.cols, c.plan, rv)
}

// All reads every remaining row and closes the cursor.
func (c *Cursor) All() ([]Row, error) {
	defer c.Close()
	var rows []Row
	for c.Next() {
		rows = append(rows, c.Row())
	}
	return rows, c.Err()
}

// Raw reads every remaining row as a slice of values and closes the cursor.
func (c *Cursor) Raw() ([][]any, error) {
	defer c.Close()
	var rows [][]any
	for c.Next() {
		rows = append(rows, c.Values())
	}
	return rows, c.Err()
}

// One reads the only remaining row and closes the cursor. It returns an
// ENOTFOUND error (MsgSQLNoResults) if there is none and an EINVALID error
// (MsgSQLManyResults) if there are several.
func (c *Cursor) One() (Row, error) {
	defer c.Close()
	if !c.Next() {
		if err := c.Err(); err != nil {
			return Row{}, err
		}
		return Row{}, Errorf(ENOTFOUND, MsgSQLNoResults)
	}
	r := c.Row()
	if c.Next() {
		return Row{}, Errorf(EINVALID, MsgSQLManyResults)
	}
	if err := c.Err(); err != nil {
		return Row{}, err
	}
	return r, nil
}

// Row is one row of a result, copied out of its cursor.
type Row struct {
	cols []string
	vals []any
}

// Columns returns the row's column names, duplicates kept.
func (r Row) Columns() []string { return slices.Clone(r.cols) }

// Values returns the row's values, one per column: int64, float64, string,
// []byte or nil. The slice is the row's own.
func (r Row) Values() []any { return r.vals }

// Map returns the row as a map from column name to value. Of two columns
// with the same name, the later wins.
func (r Row) Map() map[string]any {
	m := make(map[string]any, len(r.cols))
	for i, name := range r.cols {
		m[name] = r.vals[i]
	}
	return m
}

// Scan copies the row's columns into dest, one pointer per column. A
// destination may be:
//
//   - *any: the value as it is;
//   - *int64, *int, *int32… and *uint64…: an INTEGER, or a REAL that is a
//     whole number, if it fits;
//   - *float64, *float32: a REAL or an INTEGER;
//   - *string: TEXT or BLOB; *[]byte: BLOB or TEXT (NULL gives nil);
//   - *bool: an INTEGER, true unless 0;
//   - *time.Time: TEXT in RFC 3339 or SQLite's "YYYY-MM-DD HH:MM:SS[.SSS]"
//     form (in UTC unless it says otherwise);
//   - a pointer to a pointer, such as **string: nil for NULL;
//   - a value with a Scan(src any) error method (database/sql's Scanner),
//     which receives the value as it is;
//   - a pointer to a named type of one of those kinds.
//
// NULL into anything but *any, *[]byte, a pointer to a pointer or a Scanner
// is an error, as is a conversion that would lose information. Errors are
// EINVALID and name the column.
func (r Row) Scan(dest ...any) error {
	if r.cols == nil {
		return errNoRow
	}
	return scanRow(r, r.cols, dest)
}

// ScanStruct copies the row into the struct dst points to, matching columns
// to fields as [Cursor.ScanStruct] does.
func (r Row) ScanStruct(dst any) error {
	if r.cols == nil {
		return errNoRow
	}
	rv, err := structTarget(dst)
	if err != nil {
		return err
	}
	return scanStruct(r, r.cols, planStruct(rv.Type(), r.cols), rv)
}

// MarshalJSON encodes the row as a JSON object with its columns in order
// (of two with the same name, the later's value at the earlier's place), as
// a JavaScript object would be: BLOBs as base64 text.
func (r Row) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	seen := make(map[string]int, len(r.cols))
	for i, name := range r.cols {
		seen[name] = i
	}
	first := true
	for i, name := range r.cols {
		j := seen[name]
		if j < 0 {
			continue // written already
		}
		seen[name] = -1
		if !first {
			b.WriteByte(',')
		}
		first = false
		k, err := json.Marshal(name)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(r.vals[j])
		if err != nil {
			return nil, Errorf(EINVALID, "encode column %q of a row as JSON: %w", r.cols[i], err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Type returns the type of column i.
func (r Row) Type(i int) SQLType {
	switch r.vals[i].(type) {
	case int64:
		return SQLInteger
	case float64:
		return SQLReal
	case string:
		return SQLText
	case []byte:
		return SQLBlob
	}
	return SQLNull
}

// Int64 returns column i if it is an INTEGER, else 0.
func (r Row) Int64(i int) int64 { v, _ := r.vals[i].(int64); return v }

// Float64 returns column i if it is a REAL, else 0.
func (r Row) Float64(i int) float64 { v, _ := r.vals[i].(float64); return v }

// Text returns column i if it is TEXT or a BLOB, else "".
func (r Row) Text(i int) string {
	switch v := r.vals[i].(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	return ""
}

// Blob returns a copy of column i if it is a BLOB or TEXT, else an empty
// slice.
func (r Row) Blob(i int) []byte {
	switch v := r.vals[i].(type) {
	case []byte:
		return slices.Clone(v)
	case string:
		return []byte(v)
	}
	return []byte{}
}

// ScanAll reads every remaining row of c into a T and closes c. T may be a
// struct (see [Cursor.ScanStruct]), map[string]any, []any, [Row], or any
// type [Row.Scan] accepts a pointer to, for a single-column result.
//
//	notes, err := den.ScanAll[Note](sql.Exec("SELECT * FROM notes"))
//
// It takes Exec's two results so that calls chain; an error in err is
// returned as it is.
func ScanAll[T any](c *Cursor, err error) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer c.Close()
	out := []T{}
	for c.Next() {
		var v T
		if err := c.scanInto(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, c.Err()
}

// ScanOne reads the only remaining row of c into a T, as [ScanAll] does, and
// closes c. Like [Cursor.One], it returns an ENOTFOUND error if there is no
// row and an EINVALID error if there are several.
func ScanOne[T any](c *Cursor, err error) (T, error) {
	var v T
	if err != nil {
		return v, err
	}
	defer c.Close()
	if !c.Next() {
		if err := c.Err(); err != nil {
			return v, err
		}
		return v, Errorf(ENOTFOUND, MsgSQLNoResults)
	}
	if err := c.scanInto(&v); err != nil {
		return v, err
	}
	if c.Next() {
		return v, Errorf(EINVALID, MsgSQLManyResults)
	}
	return v, c.Err()
}

// scanInto scans the current row into *p according to p's element type.
func (c *Cursor) scanInto(p any) error {
	switch p := p.(type) {
	case *map[string]any:
		*p = c.Map()
		return nil
	case *[]any:
		*p = c.Values()
		return nil
	case *Row:
		*p = c.Row()
		return nil
	}
	if isStructTarget(p) {
		return c.ScanStruct(p)
	}
	if len(c.cols) != 1 {
		return Errorf(EINVALID, "scan a row of %d columns into %T: use a struct, a map or Scan, or select one column", len(c.cols), p)
	}
	return c.Scan(p)
}
