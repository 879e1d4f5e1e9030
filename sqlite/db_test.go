package sqlite_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/den-run/den"
	"github.com/den-run/den/sqlite"
)

func TestRollbackDiscards(t *testing.T) {
	db := mustDB(t)
	fill(t, db, "kept")
	must(t, db.Begin())
	fill(t, db, "a", "b")
	must(t, db.PutMany([]den.Entry{{Key: "c", Value: []byte("c")}}))
	if _, err := db.Delete("kept"); err != nil {
		t.Fatal(err)
	}
	must(t, db.Rollback())
	all, err := db.List(den.ListOptions{})
	must(t, err)
	if got := keys(all); strings.Join(got, ",") != "kept" {
		t.Errorf("after rollback keys = %q, want [kept]", got)
	}
}

func TestCommitPersists(t *testing.T) {
	s := sqlite.NewStore(t.TempDir())
	db := mustOpen(t, s, "x")
	must(t, db.Begin())
	fill(t, db, "a", "b")
	if _, err := db.Commit(); err != nil {
		t.Fatal(err)
	}
	must(t, db.Sync())
	must(t, db.Close())

	db = mustOpen(t, s, "x")
	all, err := db.List(den.ListOptions{})
	must(t, err)
	if got := keys(all); strings.Join(got, ",") != "a,b" {
		t.Errorf("after reopen keys = %q, want [a b]", got)
	}
}

func TestCommitWrote(t *testing.T) {
	db := mustDB(t)
	fill(t, db, "existing")
	for _, tc := range []struct {
		name string
		turn func() error
		want bool
	}{
		{"nothing", func() error { return nil }, false},
		{"get", func() error { _, _, err := db.Get("existing"); return err }, false},
		{"list", func() error { _, err := db.List(den.ListOptions{}); return err }, false},
		{"delete missing", func() error { _, err := db.Delete("missing"); return err }, false},
		{"failed put", func() error { db.Put(strings.Repeat("k", 3000), nil); return nil }, false},
		{"put", func() error { return db.Put("a", []byte("1")) }, true},
		{"put same value", func() error { return db.Put("a", []byte("1")) }, true},
		{"put many", func() error { return db.PutMany([]den.Entry{{Key: "b"}}) }, true},
		{"delete", func() error { _, err := db.Delete("a"); return err }, true},
		{"delete many", func() error { _, err := db.DeleteMany([]string{"b"}); return err }, true},
		{"delete all", db.DeleteAll, true},
	} {
		must(t, db.Begin())
		must(t, tc.turn())
		wrote, err := db.Commit()
		must(t, err)
		if wrote != tc.want {
			t.Errorf("%s: wrote = %v, want %v", tc.name, wrote, tc.want)
		}
	}
}

func TestTurnMisuse(t *testing.T) {
	db := mustDB(t)
	_, err := db.Commit()
	wantCode(t, err, den.EINTERNAL)
	must(t, db.Rollback()) // no-op
	must(t, db.Begin())
	wantCode(t, db.Begin(), den.EINTERNAL)
	must(t, db.Rollback())
	must(t, db.Rollback())
	must(t, db.Begin())
	if _, err := db.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestAutocommit(t *testing.T) {
	s := sqlite.NewStore(t.TempDir())
	db := mustOpen(t, s, "x")
	fill(t, db, "a")
	must(t, db.Transaction(func() error { fill(t, db, "b"); return nil }))
	must(t, db.Close())
	db = mustOpen(t, s, "x")
	if _, ok := mustGet(t, db, "a"); !ok {
		t.Error("autocommitted Put lost")
	}
	if _, ok := mustGet(t, db, "b"); !ok {
		t.Error("autocommitted Transaction lost")
	}
}

func TestCloseRollsBack(t *testing.T) {
	s := sqlite.NewStore(t.TempDir())
	db := mustOpen(t, s, "x")
	must(t, db.Begin())
	fill(t, db, "a")
	must(t, db.Close())
	must(t, db.Close()) // idempotent
	_, _, err := db.Get("a")
	wantCode(t, err, den.EINTERNAL)
	wantCode(t, db.Put("a", nil), den.EINTERNAL)
	wantCode(t, db.Begin(), den.EINTERNAL)

	db = mustOpen(t, s, "x")
	if _, ok := mustGet(t, db, "a"); ok {
		t.Error("Close committed an open transaction")
	}
}

func TestTransactionNested(t *testing.T) {
	db := mustDB(t)
	must(t, db.Begin())
	errInner := errors.New("inner failed")
	err := db.Transaction(func() error {
		fill(t, db, "outer")
		err := db.Transaction(func() error {
			fill(t, db, "inner")
			if _, ok := mustGet(t, db, "inner"); !ok {
				t.Error("inner write not visible inside its transaction")
			}
			return errInner
		})
		if err != errInner {
			t.Errorf("inner Transaction returned %v, want the callback's error unchanged", err)
		}
		if _, ok := mustGet(t, db, "inner"); ok {
			t.Error("inner write survived its rollback")
		}
		return db.Transaction(func() error { fill(t, db, "second"); return nil })
	})
	must(t, err)
	_, err = db.Commit()
	must(t, err)
	all, err := db.List(den.ListOptions{})
	must(t, err)
	if got := strings.Join(keys(all), ","); got != "outer,second" {
		t.Errorf("keys = %s, want outer,second", got)
	}
}

func TestTransactionPanic(t *testing.T) {
	db := mustDB(t)
	must(t, db.Begin())
	fill(t, db, "before")
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want boom", r)
			}
		}()
		db.Transaction(func() error {
			fill(t, db, "inside")
			panic("boom")
		})
	}()
	fill(t, db, "after") // the DB still works, and no Transaction is open
	if _, err := db.DeleteMany([]string{"none"}); err != nil {
		t.Fatal(err)
	}
	_, err := db.Commit()
	must(t, err)
	all, err := db.List(den.ListOptions{})
	must(t, err)
	if got := strings.Join(keys(all), ","); got != "after,before" {
		t.Errorf("keys = %s, want after,before", got)
	}
}

