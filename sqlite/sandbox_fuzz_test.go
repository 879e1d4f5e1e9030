package sqlite_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/sqlite"
)

// FuzzSandbox runs arbitrary SQL with arbitrary arguments in a turn and
// checks that nothing reached Den's tables, another database file or a
// pragma outside the allow-list (the connection's settings are as Den left
// them), and that the object still serves. The seeds are the refusal cases
// and testdata/fuzz/FuzzSandbox; `go test` runs them as a plain test.
func FuzzSandbox(f *testing.F) {
	for _, tc := range refusals {
		if len(tc.sql) < 1000 && len(tc.args) == 0 {
			q := tc.sql
			if tc.setup != "" {
				q = tc.setup + "; " + tc.sql
			}
			f.Add(q, uint8(0), int64(0), "", []byte(nil))
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		f.Fatal(err)
	}
	before, err := os.ReadDir(wd)
	if err != nil {
		f.Fatal(err)
	}
	// One database for every input: each runs in a turn that is rolled
	// back, after the checks, so inputs do not pile up.
	dir := f.TempDir()
	store := sqlite.NewStoreWithOptions(dir, sqlite.Options{SyncFile: func(string) error { return nil }})
	var sb *sandboxDB
	open := func(tb testing.TB) {
		db, err := store.Open(context.Background(), class, testID("fuzz"))
		if err != nil {
			tb.Fatal(err)
		}
		sb = &sandboxDB{db: db, dir: dir}
	}
	open(f)
	mustBegin(f, sb.db)
	mustExec(f, sb.db, "CREATE TABLE t (a)")
	must(f, sb.db.Put("key", []byte("value")))
	must(f, sb.db.SetAlarm(alarmTime))
	mustCommit(f, sb.db)
	f.Cleanup(func() { sb.db.Close() })

	f.Fuzz(func(t *testing.T, query string, nargs uint8, i int64, s string, b []byte) {
		pool := []any{i, s, b, nil, float64(i) / 3}
		args := make([]any, int(nargs)%8)
		for j := range args {
			args[j] = pool[j%len(pool)]
		}
		// A runaway query (an unbounded recursive CTE) is interrupted.
		done := make(chan struct{})
		timer := time.AfterFunc(250*time.Millisecond, func() { close(done) })
		sqlite.SetInterrupt(sb.db, done)
		mustBegin(t, sb.db)
		c, err := sb.db.SQL().Exec(query, args...)
		if err == nil {
			for n := 0; n < 1000 && c.Next(); n++ {
				c.Values()
			}
			c.Close()
			err = c.Err()
		}
		timer.Stop()
		sqlite.SetInterrupt(sb.db, nil)
		if e, ok := errors.AsType[*den.Error](err); ok && e.Reset {
			// The DB is broken (an interrupted write, RAISE(ROLLBACK)):
			// the runtime would reopen it.
			must(t, sb.db.Close())
			open(t)
			mustBegin(t, sb.db)
		}
		// In the same turn, before it rolls back: nothing reached Den's
		// tables, the connection's settings or other files.
		sb.checkDen(t)
		must(t, sb.db.Rollback())

		// Still serving: both APIs read and write.
		mustBegin(t, sb.db)
		must(t, sb.db.Put("after", []byte("x")))
		mustExec(t, sb.db, "CREATE TABLE IF NOT EXISTS fuzz_after (a); INSERT INTO fuzz_after VALUES (1)")
		must(t, sb.db.Rollback())

		after, err := os.ReadDir(wd)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(before, after, func(a, b os.DirEntry) bool { return a.Name() == b.Name() }) {
			t.Fatalf("the working directory changed: %d entries, then %d", len(before), len(after))
		}
	})
}
