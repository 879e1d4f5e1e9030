package sqlite_test

import (
	"strings"
	"testing"

	"github.com/den-run/den"
	"github.com/den-run/den/sqlite"
)

// Turns held with Hold commit together; one that fails in between loses its
// own writes only.
func TestHeldTurnsCommitTogether(t *testing.T) {
	s := sqlite.NewStore(t.TempDir())
	db := holdable(t, s, "x")
	hold := func() {
		t.Helper()
		ok, wrote, err := db.Hold()
		if err != nil || !ok || !wrote {
			t.Fatalf("Hold = %v, %v, %v; want true, true, nil", ok, wrote, err)
		}
	}
	must(t, db.Begin())
	fill(t, db, "a")
	hold()
	if !db.Held() {
		t.Fatal("Held is false after a Hold")
	}
	must(t, db.Begin()) // a savepoint in the held transaction
	fill(t, db, "lost")
	must(t, db.Rollback())
	must(t, db.Begin())
	if _, ok := mustGet(t, db, "a"); !ok {
		t.Fatal("a held write is not visible to the next turn")
	}
	fill(t, db, "b")
	hold()
	must(t, db.Begin())
	if wrote, err := db.Commit(); err != nil || wrote {
		t.Fatalf("Commit of a turn that wrote nothing = %v, %v", wrote, err)
	}
	if db.Held() {
		t.Fatal("Held is true after the Commit")
	}
	must(t, db.Sync())
	must(t, db.Close())

	wantKeys(t, mustOpen(t, s, "x"), "a,b")
}

// Commit with no turn open commits what is held; Close without it rolls the
// held writes back, as it does an open turn's.
func TestHeldWritesNeedACommit(t *testing.T) {
	s := sqlite.NewStore(t.TempDir())
	db := holdable(t, s, "x")
	must(t, db.Begin())
	fill(t, db, "committed")
	if _, _, err := db.Hold(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Commit(); err != nil {
		t.Fatal(err)
	}
	must(t, db.Begin())
	fill(t, db, "dropped")
	if _, _, err := db.Hold(); err != nil {
		t.Fatal(err)
	}
	must(t, db.Close())

	wantKeys(t, mustOpen(t, s, "x"), "committed")
}

// A turn that leaves a deferred foreign key violated is not held: it would
// fail the COMMIT of the turns held with it.
func TestHoldRefusesADeferredViolation(t *testing.T) {
	s := sqlite.NewStore(t.TempDir())
	db := holdable(t, s, "x")
	must(t, sqlite.Exec(db, `
		CREATE TABLE parent (id INTEGER PRIMARY KEY);
		CREATE TABLE child (pid INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);`))

	// First in its transaction: not held, and Commit fails as without Hold.
	must(t, db.Begin())
	must(t, sqlite.Exec(db, "INSERT INTO child VALUES (1)"))
	if ok, _, err := db.Hold(); ok || err != nil {
		t.Fatalf("Hold of a violating first turn = %v, %v; want false, nil", ok, err)
	}
	if _, err := db.Commit(); err == nil {
		t.Fatal("Commit of a deferred violation succeeded")
	}
	must(t, db.Close())

	// After a held turn: its writes alone roll back, with the constraint's error.
	db = holdable(t, s, "x")
	must(t, db.Begin())
	fill(t, db, "held")
	if ok, _, err := db.Hold(); !ok || err != nil {
		t.Fatalf("Hold = %v, %v", ok, err)
	}
	must(t, db.Begin())
	fill(t, db, "violator")
	must(t, sqlite.Exec(db, "INSERT INTO child VALUES (2)"))
	_, _, err := db.Hold()
	if e := wantCode(t, err, den.EINVALID); !strings.Contains(e.Message, "FOREIGN KEY") {
		t.Errorf("message %q does not name the constraint", e.Message)
	}
	if _, err := db.Commit(); err != nil {
		t.Fatalf("Commit of the held turn: %v", err)
	}
	wantKeys(t, db, "held")
	rows, err := sqlite.QueryStrings(db, "SELECT count(*) FROM child")
	must(t, err)
	if strings.Join(rows, ",") != "0" {
		t.Errorf("child rows = %v, want 0", rows)
	}
}

func holdable(tb testing.TB, s *sqlite.Store, name string) *sqlite.DB {
	tb.Helper()
	return mustOpen(tb, s, name).(*sqlite.DB)
}

// A turn held after one that set PRAGMA defer_foreign_keys starts with it
// off, as it would after a COMMIT: its violation fails at once.
func TestHeldTurnStartsWithoutDeferredForeignKeys(t *testing.T) {
	s := sqlite.NewStore(t.TempDir())
	db := holdable(t, s, "x")
	must(t, sqlite.Exec(db, `
		CREATE TABLE parent (id INTEGER PRIMARY KEY);
		CREATE TABLE child (pid INTEGER REFERENCES parent(id));`))
	must(t, db.Begin())
	if _, err := db.SQL().Exec("PRAGMA defer_foreign_keys = on"); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := db.Hold(); !ok || err != nil {
		t.Fatalf("Hold = %v, %v", ok, err)
	}
	must(t, db.Begin())
	if _, err := db.SQL().Exec("INSERT INTO child VALUES (7)"); err == nil || !strings.Contains(err.Error(), "FOREIGN KEY") {
		t.Fatalf("violating insert in the next turn: %v, want a FOREIGN KEY error at once", err)
	}
	must(t, db.Rollback())
	if _, err := db.Commit(); err != nil {
		t.Fatal(err)
	}
}
