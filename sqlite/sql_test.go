package sqlite_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/sqlite"
)

// mustExec runs query on db and returns its rows, failing the test on an
// error.
func mustExec(tb testing.TB, db den.Database, query string, args ...any) [][]any {
	tb.Helper()
	c, err := db.SQL().Exec(query, args...)
	if err != nil {
		tb.Fatalf("Exec(%q): %v", query, err)
	}
	rows, err := c.Raw()
	if err != nil {
		tb.Fatalf("Exec(%q): read: %v", query, err)
	}
	return rows
}

// mustBegin begins the turn's transaction, as the runtime does.
func mustBegin(tb testing.TB, db den.Database) {
	tb.Helper()
	must(tb, db.Begin())
}

func mustCommit(tb testing.TB, db den.Database) {
	tb.Helper()
	if _, err := db.Commit(); err != nil {
		tb.Fatal(err)
	}
}

func TestSQLTypeMapping(t *testing.T) {
	db := mustDB(t)
	mustBegin(t, db)
	mustExec(t, db, "CREATE TABLE t (v ANY)")
	type myInt int16
	type myString string
	n := int64(7)
	var nilPtr *int64
	when := time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.FixedZone("X", 3600))
	args := []any{nil, 42, int8(-3), uint32(9), int64(math.MaxInt64), 1.5, float32(0.25), "text", []byte{0, 1}, []byte{}, []byte(nil),
		true, false, myInt(12), myString("named"), &n, nilPtr, json.RawMessage(`{"a":1}`), when}
	for _, a := range args {
		mustExec(t, db, "INSERT INTO t VALUES (?)", a)
	}
	got := mustExec(t, db, "SELECT v, typeof(v) FROM t ORDER BY rowid")
	want := [][]any{
		{nil, "null"}, {int64(42), "integer"}, {int64(-3), "integer"}, {int64(9), "integer"},
		{int64(math.MaxInt64), "integer"}, {1.5, "real"}, {0.25, "real"}, {"text", "text"},
		{[]byte{0, 1}, "blob"}, {[]byte{}, "blob"}, {nil, "null"}, {int64(1), "integer"}, {int64(0), "integer"},
		{int64(12), "integer"}, {"named", "text"}, {int64(7), "integer"}, {nil, "null"},
		{`{"a":1}`, "text"}, {"2026-01-02T02:04:05.6Z", "text"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%#v\nwant\n%#v", got, want)
	}
	if _, err := db.SQL().Exec("SELECT ?", uint64(math.MaxUint64)); den.ErrorCode(err) != den.EINVALID {
		t.Errorf("uint64 above 2^63-1: %v", err)
	}
	if _, err := db.SQL().Exec("SELECT ?", struct{}{}); den.ErrorCode(err) != den.EINVALID || !strings.Contains(err.Error(), "struct {}") {
		t.Errorf("struct argument: %v", err)
	}
	// The bound time reads back through SQLite's date functions.
	if got := mustExec(t, db, "SELECT unixepoch(?)", when); got[0][0] != when.Unix() {
		t.Errorf("unixepoch(time) = %v, want %d", got[0][0], when.Unix())
	}
}

