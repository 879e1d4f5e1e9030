package den_test

import (
	"database/sql"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/den-run/den"
)

// table is an in-memory den.Rows: the contract a storage adapter
// implements, enough to test the cursor's side of it.
type table struct {
	cols   []string
	rows   [][]any
	i      int // the current row is rows[i-1]
	closed bool
	err    error // returned by Next after the rows
}

func (t *table) Columns() []string { return t.cols }
func (t *table) Next() (bool, error) {
	if t.closed {
		return false, nil
	}
	if t.i == len(t.rows) {
		return false, t.err
	}
	t.i++
	return true, nil
}
func (t *table) v(i int) any { return t.rows[t.i-1][i] }
func (t *table) Type(i int) den.SQLType {
	switch t.v(i).(type) {
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
func (t *table) Int64(i int) int64     { n, _ := t.v(i).(int64); return n }
func (t *table) Float64(i int) float64 { f, _ := t.v(i).(float64); return f }
func (t *table) Text(i int) string {
	switch v := t.v(i).(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	return ""
}
func (t *table) Blob(i int) []byte {
	switch v := t.v(i).(type) {
	case string:
		return []byte(v)
	case []byte:
		return append([]byte{}, v...)
	}
	return []byte{}
}
func (t *table) RowsRead() int64    { return int64(t.i) }
func (t *table) RowsWritten() int64 { return 0 }
func (t *table) Close() error       { t.closed = true; return nil }

func cursor(cols []string, rows ...[]any) (*den.Cursor, *table) {
	t := &table{cols: cols, rows: rows}
	return den.NewCursor(t), t
}

type upper string

func (u *upper) Scan(src any) error {
	s, ok := src.(string)
	if !ok {
		return den.Errorf(den.EINVALID, "not text")
	}
	*u = upper(strings.ToUpper(s))
	return nil
}

func TestScanConversions(t *testing.T) {
	type myInt int32
	type myBytes []byte
	var (
		i64   int64
		i     int
		i8    int8
		u8    uint8
		u64   uint64
		f64   float64
		f32   float32
		s     string
		b     []byte
		mb    myBytes
		ok    bool
		tm    time.Time
		a     any
		ps    *string
		pi    *int64
		mi    myInt
		up    upper
		ns    sql.NullString
		iface any
	)
	for _, tc := range []struct {
		v    any
		dest any
		want any // the value dest points to after; nil: an error is wanted
	}{
		{int64(7), &i64, int64(7)},
		{2.0, &i64, int64(2)},
		{2.5, &i64, nil},
		{"7", &i64, nil},
		{nil, &i64, nil},
		{int64(math.MaxInt64), &i, math.MaxInt},
		{int64(127), &i8, int8(127)},
		{int64(128), &i8, nil},
		{int64(-1), &u8, nil},
		{int64(255), &u8, uint8(255)},
		{int64(math.MaxInt64), &u64, uint64(math.MaxInt64)},
		{int64(3), &f64, 3.0},
		{1.5, &f32, float32(1.5)},
		{1e300, &f32, nil},
		{"x", &s, "x"},
		{[]byte("y"), &s, "y"},
		{int64(1), &s, nil},
		{[]byte{1}, &b, []byte{1}},
		{"z", &b, []byte("z")},
		{nil, &b, []byte(nil)},
		{[]byte{2}, &mb, myBytes{2}},
		{int64(1), &ok, true},
		{int64(0), &ok, false},
		{"1", &ok, nil},
		{"2026-01-02T03:04:05.5Z", &tm, time.Date(2026, 1, 2, 3, 4, 5, 5e8, time.UTC)},
		{"2026-01-02 03:04:05", &tm, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"2026-01-02", &tm, time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)},
		{"yesterday", &tm, nil},
		{int64(5), &tm, nil},
		{int64(5), &a, int64(5)},
		{nil, &a, nil},
		{"p", &ps, ptr("p")},
		{nil, &ps, (*string)(nil)},
		{int64(9), &pi, ptr(int64(9))},
		{int64(-5), &mi, myInt(-5)},
		{int64(1 << 40), &mi, nil},
		{"shout", &up, upper("SHOUT")},
		{int64(1), &up, nil},
		{"n", &ns, sql.NullString{String: "n", Valid: true}},
		{nil, &ns, sql.NullString{}},
		{"i", &iface, "i"},
		{int64(1), i64, nil}, // not a pointer
	} {
		c, _ := cursor([]string{"col"}, []any{tc.v})
		c.Next()
		err := c.Scan(tc.dest)
		if tc.want == nil && tc.dest != &a && tc.dest != &ps {
			if den.ErrorCode(err) != den.EINVALID || !strings.Contains(err.Error(), `"col"`) {
				t.Errorf("scan %#v into %T: %v, want an EINVALID error naming the column", tc.v, tc.dest, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("scan %#v into %T: %v", tc.v, tc.dest, err)
			continue
		}
		if got := reflect.ValueOf(tc.dest).Elem().Interface(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("scan %#v into %T: %#v, want %#v", tc.v, tc.dest, got, tc.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestScanStruct(t *testing.T) {
	type Audit struct {
		CreatedAt int64 `sql:"created_at"`
		Note      string
	}
	type item struct {
		Audit
		ID      int64  `sql:"id"`
		Name    string // matched ignoring case
		Price   *float64
		Skipped string `sql:"-"`
		hidden  string
		Note    string // the outer field wins over Audit.Note
	}
	c, tb := cursor([]string{"id", "NAME", "price", "created_at", "note", "skipped", "hidden", "extra"},
		[]any{int64(1), "one", 1.5, int64(100), "outer", "s", "h", "e"},
		[]any{int64(2), "two", nil, int64(200), "x", "s", "h", "e"})
	items, err := den.ScanAll[item](c, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []item{
		{Audit: Audit{CreatedAt: 100}, ID: 1, Name: "one", Price: ptr(1.5), Note: "outer"},
		{Audit: Audit{CreatedAt: 200}, ID: 2, Name: "two", Note: "x"},
	}
	if !reflect.DeepEqual(items, want) {
		t.Errorf("got %+v\nwant %+v", items, want)
	}
	if !tb.closed {
		t.Error("ScanAll left the rows open")
	}
	// A bad value names its column.
	c, _ = cursor([]string{"id"}, []any{"not a number"})
	if _, err := den.ScanAll[item](c, nil); den.ErrorCode(err) != den.EINVALID || !strings.Contains(err.Error(), `"id"`) {
		t.Errorf("bad value: %v", err)
	}
	// ScanStruct wants a pointer to a struct.
	c, _ = cursor([]string{"id"}, []any{int64(1)})
	c.Next()
	var n int
	if err := c.ScanStruct(&n); den.ErrorCode(err) != den.EINVALID {
		t.Errorf("ScanStruct(*int): %v", err)
	}
}

func TestCursor(t *testing.T) {
	cols := []string{"id", "name", "id"}
	c, tb := cursor(cols, []any{int64(1), "a", int64(10)}, []any{int64(2), []byte("b"), nil})
	if got := c.Columns(); !reflect.DeepEqual(got, cols) {
		t.Errorf("columns %v", got)
	}
	if c.Values() != nil || c.Map() != nil || c.Scan() == nil {
		t.Error("the cursor reads a row before Next")
	}
	rows, err := c.All()
	if err != nil || len(rows) != 2 || !tb.closed {
		t.Fatalf("All: %v %v, closed %v", rows, err, tb.closed)
	}
	if got := rows[0].Map(); !reflect.DeepEqual(got, map[string]any{"id": int64(10), "name": "a"}) {
		t.Errorf("Map %v: the later of two columns wins", got)
	}
	if j, err := json.Marshal(rows); err != nil || string(j) != `[{"id":10,"name":"a"},{"id":null,"name":"Yg=="}]` {
		t.Errorf("JSON %s %v", j, err)
	}
	var id, id2 int64
	var name string
	if err := rows[0].Scan(&id, &name, &id2); err != nil || id != 1 || name != "a" || id2 != 10 {
		t.Errorf("Row.Scan: %v %d %q %d", err, id, name, id2)
	}
	if c.Next() || c.Err() != nil {
		t.Errorf("Next after the end: %v", c.Err())
	}

	// Raw, and an error that ends the rows.
	c, tb = cursor([]string{"x"}, []any{1.5})
	tb.err = den.Errorf(den.EINTERNAL, "disk on fire")
	raw, err := c.Raw()
	if den.ErrorCode(err) != den.EINTERNAL || len(raw) != 1 {
		t.Errorf("Raw: %v %v", raw, err)
	}

	// One and ScanOne: exactly one row.
	c, _ = cursor([]string{"x"})
	if _, err := c.One(); den.ErrorCode(err) != den.ENOTFOUND || err.Error() != den.MsgSQLNoResults {
		t.Errorf("One of none: %v", err)
	}
	c, _ = cursor([]string{"x"}, []any{int64(1)}, []any{int64(2)})
	if _, err := den.ScanOne[int64](c, nil); den.ErrorCode(err) != den.EINVALID || err.Error() != den.MsgSQLManyResults {
		t.Errorf("ScanOne of many: %v", err)
	}
	c, _ = cursor([]string{"x", "y"}, []any{int64(1), int64(2)})
	if _, err := den.ScanOne[int64](c, nil); den.ErrorCode(err) != den.EINVALID {
		t.Errorf("ScanOne[int64] of two columns: %v", err)
	}
	c, _ = cursor([]string{"x", "y"}, []any{int64(1), "two"})
	if m, err := den.ScanOne[map[string]any](c, nil); err != nil || !reflect.DeepEqual(m, map[string]any{"x": int64(1), "y": "two"}) {
		t.Errorf("ScanOne[map]: %v %v", m, err)
	}
	c, tb = cursor([]string{"x"}, []any{int64(1)})
	c.Close()
	if !tb.closed || c.Next() {
		t.Error("Close did not close the rows")
	}
	if _, err := den.ScanAll[int](nil, den.Errorf(den.ELIMIT, "from Exec")); den.ErrorCode(err) != den.ELIMIT {
		t.Errorf("ScanAll passes Exec's error on: %v", err)
	}
}

func TestSQLTypeString(t *testing.T) {
	for typ, want := range map[den.SQLType]string{den.SQLNull: "NULL", den.SQLInteger: "INTEGER", den.SQLReal: "REAL", den.SQLText: "TEXT", den.SQLBlob: "BLOB"} {
		if typ.String() != want {
			t.Errorf("%d: %s", typ, typ)
		}
	}
}
