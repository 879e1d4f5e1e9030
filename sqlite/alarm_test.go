package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/sqlite"
)

// mustAlarm returns the stored alarm, failing the test on an error.
func mustAlarm(tb testing.TB, db den.Database) (time.Time, bool) {
	tb.Helper()
	t, ok, err := db.GetAlarm()
	if err != nil {
		tb.Fatal(err)
	}
	return t, ok
}

func TestAlarmIsStoredAsWorkerdDoes(t *testing.T) {
	s := sqlite.NewStore(t.TempDir())
	db := mustOpen(t, s, "a")
	if _, ok := mustAlarm(t, db); ok {
		t.Fatal("a new database has an alarm")
	}
	at := time.UnixMilli(1_767_225_600_123)
	must(t, db.Begin())
	must(t, db.SetAlarm(at))
	if got, ok := mustAlarm(t, db); !ok || !got.Equal(at) {
		t.Fatalf("in the transaction: %v %v", got, ok)
	}
	wrote, err := db.Commit()
	if err != nil || !wrote {
		t.Fatalf("commit: wrote %v, %v", wrote, err)
	}
	// _cf_METADATA key 1, nanoseconds since the epoch as an integer.
	got, err := sqlite.QueryStrings(db, "SELECT typeof(value) || ' ' || value FROM _cf_METADATA WHERE key = 1")
	must(t, err)
	if want := fmt.Sprint("integer ", at.UnixNano()); !slices.Equal(got, []string{want}) {
		t.Fatalf("stored %q, want %q", got, want)
	}
	must(t, db.Close())

	// It survives a reopen, and a database holding only an alarm is kept.
	if !s.Exists(class, testID("a")) {
		t.Fatal("a database holding an alarm was removed")
	}
	db = mustOpen(t, s, "a")
	if got, ok := mustAlarm(t, db); !ok || !got.Equal(at) {
		t.Fatalf("after reopen: %v %v", got, ok)
	}
	must(t, db.Begin())
	must(t, db.DeleteAlarm())
	if wrote, err := db.Commit(); err != nil || !wrote {
		t.Fatalf("commit delete: wrote %v, %v", wrote, err)
	}
	must(t, db.Begin())
	must(t, db.DeleteAlarm()) // nothing to delete
	if wrote, err := db.Commit(); err != nil || wrote {
		t.Fatalf("commit a delete of nothing: wrote %v, %v", wrote, err)
	}
	if _, ok := mustAlarm(t, db); ok {
		t.Fatal("the alarm was not deleted")
	}
}

func TestAlarmIsTransactional(t *testing.T) {
	db := mustDB(t)
	at := time.UnixMilli(1_767_225_600_000)

	must(t, db.Begin())
	must(t, db.SetAlarm(at))
	fill(t, db, "k")
	must(t, db.Rollback())
	if _, ok := mustAlarm(t, db); ok {
		t.Fatal("a rolled-back turn set an alarm")
	}

	must(t, db.Begin())
	must(t, db.SetAlarm(at))
	err := db.Transaction(func() error {
		must(t, db.SetAlarm(at.Add(time.Hour)))
		return fmt.Errorf("undo")
	})
	if err == nil {
		t.Fatal("Transaction hid its error")
	}
	if got, _ := mustAlarm(t, db); !got.Equal(at) {
		t.Fatalf("after a rolled-back Transaction the alarm is %v, want %v", got, at)
	}
	must(t, db.DeleteAll())
	if _, ok := mustAlarm(t, db); ok {
		t.Fatal("DeleteAll kept the alarm")
	}
	if _, err := db.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestNullAlarmReadsAsUnset(t *testing.T) {
	db := mustDB(t)
	must(t, db.Begin())
	must(t, sqlite.Exec(db, "INSERT INTO _cf_METADATA VALUES (1, NULL)"))
	if _, ok := mustAlarm(t, db); ok {
		t.Fatal("a NULL alarm (as workerd writes for none) reads as set")
	}
	must(t, db.Rollback())
}

func TestScanAlarms(t *testing.T) {
	dir := t.TempDir()
	s := sqlite.NewStore(dir)
	at := time.UnixMilli(1_767_225_600_000)
	want := map[[32]byte]time.Time{}
	for i := range 6 {
		db := mustOpen(t, s, fmt.Sprint("o", i))
		must(t, db.Begin())
		fill(t, db, "k")
		if i%2 == 0 {
			must(t, db.SetAlarm(at.Add(time.Duration(i)*time.Second)))
			want[testID(fmt.Sprint("o", i)).Bytes()] = at.Add(time.Duration(i) * time.Second)
		}
		if _, err := db.Commit(); err != nil {
			t.Fatal(err)
		}
		must(t, db.Close())
	}
	// Files that are not object databases are skipped.
	must(t, os.WriteFile(filepath.Join(dir, class, "notes.txt"), []byte("hi"), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "not-a-class!"), nil, 0o600))

	got := map[[32]byte]time.Time{}
	err := s.ScanAlarms(context.Background(), func(c string, id [32]byte, t0 time.Time, err error) error {
		if err != nil {
			return err
		}
		if c != class {
			t.Errorf("class %q", c)
		}
		got[id] = t0
		return nil
	})
	must(t, err)
	if len(got) != len(want) {
		t.Fatalf("scan found %d alarms, want %d", len(got), len(want))
	}
	for id, t0 := range want {
		if !got[id].Equal(t0) {
			t.Errorf("%x: %v, want %v", id, got[id], t0)
		}
	}

	// A corrupt database is reported to fn, which decides.
	p := s.Path(class, testID("bad"))
	must(t, os.MkdirAll(filepath.Dir(p), 0o700))
	must(t, os.WriteFile(p, []byte("this is not a database, but it is long enough to look like one......................................................"), 0o600))
	bad := 0
	err = s.ScanAlarms(context.Background(), func(c string, id [32]byte, t0 time.Time, err error) error {
		if err != nil {
			bad++
		}
		return nil
	})
	if err != nil || bad != 1 {
		t.Fatalf("scan with a corrupt database: %v, %d reported", err, bad)
	}
}
