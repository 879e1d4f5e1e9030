package sqlite_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/den-run/den"
	"github.com/den-run/den/sqlite"
)

func TestSync(t *testing.T) {
	db := mustDB(t)
	must(t, db.Sync()) // nothing written yet
	must(t, db.Begin())
	fill(t, db, "a")
	_, err := db.Commit()
	must(t, err)
	must(t, db.Sync())
	must(t, db.Sync())
	must(t, db.Close())
	must(t, db.Sync()) // after Close the WAL stays for the next session
}

func TestSyncPaths(t *testing.T) {
	dir := t.TempDir()
	var rec syncRecorder
	opts := sqlite.Options{SyncFile: rec.sync, SyncAll: rec.syncAll}
	s := sqlite.NewStoreWithOptions(dir, opts)
	path := s.Path(class, testID("x"))
	wal, objDir, settle := path+"-wal", filepath.Dir(path), "syncfs "+dir

	db := mustOpen(t, s, "x")
	fill(t, db, "new")
	must(t, db.Sync())
	if got := rec.take(); !slices.Contains(got, path) || !slices.Contains(got, objDir) || slices.Contains(got, settle) {
		t.Errorf("a new database's first Sync synced %q, want its file, its directory and no syncfs", got)
	}
	must(t, db.Close())

	// A database whose files an earlier session made durable syncs only
	// its WAL; the Store's first such Sync also settles everything from
	// before it, once.
	db = mustOpen(t, s, "x")
	commitKey(t, db, "a")
	must(t, db.Sync())
	if got, want := rec.take(), []string{wal, settle}; !slices.Equal(got, want) {
		t.Errorf("first Sync after reopening synced %q, want %q", got, want)
	}
	must(t, db.Sync())
	if got, want := rec.take(), []string{wal}; !slices.Equal(got, want) {
		t.Errorf("second Sync synced %q, want %q", got, want)
	}
	must(t, db.Close())
	must(t, db.Sync())
	if got, want := rec.take(), []string{wal}; !slices.Equal(got, want) {
		t.Errorf("Sync after Close synced %q, want %q (a small WAL is kept on close)", got, want)
	}
	db = mustOpen(t, s, "x")
	commitKey(t, db, "b")
	must(t, db.Sync())
	if got, want := rec.take(), []string{wal}; !slices.Equal(got, want) {
		t.Errorf("first Sync of a later session synced %q, want %q", got, want)
	}
	must(t, db.Close())

	// A new Store (a restart) settles again: the last process may have
	// crashed with files only in the page cache.
	s2 := sqlite.NewStoreWithOptions(dir, opts)
	db = mustOpen(t, s2, "x")
	commitKey(t, db, "c")
	must(t, db.Sync())
	if got, want := rec.take(), []string{wal, settle}; !slices.Equal(got, want) {
		t.Errorf("first Sync after a restart synced %q, want %q", got, want)
	}
}

func TestSyncAfterASessionThatNeverSynced(t *testing.T) {
	var rec syncRecorder
	s := recordingStore(t, &rec)
	path := s.Path(class, testID("y"))
	db := mustOpen(t, s, "y")
	commitKey(t, db, "a")
	must(t, db.Close()) // never synced: the file's name may not be durable
	rec.take()

	db = mustOpen(t, s, "y")
	commitKey(t, db, "b")
	must(t, db.Sync())
	got := rec.take()
	for _, want := range []string{path + "-wal", path, filepath.Dir(path)} {
		if !slices.Contains(got, want) {
			t.Errorf("first Sync after a session that never synced synced %q, want %s among them", got, want)
		}
	}
}

func TestSyncFailure(t *testing.T) {
	var rec syncRecorder
	db := reopenedWithWrite(t, &rec)
	injected := errors.New("injected fsync failure")
	rec.setFail(injected)
	err := db.Sync()
	e := wantCode(t, err, den.EINTERNAL)
	if !errors.Is(err, injected) {
		t.Errorf("Sync error %v does not wrap the cause", e)
	}
	// Nothing was settled, so the next Sync tries it again.
	rec.setFail(nil)
	rec.take()
	must(t, db.Sync())
	if got := rec.take(); len(got) != 2 || !strings.HasPrefix(got[1], "syncfs ") {
		t.Errorf("Sync after a failure synced %q, want the WAL and a syncfs", got)
	}
}