func TestBrokenAfterCommitError(t *testing.T) {
	s := sqlite.NewStore(t.TempDir())
	db := mustOpen(t, s, "x")
	must(t, sqlite.Exec(db, `
		CREATE TABLE parent (id INTEGER PRIMARY KEY);
		CREATE TABLE child (pid INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);`))
	must(t, db.Begin())
	fill(t, db, "a")
	must(t, sqlite.Exec(db, "INSERT INTO child VALUES (42)")) // fails only at COMMIT
	_, err := db.Commit()
	e := wantCode(t, err, den.EINTERNAL)
	if _, _, err := db.Get("a"); err != e {
		t.Errorf("Get after a failed COMMIT: %v, want the same error", err)
	}
	if err := db.Begin(); err != e {
		t.Errorf("Begin after a failed COMMIT: %v, want the same error", err)
	}
	must(t, db.Close())

	db = mustOpen(t, s, "x")
	if _, ok := mustGet(t, db, "a"); ok {
		t.Error("write of the failed commit survived")
	}
}

func TestFull(t *testing.T) {
	s := sqlite.NewStore(t.TempDir())
	db := mustOpen(t, s, "x")
	must(t, sqlite.Exec(db, "PRAGMA max_page_count = 20"))

	// Outside a turn the failed statement alone rolls back.
	e := wantCode(t, db.Put("big", make([]byte, 1<<20)), den.ELIMIT)
	if !strings.Contains(e.Message, "full") {
		t.Errorf("message %q does not say storage is full", e.Message)
	}
	fill(t, db, "small")

	// SQLite rolls back the whole transaction on SQLITE_FULL: the DB breaks
	// rather than let the turn's later writes commit on their own.
	must(t, db.Begin())
	fill(t, db, "lost")
	err := db.Put("big", make([]byte, 1<<20))
	wantCode(t, err, den.ELIMIT)
	if err2 := db.Put("later", nil); err2 != err {
		t.Errorf("Put after the transaction was rolled back: %v, want %v", err2, err)
	}
	if _, err2 := db.Commit(); err2 != err {
		t.Errorf("Commit: %v, want %v", err2, err)
	}
	must(t, db.Close())

	db = mustOpen(t, s, "x")
	all, err := db.List(den.ListOptions{})
	must(t, err)
	if got := strings.Join(keys(all), ","); got != "small" {
		t.Errorf("keys = %s, want small", got)
	}
}

func TestOpenAfterCrashKeepsCommits(t *testing.T) {
	// Copying the files while the connection is open is what a crash leaves
	// behind: the database file and a WAL holding the commits.
	dir := t.TempDir()
	s := sqlite.NewStore(dir)
	db := mustOpen(t, s, "x")
	must(t, db.Begin())
	fill(t, db, "a")
	_, err := db.Commit()
	must(t, err)
	must(t, db.Sync())

	crashed := sqlite.NewStore(t.TempDir())
	for _, suffix := range []string{"", "-wal"} {
		copyFile(t, s.Path(class, testID("x"))+suffix, crashed.Path(class, testID("x"))+suffix)
	}
	db2, err := crashed.Open(context.Background(), class, testID("x"))
	must(t, err)
	defer db2.Close()
	if v, ok := mustGet(t, db2, "a"); !ok || v != "v:a" {
		t.Errorf("after crash Get(a) = %q, %v", v, ok)
	}
}

// copyFile copies src to dst, creating dst's directories.
func copyFile(tb testing.TB, src, dst string) {
	tb.Helper()
	b, err := os.ReadFile(src)
	must(tb, err)
	must(tb, os.MkdirAll(filepath.Dir(dst), 0o700))
	must(tb, os.WriteFile(dst, b, 0o600))
}
