package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/den-run/den"
	"github.com/den-run/den/sqlite"
)

func ExampleStore() {
	dir, err := os.MkdirTemp("", "den-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	store := sqlite.NewStore(dir)
	db, err := store.Open(context.Background(), "Counter", den.Key{}.IDFromName("alice"))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	if err := db.Begin(); err != nil {
		panic(err)
	}
	if err := db.Put("count", []byte("1")); err != nil {
		panic(err)
	}
	wrote, err := db.Commit()
	if err != nil {
		panic(err)
	}
	if err := db.Sync(); err != nil { // only now are the writes durable
		panic(err)
	}
	v, _, _ := db.Get("count")
	fmt.Println(wrote, string(v))
	// Output: true 1
}

func TestPath(t *testing.T) {
	s := sqlite.NewStore("/data")
	id := testID("alice")
	hex := id.String()
	want := filepath.Join("/data", class, hex[:2], hex[2:4], hex+".sqlite")
	if got := s.Path(class, id); got != want {
		t.Errorf("Path = %q, want %q", got, want)
	}
	if got := s.Path(class, den.ID{}); got != "" {
		t.Errorf("Path of the zero ID = %q, want \"\"", got)
	}
}

func TestNewStoreTouchesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	sqlite.NewStore(dir)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("NewStore created its directory (stat: %v)", err)
	}
}

func TestClassNames(t *testing.T) {
	s := sqlite.NewStore(t.TempDir())
	for _, c := range []string{"A", "counter", "Chat_Room-2", strings.Repeat("a", 128)} {
		db, err := s.Open(context.Background(), c, testID("x"))
		if err != nil {
			t.Errorf("Open(%q): %v", c, err)
			continue
		}
		if !s.Exists(c, testID("x")) {
			t.Errorf("Exists(%q) = false after Open", c)
		}
		db.Close()
	}
	for _, c := range []string{"", "1abc", "_a", "-a", "a/b", "..", ".", "a.b", "a b", "é", "a\x00", strings.Repeat("a", 129), "../etc"} {
		_, err := s.Open(context.Background(), c, testID("x"))
		wantCode(t, err, den.EINVALID)
		if p := s.Path(c, testID("x")); p != "" {
			t.Errorf("Path(%q) = %q, want \"\"", c, p)
		}
		if s.Exists(c, testID("x")) {
			t.Errorf("Exists(%q) = true", c)
		}
	}
}

func TestOpenZeroID(t *testing.T) {
	_, err := sqlite.NewStore(t.TempDir()).Open(context.Background(), class, den.ID{})
	wantCode(t, err, den.EINVALID)
}

func TestOpenCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := sqlite.NewStore(t.TempDir())
	_, err := s.Open(ctx, class, testID("x"))
	wantCode(t, err, den.ECANCELED)
	if s.Exists(class, testID("x")) {
		t.Error("a canceled Open created the database")
	}
}

// syncRecorder records the paths a Store syncs.
type syncRecorder struct {
	mu      sync.Mutex // protects following fields
	paths   []string
	fail    error
	failAll error
}

// syncAll records a sync of everything under dir as "syncfs <dir>".
func (r *syncRecorder) syncAll(dir string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.paths = append(r.paths, "syncfs "+dir)
	return r.failAll
}

func (r *syncRecorder) setFail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = err
}

func (r *syncRecorder) setFailAll(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failAll = err
}

func (r *syncRecorder) sync(path string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := os.Stat(path); err != nil {
		return err
	}
	r.paths = append(r.paths, path)
	return r.fail
}

func (r *syncRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.paths
	r.paths = nil
	return p
}

func TestFirstSyncMakesNewDatabaseDurable(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "data")
	var rec syncRecorder
	s := sqlite.NewStoreWithOptions(dir, sqlite.Options{SyncFile: rec.sync})
	id := testID("alice")
	if s.Exists(class, id) {
		t.Fatal("Exists before Open")
	}
	db, err := s.Open(context.Background(), class, id)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Exists(class, id) {
		t.Fatal("not Exists after Open")
	}
	if got := rec.take(); len(got) != 0 {
		t.Errorf("Open synced %q, want nothing: a new database becomes durable at its first Sync", got)
	}
	must(t, db.Put("k", nil)) // so Close keeps the file
	must(t, db.Sync())
	path := s.Path(class, id)
	leaf := filepath.Dir(path)
	// The WAL, the new file, its directory, then the parent of each
	// directory Open created.
	want := []string{path + "-wal", path, leaf, filepath.Dir(leaf), filepath.Join(dir, class), dir, tmp}
	if got := rec.take(); !slices.Equal(got, want) {
		t.Errorf("first Sync synced\n%q\nwant\n%q", got, want)
	}
	must(t, db.Close())

	// A second object under the same new directories finds them synced.
	other := testID("bob")
	db, err = s.Open(context.Background(), class, other)
	if err != nil {
		t.Fatal(err)
	}
	must(t, db.Put("k", nil))
	must(t, db.Sync())
	got := rec.take()
	if len(got) < 3 || got[1] != s.Path(class, other) {
		t.Errorf("first Sync of a second new object synced %q, want its WAL, its file and its directories", got)
	}
	for _, p := range got {
		if p == dir || p == tmp {
			t.Errorf("synced %s again", p)
		}
	}
	must(t, db.Close())

	db, err = s.Open(context.Background(), class, id)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if got := rec.take(); len(got) != 0 {
		t.Errorf("reopening synced %q, want nothing", got)
	}
}