func TestSettleFailure(t *testing.T) {
	var rec syncRecorder
	db := reopenedWithWrite(t, &rec)
	injected := errors.New("injected syncfs failure")
	rec.setFailAll(injected)
	if err := db.Sync(); !errors.Is(err, injected) {
		t.Fatalf("Sync with a failing syncfs returned %v, want it to wrap %v", err, injected)
	}
	rec.setFailAll(nil)
	rec.take()
	must(t, db.Sync())
	if got := rec.take(); len(got) != 2 || !strings.HasPrefix(got[1], "syncfs ") {
		t.Errorf("Sync after a failed syncfs synced %q, want the WAL and a syncfs again", got)
	}
}

// reopenedWithWrite returns object x of a store syncing through rec, in its
// second session (the first synced), with a write not yet synced.
func reopenedWithWrite(t *testing.T, rec *syncRecorder) den.Database {
	t.Helper()
	s := recordingStore(t, rec)
	db := mustOpen(t, s, "x")
	fill(t, db, "new")
	must(t, db.Sync())
	must(t, db.Close())
	db = mustOpen(t, s, "x")
	fill(t, db, "a")
	return db
}

// recordingStore returns a store in a temporary directory whose syncs rec
// records.
func recordingStore(t *testing.T, rec *syncRecorder) *sqlite.Store {
	return sqlite.NewStoreWithOptions(t.TempDir(), sqlite.Options{SyncFile: rec.sync, SyncAll: rec.syncAll})
}

// commitKey writes key in a turn's transaction.
func commitKey(tb testing.TB, db den.Database, key string) {
	tb.Helper()
	must(tb, db.Begin())
	fill(tb, db, key)
	if _, err := db.Commit(); err != nil {
		tb.Fatal(err)
	}
}

func TestSyncMissingWAL(t *testing.T) {
	var synced []string
	s := sqlite.NewStoreWithOptions(t.TempDir(), sqlite.Options{SyncFile: func(path string) error {
		if strings.HasSuffix(path, "-wal") {
			return &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
		}
		synced = append(synced, path)
		return nil
	}})
	db := mustOpen(t, s, "x")
	synced = nil
	must(t, db.Sync())
	if len(synced) != 0 {
		t.Errorf("Sync with no WAL synced %q, want nothing", synced)
	}
}

func BenchmarkPutSync(b *testing.B) {
	db := mustDB(b)
	v := make([]byte, 100)
	b.ReportAllocs()
	for b.Loop() {
		must(b, db.Begin())
		must(b, db.Put("key", v))
		if _, err := db.Commit(); err != nil {
			b.Fatal(err)
		}
		must(b, db.Sync())
	}
}

func TestSyncConcurrent(t *testing.T) {
	// A committer syncs while the object runs its next turns, and after it
	// closes.
	db := mustDB(t)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			if err := db.Sync(); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for i := range 50 {
		must(t, db.Begin())
		fill(t, db, fmt.Sprint(i))
		_, err := db.Commit()
		must(t, err)
	}
	must(t, db.Close())
	close(done)
	wg.Wait()
}

