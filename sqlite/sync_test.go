package sqlite_test

import (
	"errors"
	"fmt"
	"io/fs"
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
	var rec syncRecorder
	s := sqlite.NewStoreWithOptions(t.TempDir(), sqlite.Options{SyncFile: rec.sync})
	db := mustOpen(t, s, "x")
	fill(t, db, "new")
	must(t, db.Sync()) // a new database's first Sync also syncs the file and new directories
	must(t, db.Close())
	db = mustOpen(t, s, "x")
	rec.take()
	path := s.Path(class, testID("x"))

	must(t, db.Begin())
	fill(t, db, "a")
	_, err := db.Commit()
	must(t, err)
	must(t, db.Sync())
	if got, want := rec.take(), []string{path + "-wal", filepath.Dir(path)}; !slices.Equal(got, want) {
		t.Errorf("first Sync synced %q, want %q", got, want)
	}
	must(t, db.Sync())
	if got, want := rec.take(), []string{path + "-wal"}; !slices.Equal(got, want) {
		t.Errorf("second Sync synced %q, want %q", got, want)
	}
	must(t, db.Close())
	must(t, db.Sync())
	if got, want := rec.take(), []string{path + "-wal"}; !slices.Equal(got, want) {
		t.Errorf("Sync after Close synced %q, want %q (a small WAL is kept on close)", got, want)
	}

	// A reopened database syncs its directory again on its first Sync.
	db = mustOpen(t, s, "x")
	fill(t, db, "b")
	must(t, db.Sync())
	if got, want := rec.take(), []string{path + "-wal", filepath.Dir(path)}; !slices.Equal(got, want) {
		t.Errorf("first Sync after reopening synced %q, want %q", got, want)
	}
}

func TestSyncFailure(t *testing.T) {
	var rec syncRecorder
	s := sqlite.NewStoreWithOptions(t.TempDir(), sqlite.Options{SyncFile: rec.sync})
	db := mustOpen(t, s, "x")
	fill(t, db, "new")
	must(t, db.Sync())
	must(t, db.Close())
	db = mustOpen(t, s, "x")
	fill(t, db, "a")
	injected := errors.New("injected fsync failure")
	rec.mu.Lock()
	rec.fail = injected
	rec.mu.Unlock()
	err := db.Sync()
	e := wantCode(t, err, den.EINTERNAL)
	if !errors.Is(err, injected) {
		t.Errorf("Sync error %v does not wrap the cause", e)
	}
	// The directory was not synced, so the next Sync tries it again.
	rec.mu.Lock()
	rec.fail = nil
	rec.paths = nil
	rec.mu.Unlock()
	must(t, db.Sync())
	if got := rec.take(); len(got) != 2 {
		t.Errorf("Sync after a failure synced %q, want the WAL and the directory", got)
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