func TestNewDirectoriesStayUntilSynced(t *testing.T) {
	rec := syncRecorder{fail: fmt.Errorf("disk on fire")}
	dir := filepath.Join(t.TempDir(), "data")
	s := sqlite.NewStoreWithOptions(dir, sqlite.Options{SyncFile: rec.sync})
	db, err := s.Open(context.Background(), class, testID("x"))
	if err != nil {
		t.Fatal(err)
	}
	must(t, db.Put("k", nil))
	wantCode(t, db.Sync(), den.EINTERNAL)
	rec.mu.Lock()
	rec.fail, rec.paths = nil, nil
	rec.mu.Unlock()
	must(t, db.Sync())
	if got := rec.take(); !slices.Contains(got, dir) || !slices.Contains(got, s.Path(class, testID("x"))) {
		t.Errorf("Sync after a failed one synced %q, want the file and every new directory again", got)
	}
	must(t, db.Close())
}

// A crash before a new database's first Sync can leave its file empty or
// zero-filled. Nothing in it was acknowledged, so Open starts it again.
func TestOpenReplacesUnsyncedNewFile(t *testing.T) {
	for name, content := range map[string][]byte{"empty": nil, "zeros": make([]byte, 3*4096)} {
		t.Run(name, func(t *testing.T) {
			s := sqlite.NewStore(t.TempDir())
			p := s.Path(class, testID("x"))
			must(t, os.MkdirAll(filepath.Dir(p), 0o700))
			must(t, os.WriteFile(p, content, 0o600))
			db := mustOpen(t, s, "x")
			must(t, db.Put("k", []byte("v")))
			must(t, db.Close())
			db = mustOpen(t, s, "x")
			if v, ok, err := db.Get("k"); err != nil || !ok || string(v) != "v" {
				t.Fatalf("Get after reopening: %q %v %v", v, ok, err)
			}
		})
	}
}

func TestOpenCorrupt(t *testing.T) {
	s := sqlite.NewStore(t.TempDir())
	p := s.Path(class, testID("x"))
	must(t, os.MkdirAll(filepath.Dir(p), 0o700))
	must(t, os.WriteFile(p, []byte(strings.Repeat("not a database ", 1000)), 0o600))
	_, err := s.Open(context.Background(), class, testID("x"))
	wantCode(t, err, den.EINTERNAL)
}

func TestOpenConcurrent(t *testing.T) {
	s := sqlite.NewStore(t.TempDir())
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Go(func() {
			name := fmt.Sprint("object-", i)
			db, err := s.Open(context.Background(), class, testID(name))
			if err != nil {
				errs <- err
				return
			}
			defer db.Close()
			if err := db.Put("name", []byte(name)); err != nil {
				errs <- err
				return
			}
			if v, _, err := db.Get("name"); err != nil || string(v) != name {
				errs <- fmt.Errorf("get %s: %q, %v", name, v, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range 64 {
		if !s.Exists(class, testID(fmt.Sprint("object-", i))) {
			t.Errorf("object-%d does not exist", i)
		}
	}
}

func BenchmarkOpenExisting(b *testing.B) {
	s := sqlite.NewStore(b.TempDir())
	db := mustOpen(b, s, "x")
	must(b, db.Put("k", []byte("v")))
	must(b, db.Close())
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		db, err := s.Open(ctx, class, testID("x"))
		if err != nil {
			b.Fatal(err)
		}
		if _, ok, err := db.Get("k"); err != nil || !ok {
			b.Fatal(ok, err)
		}
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func TestEmptyDatabaseIsRemovedOnClose(t *testing.T) {
	s := sqlite.NewStore(t.TempDir())
	id := testID("ghost")
	db, err := s.Open(context.Background(), class, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.Get("anything"); err != nil {
		t.Fatal(err)
	}
	must(t, db.Close())
	if s.Exists(class, id) {
		t.Fatal("a database that stored nothing was left on disk")
	}
	db, err = s.Open(context.Background(), class, id)
	if err != nil {
		t.Fatal(err)
	}
	must(t, db.Put("k", []byte("v")))
	must(t, db.Close())
	if !s.Exists(class, id) {
		t.Fatal("a database with data was removed")
	}
	db, err = s.Open(context.Background(), class, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Delete("k"); err != nil {
		t.Fatal(err)
	}
	must(t, db.Close())
	if s.Exists(class, id) {
		t.Fatal("a database emptied by its object was left on disk")
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(s.Path(class, id) + suffix); !os.IsNotExist(err) {
			t.Errorf("%s left behind: %v", suffix, err)
		}
	}
}

// BenchmarkOpenNew creates an object's database, writes one key, makes it
// durable and closes it: the first touch of a new object.
func BenchmarkOpenNew(b *testing.B) {
	s := sqlite.NewStore(b.TempDir())
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		db := writeKey(b, s, fmt.Sprint("new-", i))
		i++
		must(b, db.Sync())
		must(b, db.Close())
	}
}

// BenchmarkReopenWrite reopens an existing object, writes one key, makes it
// durable and closes it: an evicted object's next write.
func BenchmarkReopenWrite(b *testing.B) {
	s := sqlite.NewStore(b.TempDir())
	db := mustOpen(b, s, "x")
	must(b, db.Put("k", []byte("v")))
	must(b, db.Close())
	b.ReportAllocs()
	for b.Loop() {
		db := writeKey(b, s, "x")
		must(b, db.Sync())
		must(b, db.Close())
	}
}