// A WAL that did not exist when its session opened has no old frames, so
// SQLite need not sync its first header (sqlite.org ticket ff5be73dee needs
// that only for a WAL written over). synchronous stays OFF until the WAL has
// frames, then NORMAL, which every checkpoint needs.
func TestNewWALSkipsItsHeaderSync(t *testing.T) {
	dir := t.TempDir()
	s := sqlite.NewStore(dir)
	synchronous := func(db den.Database) string {
		t.Helper()
		v, err := sqlite.QueryStrings(db, "PRAGMA synchronous")
		must(t, err)
		return v[0]
	}
	db := mustOpen(t, s, "x")
	if got := synchronous(db); got != "0" {
		t.Errorf("a new database opens with synchronous=%s, want 0 (OFF) until its WAL has frames", got)
	}
	must(t, db.Begin()) // a turn that writes nothing leaves the WAL empty
	if _, err := db.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := synchronous(db); got != "0" {
		t.Errorf("after a turn that wrote nothing synchronous=%s, want 0", got)
	}
	commitKey(t, db, "a")
	if got := synchronous(db); got != "1" {
		t.Errorf("after the first commit with frames synchronous=%s, want 1 (NORMAL)", got)
	}
	must(t, db.Sync())
	copyDir := t.TempDir() // what a crash leaves once Sync returned
	copyDB(t, s.Path(class, testID("x")), copyDir)
	must(t, db.Close())

	// A WAL that exists, even empty, may have old frames on disk behind it.
	db = mustOpen(t, s, "x")
	if got := synchronous(db); got != "1" {
		t.Errorf("a database reopened with its WAL has synchronous=%s, want 1", got)
	}
	if v, ok := mustGet(t, db, "a"); !ok || v != "v:a" {
		t.Errorf("reopened: a = %q, %v", v, ok)
	}
	crashed := sqlite.NewStore(copyDir)
	db = mustOpen(t, crashed, "x")
	if v, ok := mustGet(t, db, "a"); !ok || v != "v:a" {
		t.Errorf("after a crash: a = %q, %v; want the synced write", v, ok)
	}
}

// copyDB copies the database at path and its WAL to where a Store on dir
// keeps the same object.
func copyDB(tb testing.TB, path, dir string) {
	tb.Helper()
	rel := path[strings.Index(path, class):]
	to := filepath.Join(dir, rel)
	must(tb, os.MkdirAll(filepath.Dir(to), 0o700))
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(path + suffix)
		must(tb, err)
		must(tb, os.WriteFile(to+suffix, b, 0o600))
	}
}

// A barrier's syncfs makes a new database's files durable: its own first
// Sync then syncs only the WAL, and its next session is not new.
func TestSyncedAllCoversANewDatabase(t *testing.T) {
	var rec syncRecorder
	s := recordingStore(t, &rec)
	path := s.Path(class, testID("z"))
	db := mustOpen(t, s, "z")
	commitKey(t, db, "a")
	db.(*sqlite.DB).SyncedAll(db.(*sqlite.DB).SyncToken())
	rec.take()
	must(t, db.Sync())
	if got, want := rec.take(), []string{path + "-wal"}; !slices.Equal(got, want) {
		t.Errorf("Sync after a syncfs barrier synced %q, want %q", got, want)
	}
	must(t, db.Close())
	db = mustOpen(t, s, "z")
	commitKey(t, db, "b")
	must(t, db.Sync())
	if got, want := rec.take(), []string{path + "-wal"}; !slices.Equal(got, want) {
		t.Errorf("the next session's first Sync synced %q, want %q: no directory, no database file, and no syncfs, which the barrier's covered", got, want)
	}
}

// The Store forgets a new database once it is synced or its files are
// gone: addressing many objects that never write leaves nothing behind.
func TestNewFilesAreForgotten(t *testing.T) {
	s := sqlite.NewStoreWithOptions(t.TempDir(), sqlite.Options{SyncFile: func(string) error { return nil }, SyncAll: func(string) error { return nil }})
	for i := range 10 {
		db := mustOpen(t, s, fmt.Sprint("reader-", i))
		if _, _, err := db.Get("k"); err != nil {
			t.Fatal(err)
		}
		must(t, db.Close()) // empty: its files are removed
	}
	synced := mustOpen(t, s, "writer")
	commitKey(t, synced, "a")
	must(t, synced.Sync())
	unsynced := mustOpen(t, s, "unsynced")
	commitKey(t, unsynced, "a")
	must(t, unsynced.Close())
	if n := sqlite.NewFiles(s); n != 1 {
		t.Errorf("the store remembers %d new databases, want 1 (the one closed before its first Sync)", n)
	}
	must(t, s.Remove(class, testID("unsynced")))
	if n := sqlite.NewFiles(s); n != 0 {
		t.Errorf("after Remove the store remembers %d new databases, want 0", n)
	}
}