func TestSQLCursor(t *testing.T) {
	db := mustDB(t)
	mustBegin(t, db)
	mustExec(t, db, "CREATE TABLE a (id INTEGER PRIMARY KEY, name TEXT, score REAL, data BLOB)")
	mustExec(t, db, "CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER, name TEXT)")
	c, err := db.SQL().Exec("INSERT INTO a VALUES (1, 'one', 1.5, x'01'), (2, 'two', NULL, NULL), (3, 'three', 3, x'')")
	if err != nil {
		t.Fatal(err)
	}
	if c.RowsWritten() != 3 || c.Next() || len(c.Columns()) != 0 {
		t.Errorf("insert: written %d, columns %v", c.RowsWritten(), c.Columns())
	}
	mustExec(t, db, "INSERT INTO b VALUES (10, 1, 'b-one'), (20, 2, 'b-two')")

	// Columns keep duplicates, as from a join; a map keeps the later.
	c, err = db.SQL().Exec("SELECT a.id, b.id, a.name, b.name FROM a JOIN b ON b.a_id = a.id ORDER BY a.id")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Columns(); !reflect.DeepEqual(got, []string{"id", "id", "name", "name"}) {
		t.Errorf("columns %v", got)
	}
	if !c.Next() {
		t.Fatal(c.Err())
	}
	if got := c.Values(); !reflect.DeepEqual(got, []any{int64(1), int64(10), "one", "b-one"}) {
		t.Errorf("values %v", got)
	}
	if got := c.Map(); !reflect.DeepEqual(got, map[string]any{"id": int64(10), "name": "b-one"}) {
		t.Errorf("map %v", got)
	}
	var aid, bid int64
	var aname, bname string
	if err := c.Scan(&aid, &bid, &aname, &bname); err != nil || aid != 1 || bid != 10 || aname != "one" || bname != "b-one" {
		t.Errorf("scan: %v %d %d %q %q", err, aid, bid, aname, bname)
	}
	if err := c.Scan(&aid); den.ErrorCode(err) != den.EINVALID {
		t.Errorf("scan into too few: %v", err)
	}
	row := c.Row()
	if j, err := json.Marshal(row); err != nil || string(j) != `{"id":10,"name":"b-one"}` {
		t.Errorf("row JSON %s %v", j, err)
	}
	if !c.Next() || c.Next() || c.Err() != nil {
		t.Errorf("second row, then the end: %v", c.Err())
	}
	if c.RowsRead() != 2 {
		t.Errorf("rows read %d, want 2", c.RowsRead())
	}
	if err := c.Scan(&aid, &bid, &aname, &bname); den.ErrorCode(err) != den.EINVALID {
		t.Errorf("scan after the end: %v", err)
	}

	// Structs: by tag, by name in any case, embedded, skipped.
	type base struct {
		ID int64 `sql:"id"`
	}
	type item struct {
		base
		Name   string
		Score  *float64
		Data   []byte
		Ignore string `sql:"-"`
	}
	items, err := den.ScanAll[item](db.SQL().Exec("SELECT id, name, score, data, name AS ignore, 5 AS extra FROM a ORDER BY id"))
	if err != nil {
		t.Fatal(err)
	}
	one := 1.5
	want := []item{{base{1}, "one", &one, []byte{1}, ""}, {base{2}, "two", nil, nil, ""}, {base{3}, "three", ptr(3.0), []byte{}, ""}}
	if !reflect.DeepEqual(items, want) {
		t.Errorf("ScanAll structs:\n%+v\nwant\n%+v", items, want)
	}
	names, err := den.ScanAll[string](db.SQL().Exec("SELECT name FROM a ORDER BY id DESC"))
	if err != nil || !reflect.DeepEqual(names, []string{"three", "two", "one"}) {
		t.Errorf("ScanAll strings: %v %v", names, err)
	}
	if _, err := den.ScanAll[string](db.SQL().Exec("SELECT id, name FROM a")); den.ErrorCode(err) != den.EINVALID {
		t.Errorf("ScanAll[string] of two columns: %v", err)
	}
	maps, err := den.ScanAll[map[string]any](db.SQL().Exec("SELECT id FROM a WHERE id < 3 ORDER BY id"))
	if err != nil || !reflect.DeepEqual(maps, []map[string]any{{"id": int64(1)}, {"id": int64(2)}}) {
		t.Errorf("ScanAll maps: %v %v", maps, err)
	}
	if _, err := den.ScanAll[int](db.SQL().Exec("SELECT * FROM nowhere")); den.ErrorCode(err) != den.EINVALID {
		t.Errorf("ScanAll passes Exec's error on: %v", err)
	}

	// One: exactly one row.
	c, _ = db.SQL().Exec("SELECT name FROM a WHERE id = ?", 2)
	if r, err := c.One(); err != nil || r.Values()[0] != "two" {
		t.Errorf("One: %v %v", r, err)
	}
	c, _ = db.SQL().Exec("SELECT name FROM a WHERE id = ?", 9)
	if _, err := c.One(); den.ErrorCode(err) != den.ENOTFOUND || err.Error() != den.MsgSQLNoResults {
		t.Errorf("One of none: %v", err)
	}
	c, _ = db.SQL().Exec("SELECT name FROM a")
	if _, err := c.One(); den.ErrorCode(err) != den.EINVALID || err.Error() != den.MsgSQLManyResults {
		t.Errorf("One of many: %v", err)
	}
	if n, err := den.ScanOne[int64](db.SQL().Exec("SELECT count(*) FROM a")); err != nil || n != 3 {
		t.Errorf("ScanOne: %d %v", n, err)
	}
	if _, err := den.ScanOne[int64](db.SQL().Exec("SELECT id FROM a WHERE 0")); den.ErrorCode(err) != den.ENOTFOUND {
		t.Errorf("ScanOne of none: %v", err)
	}

	// Conversions and their refusals.
	var i8 int8
	var f float64
	var b bool
	var s string
	var p *string
	var anyv any
	r, _ := den.ScanOne[den.Row](db.SQL().Exec("SELECT 127, 2, 1, 'x', NULL, x'ff', 2.0, 300"))
	if err := r.Scan(&i8, &f, &b, &s, &p, &anyv, &i8, &i8); den.ErrorCode(err) != den.EINVALID || !strings.Contains(err.Error(), "300 does not fit") {
		t.Errorf("int8 overflow: %v", err)
	}
	if i8 != 2 || f != 2 || !b || s != "x" || p != nil || !reflect.DeepEqual(anyv, []byte{0xff}) {
		t.Errorf("scanned %d %v %v %q %v %v", i8, f, b, s, p, anyv)
	}
	if err := r.Scan(&s, &f, &b, &s, &s, &anyv, &f, &f); den.ErrorCode(err) != den.EINVALID || !strings.Contains(err.Error(), `column "127"`) {
		t.Errorf("INTEGER into string: %v", err)
	}
	var tm time.Time
	if err := (den.Row{}).Scan(&tm); den.ErrorCode(err) != den.EINVALID {
		t.Errorf("scan of the zero Row: %v", err)
	}
	r, _ = den.ScanOne[den.Row](db.SQL().Exec("SELECT '2026-03-04 05:06:07'"))
	if err := r.Scan(&tm); err != nil || !tm.Equal(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)) {
		t.Errorf("time: %v %v", tm, err)
	}
	r, _ = den.ScanOne[den.Row](db.SQL().Exec("SELECT NULL"))
	if err := r.Scan(&s); den.ErrorCode(err) != den.EINVALID || !strings.Contains(err.Error(), "NULL") {
		t.Errorf("NULL into string: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestSQLStatements(t *testing.T) {
	db := mustDB(t)
	mustBegin(t, db)
	// Several statements: args bind to the last, the cursor is the last's.
	c, err := db.SQL().Exec("CREATE TABLE t (a); INSERT INTO t VALUES (1); INSERT INTO t VALUES (?) RETURNING a * 10", 2)
	if err != nil {
		t.Fatal(err)
	}
	if rows, err := c.Raw(); err != nil || !reflect.DeepEqual(rows, [][]any{{int64(20)}}) || c.RowsWritten() != 2 {
		t.Fatalf("script: %v %v, written %d", rows, err, c.RowsWritten())
	}
	if got := mustExec(t, db, "SELECT count(*) FROM t; -- a comment after the last statement"); got[0][0] != int64(2) {
		t.Errorf("count %v", got)
	}
	for _, q := range []string{"", ";", " ;; ", "-- only a comment", "/* only */ ; -- comments"} {
		if _, err := db.SQL().Exec(q); den.ErrorCode(err) != den.EINVALID || err.Error() != den.MsgSQLNoStatement {
			t.Errorf("Exec(%q): %v", q, err)
		}
	}
	// A script is all or nothing.
	if _, err := db.SQL().Exec("INSERT INTO t VALUES (3); INSERT INTO nowhere VALUES (4)"); den.ErrorCode(err) != den.EINVALID || !strings.Contains(err.Error(), "no such table: nowhere: SQLITE_ERROR") {
		t.Errorf("script with a bad statement: %v", err)
	}
	if _, err := db.SQL().Exec("INSERT INTO t VALUES (?); SELECT 1", 5); err == nil || err.Error() != den.MsgSQLMultiParams {
		t.Errorf("parameters before the last statement: %v", err)
	}
	if got := mustExec(t, db, "SELECT count(*) FROM t"); got[0][0] != int64(2) {
		t.Errorf("a failed script left rows: %v", got)
	}
	// Bindings must match.
	for _, args := range [][]any{{}, {1, 2}} {
		if _, err := db.SQL().Exec("SELECT ?", args...); err == nil || err.Error() != den.MsgSQLBindings {
			t.Errorf("%d args for 1 parameter: %v", len(args), err)
		}
	}
	if got := mustExec(t, db, "SELECT :a, ?2, $c", 1, 2, 3); !reflect.DeepEqual(got, [][]any{{int64(1), int64(2), int64(3)}}) {
		t.Errorf("named parameters: %v", got)
	}
	// Errors carry SQLite's message and code.
	for q, want := range map[string]string{
		"SELEC 1":                    `near "SELEC": syntax error at offset 0: SQLITE_ERROR`,
		"INSERT INTO t VALUES (1,2)": "table t has 1 columns but 2 values were supplied: SQLITE_ERROR",
	} {
		if _, err := db.SQL().Exec(q); err == nil || err.Error() != want {
			t.Errorf("Exec(%q): %v, want %q", q, err, want)
		}
	}
	mustExec(t, db, "CREATE TABLE u (x INTEGER PRIMARY KEY, y TEXT UNIQUE)")
	mustExec(t, db, "INSERT INTO u VALUES (1, 'a')")
	if _, err := db.SQL().Exec("INSERT INTO u VALUES (2, 'a')"); err == nil || err.Error() != "UNIQUE constraint failed: u.y: SQLITE_CONSTRAINT" {
		t.Errorf("constraint: %v", err)
	}
	mustCommit(t, db)
}

func TestSQLSharesTheTurnTransaction(t *testing.T) {
	db := mustDB(t)
	mustBegin(t, db)
	mustExec(t, db, "CREATE TABLE t (a)")
	mustCommit(t, db)

	// A rolled-back turn loses its SQL and KV writes together.
	mustBegin(t, db)
	mustExec(t, db, "INSERT INTO t VALUES (1)")
	must(t, db.Put("k", []byte("v")))
	must(t, db.Rollback())
	mustBegin(t, db)
	if got := mustExec(t, db, "SELECT count(*) FROM t"); got[0][0] != int64(0) {
		t.Errorf("rolled-back insert is there: %v", got)
	}
	if _, ok := mustGet(t, db, "k"); ok {
		t.Error("rolled-back put is there")
	}

	// Transaction rolls back SQL writes with KV writes, and nests.
	boom := errors.New("boom")
	err := db.Transaction(func() error {
		mustExec(t, db, "INSERT INTO t VALUES (2)")
		must(t, db.Put("a", []byte("1")))
		err := db.Transaction(func() error {
			mustExec(t, db, "INSERT INTO t VALUES (3)")
			return boom
		})
		if err != boom {
			t.Errorf("inner: %v", err)
		}
		return nil
	})
	must(t, err)
	if err := db.Transaction(func() error {
		mustExec(t, db, "INSERT INTO t VALUES (4)")
		must(t, db.Put("b", []byte("1")))
		return boom
	}); err != boom {
		t.Errorf("outer: %v", err)
	}
	mustCommit(t, db)
	mustBegin(t, db)
	if got := mustExec(t, db, "SELECT a FROM t ORDER BY a"); !reflect.DeepEqual(got, [][]any{{int64(2)}}) {
		t.Errorf("rows %v, want only 2", got)
	}
	entries, err := db.List(den.ListOptions{})
	if err != nil || !reflect.DeepEqual(keys(entries), []string{"a"}) {
		t.Errorf("keys %v %v, want [a]", keys(entries), err)
	}
	// SQL writes make the turn a writing one (the output gate waits).
	mustExec(t, db, "SELECT * FROM t")
	if wrote, _ := db.Commit(); wrote {
		t.Error("a read-only turn wrote")
	}
	mustBegin(t, db)
	mustExec(t, db, "UPDATE t SET a = 5")
	if wrote, _ := db.Commit(); !wrote {
		t.Error("an UPDATE did not count as a write")
	}
}

func TestSQLCursorLifetime(t *testing.T) {
	db := mustDB(t)
	mustBegin(t, db)
	mustExec(t, db, "CREATE TABLE t (a); INSERT INTO t VALUES (1), (2), (3)")
	// The same statement twice while the first cursor is open: a copy.
	q := "SELECT a FROM t ORDER BY a"
	c1, err := db.SQL().Exec(q)
	if err != nil {
		t.Fatal(err)
	}
	c1.Next()
	c2, err := db.SQL().Exec(q)
	if err != nil {
		t.Fatal(err)
	}
	all2, err := c2.Raw()
	if err != nil || len(all2) != 3 {
		t.Fatalf("second cursor: %v %v", all2, err)
	}
	rest, err := c1.Raw()
	if err != nil || !reflect.DeepEqual(rest, [][]any{{int64(2)}, {int64(3)}}) {
		t.Fatalf("first cursor: %v %v", rest, err)
	}
	// A cursor still open when the turn commits is closed; so is one with
	// a pending RETURNING, which would otherwise block the COMMIT.
	c3, _ := db.SQL().Exec(q)
	c3.Next()
	c4, err := db.SQL().Exec("INSERT INTO t VALUES (4), (5) RETURNING a")
	if err != nil || !c4.Next() {
		t.Fatal(err)
	}
	mustCommit(t, db)
	if c3.Next() || c3.Err() == nil || !strings.Contains(c3.Err().Error(), "turn") {
		t.Errorf("cursor after commit: %v", c3.Err())
	}
	var a int64
	if err := c3.Scan(&a); err == nil {
		t.Error("Scan after the turn ended worked")
	}
	mustBegin(t, db)
	if got := mustExec(t, db, "SELECT count(*) FROM t"); got[0][0] != int64(5) {
		t.Errorf("count %v", got)
	}
	// A cursor left open does not stop the database from closing.
	c5, _ := db.SQL().Exec(q)
	c5.Next()
	must(t, db.Close())
}

func TestSQLStatementCache(t *testing.T) {
	db := mustDB(t)
	mustBegin(t, db)
	mustExec(t, db, "CREATE TABLE t (a)")
	// More distinct statements than the cache holds, some left open.
	var open []*den.Cursor
	for i := range 300 {
		c, err := db.SQL().Exec(fmt.Sprintf("SELECT %d UNION ALL SELECT %d", i, i))
		if err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			c.Next()
			open = append(open, c)
			continue
		}
		if _, err := c.Raw(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range open {
		rows, err := c.Raw()
		if err != nil || !reflect.DeepEqual(rows, [][]any{{int64(i * 50)}}) {
			t.Errorf("evicted open cursor %d: %v %v", i, rows, err)
		}
	}
	// Cached statements see schema changes.
	mustExec(t, db, "INSERT INTO t VALUES (1)")
	q := "SELECT * FROM t"
	if got := mustExec(t, db, q); len(got[0]) != 1 {
		t.Fatalf("got %v", got)
	}
	mustExec(t, db, "ALTER TABLE t ADD COLUMN b DEFAULT 'x'")
	c, err := db.SQL().Exec(q)
	if err != nil {
		t.Fatal(err)
	}
	if rows, err := c.Raw(); err != nil || !reflect.DeepEqual(rows, [][]any{{int64(1), "x"}}) {
		t.Errorf("after ALTER: %v %v", rows, err)
	}
	mustCommit(t, db)
}

func TestDatabaseSize(t *testing.T) {
	db := mustDB(t)
	mustBegin(t, db)
	before, err := db.SQL().DatabaseSize()
	if err != nil || before <= 0 || before%4096 != 0 {
		t.Fatalf("size of an empty database: %d %v", before, err)
	}
	mustExec(t, db, "CREATE TABLE t (b BLOB)")
	mustExec(t, db, "INSERT INTO t VALUES (zeroblob(100000))")
	after, err := db.SQL().DatabaseSize()
	if err != nil || after < before+100000 {
		t.Errorf("size %d after 100 kB, was %d: %v", after, before, err)
	}
	mustExec(t, db, "DELETE FROM t")
	freed, _ := db.SQL().DatabaseSize()
	if freed >= after {
		t.Errorf("size %d after DELETE, was %d: free pages count", freed, after)
	}
	mustCommit(t, db)
}

// TestSQLQuota fills a database past a small cap: the write fails with an
// ELIMIT error that names the cap, the DB breaks (the turn cannot commit),
// the data committed before is intact after reopening, and deleting makes
// room again.
func TestSQLQuota(t *testing.T) {
	const quota = 96 << 10
	store := sqlite.NewStoreWithOptions(t.TempDir(), sqlite.Options{MaxDatabaseBytes: quota, ClassMaxDatabaseBytes: map[string]int64{"Other": 1 << 20}})
	if got := store.MaxDatabaseBytes(class); got != quota {
		t.Fatalf("MaxDatabaseBytes(%s) = %d", class, got)
	}
	if got := store.MaxDatabaseBytes("Other"); got != 1<<20 {
		t.Fatalf("MaxDatabaseBytes(Other) = %d", got)
	}
	open := func() den.Database {
		db, err := store.Open(context.Background(), class, testID("q"))
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	db := open()
	mustBegin(t, db)
	mustExec(t, db, "CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)")
	mustExec(t, db, "INSERT INTO t (b) VALUES (zeroblob(40000))")
	mustCommit(t, db)

	mustBegin(t, db)
	mustExec(t, db, "INSERT INTO t (b) VALUES (zeroblob(10000))")
	_, err := db.SQL().Exec("INSERT INTO t (b) VALUES (zeroblob(60000))")
	e := wantCode(t, err, den.ELIMIT)
	if !e.Reset || !strings.Contains(e.Message, "limited to 96 KiB (98304 bytes)") || !strings.Contains(e.Message, "SQLITE_FULL") {
		t.Errorf("quota error: %+v", e)
	}
	// The DB is broken: reads and the commit fail with the same error.
	if _, err := db.SQL().Exec("SELECT 1"); err != e {
		t.Errorf("Exec after the quota error: %v", err)
	}
	if _, err := db.Commit(); err != e {
		t.Errorf("Commit after the quota error: %v", err)
	}
	must(t, db.Close())

	db = open()
	defer db.Close()
	mustBegin(t, db)
	if got := mustExec(t, db, "SELECT count(*), sum(length(b)) FROM t"); !reflect.DeepEqual(got, [][]any{{int64(1), int64(40000)}}) {
		t.Errorf("after reopening: %v, want the one committed row", got)
	}
	mustExec(t, db, "DELETE FROM t")
	mustExec(t, db, "INSERT INTO t (b) VALUES (zeroblob(60000))")
	mustCommit(t, db)
	// The KV API is held to the same cap.
	mustBegin(t, db)
	if err := db.Put("big", make([]byte, 60000)); den.ErrorCode(err) != den.ELIMIT {
		t.Errorf("KV put past the cap: %v", err)
	}
}

func TestSQLStatementTimeLimit(t *testing.T) {
	s := sqlite.NewStoreWithOptions(t.TempDir(), sqlite.Options{MaxStatementTime: 50 * time.Millisecond})
	db := mustOpen(t, s, "x")
	mustBegin(t, db)
	mustExec(t, db, "CREATE TABLE t (x)")
	mustExec(t, db, "INSERT INTO t VALUES (1)")
	// A fast statement runs as before.
	if _, err := den.ScanOne[int64](db.SQL().Exec("SELECT count(*) FROM t")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := db.SQL().Exec("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c")
	e := wantCode(t, err, den.ETIMEOUT)
	if !e.Reset || !strings.Contains(e.Message, "exceeded timeout") || !strings.Contains(e.Message, "50ms") {
		t.Errorf("error %+v: want a reset that names the limit", e)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("interrupted after %s, want about 50ms", d)
	}
	// The DB is broken: the runtime resets the object; the turn's writes
	// are gone.
	if _, err := db.SQL().Exec("SELECT 1"); err == nil {
		t.Error("the DB still works after a timed-out statement")
	}
	db.Close()
	db = mustOpen(t, s, "x")
	if _, err := db.SQL().Exec("SELECT * FROM t"); err == nil {
		t.Error("table t survived: the timed-out turn's writes were committed")
	}
}
