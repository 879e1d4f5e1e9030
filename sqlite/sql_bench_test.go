package sqlite_test

import (
	"fmt"
	"testing"

	"github.com/den-run/den"
	"github.com/den-run/den/sqlite"
)

// benchDB returns a database holding table t with rows id 0…n-1, in a turn.
func benchDB(b *testing.B, n int) den.Database {
	b.Helper()
	db := mustDB(b)
	mustBegin(b, db)
	mustExec(b, db, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
	for i := range n {
		mustExec(b, db, "INSERT INTO t VALUES (?, ?)", i, fmt.Sprintf("value %d", i))
	}
	mustCommit(b, db)
	mustBegin(b, db)
	b.Cleanup(func() { db.Rollback() })
	return db
}

// The benchmarks compare the SQL API with raw zombiezen calls on the same
// connection: the sandbox, the statement cache, the cursor and the value
// conversions are the difference.

func BenchmarkSQLPointQuery(b *testing.B) {
	const q = "SELECT v FROM t WHERE id = ?"
	b.Run("den", func(b *testing.B) {
		db := benchDB(b, 1000)
		b.ReportAllocs()
		i := 0
		var v string
		for b.Loop() {
			c, err := db.SQL().Exec(q, i%1000)
			if err != nil {
				b.Fatal(err)
			}
			if !c.Next() || c.Scan(&v) != nil {
				b.Fatal(c.Err())
			}
			c.Close()
			i++
		}
	})
	b.Run("den-ScanOne", func(b *testing.B) {
		db := benchDB(b, 1000)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := den.ScanOne[string](db.SQL().Exec(q, i%1000)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("zombiezen", func(b *testing.B) {
		conn := sqlite.Conn(benchDB(b, 1000))
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			stmt := conn.Prep(q)
			stmt.BindInt64(1, int64(i%1000))
			if row, err := stmt.Step(); err != nil || !row {
				b.Fatal(err)
			}
			_ = stmt.ColumnText(0)
			stmt.Reset()
			i++
		}
	})
}

func BenchmarkSQLInsert(b *testing.B) {
	const q = "INSERT INTO t (v) VALUES (?)"
	b.Run("den", func(b *testing.B) {
		db := benchDB(b, 0)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := db.SQL().Exec(q, "a value"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("zombiezen", func(b *testing.B) {
		conn := sqlite.Conn(benchDB(b, 0))
		b.ReportAllocs()
		for b.Loop() {
			stmt := conn.Prep(q)
			stmt.BindText(1, "a value")
			if _, err := stmt.Step(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkSQLScan1000(b *testing.B) {
	const q = "SELECT id, v FROM t ORDER BY id LIMIT 1000"
	b.Run("den", func(b *testing.B) {
		db := benchDB(b, 1000)
		b.ReportAllocs()
		for b.Loop() {
			c, err := db.SQL().Exec(q)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			var id int64 // outside the loop: Scan's pointers escape
			var v string
			for c.Next() {
				if err := c.Scan(&id, &v); err != nil {
					b.Fatal(err)
				}
				n++
			}
			if c.Err() != nil || n != 1000 {
				b.Fatal(n, c.Err())
			}
		}
	})
	b.Run("den-ScanAll", func(b *testing.B) {
		db := benchDB(b, 1000)
		type row struct {
			ID int64
			V  string
		}
		b.ReportAllocs()
		for b.Loop() {
			rows, err := den.ScanAll[row](db.SQL().Exec(q))
			if err != nil || len(rows) != 1000 {
				b.Fatal(len(rows), err)
			}
		}
	})
	b.Run("zombiezen", func(b *testing.B) {
		conn := sqlite.Conn(benchDB(b, 1000))
		b.ReportAllocs()
		for b.Loop() {
			stmt := conn.Prep(q)
			n := 0
			for {
				row, err := stmt.Step()
				if err != nil {
					b.Fatal(err)
				}
				if !row {
					break
				}
				_, _ = stmt.ColumnInt64(0), stmt.ColumnText(1)
				n++
			}
			if n != 1000 {
				b.Fatal(n)
			}
		}
	})
}

// BenchmarkSQLCounterTurn is the bench app's counter: one turn that upserts
// with RETURNING and commits, as a hot object does per request (without the
// fsync, which the barrier shares).
func BenchmarkSQLCounterTurn(b *testing.B) {
	const q = "INSERT INTO c(name, n) VALUES('count', 1) ON CONFLICT(name) DO UPDATE SET n = n + 1 RETURNING n"
	db := mustDB(b)
	mustBegin(b, db)
	mustExec(b, db, "CREATE TABLE c (name TEXT PRIMARY KEY, n INTEGER NOT NULL)")
	mustCommit(b, db)
	b.ReportAllocs()
	for b.Loop() {
		mustBegin(b, db)
		if _, err := den.ScanOne[int64](db.SQL().Exec(q)); err != nil {
			b.Fatal(err)
		}
		mustCommit(b, db)
	}
}
