package sqlite_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"

	"github.com/den-run/den"
	"github.com/den-run/den/pitr"
	dsqlite "github.com/den-run/den/sqlite"
)

// historyStore returns a Store under dir whose databases keep history under
// dir/history, checkpointing when the WAL passes ckpt bytes.
func historyStore(dir string, ckpt int64) (*dsqlite.Store, *pitr.Archive) {
	a := pitr.New(filepath.Join(dir, "history"), pitr.Options{})
	s := dsqlite.NewStoreWithOptions(filepath.Join(dir, "objects"), dsqlite.Options{
		History:         func(class string, id den.ID) dsqlite.Log { return a.Open(class, id) },
		CheckpointBytes: ckpt,
	})
	return s, a
}

func openHistory(tb testing.TB, s *dsqlite.Store, name string) den.HistoryDatabase {
	tb.Helper()
	db, err := s.Open(context.Background(), class, testID(name))
	if err != nil {
		tb.Fatal(err)
	}
	return db.(den.HistoryDatabase)
}

// turn runs fn in a transaction, commits and syncs.
func turn(tb testing.TB, db den.Database, fn func()) {
	tb.Helper()
	must(tb, db.Begin())
	fn()
	if _, err := db.Commit(); err != nil {
		tb.Fatal(err)
	}
	must(tb, db.Sync())
}

func bookmark(tb testing.TB, db den.HistoryDatabase) string {
	tb.Helper()
	b, err := db.CurrentBookmark()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// state describes what a database holds: its KV pairs and its user tables.
func state(tb testing.TB, db den.Database) string {
	tb.Helper()
	tables, err := dsqlite.QueryStrings(db, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE '\_cf\_%' ESCAPE '\' ORDER BY name`)
	if err != nil {
		tb.Fatal(err)
	}
	kv, err := dsqlite.QueryStrings(db, "SELECT key || '=' || CAST(value AS TEXT) FROM _cf_KV ORDER BY key")
	if err != nil {
		tb.Fatal(err)
	}
	return "tables[" + strings.Join(tables, ",") + "] kv[" + strings.Join(kv, ",") + "]"
}

// fileState is state for a standalone database file.
func fileState(tb testing.TB, path string) string {
	tb.Helper()
	conn, err := sqlite.OpenConn(path, sqlite.OpenReadOnly)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	var tables, kv []string
	var check string
	must(tb, sqlitex.ExecuteTransient(conn, "PRAGMA quick_check", &sqlitex.ExecOptions{ResultFunc: func(s *sqlite.Stmt) error { check = s.ColumnText(0); return nil }}))
	if check != "ok" {
		tb.Fatalf("quick_check: %s", check)
	}
	must(tb, sqlitex.ExecuteTransient(conn, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE '\_cf\_%' ESCAPE '\' ORDER BY name`, &sqlitex.ExecOptions{ResultFunc: func(s *sqlite.Stmt) error { tables = append(tables, s.ColumnText(0)); return nil }}))
	must(tb, sqlitex.ExecuteTransient(conn, "SELECT key || '=' || CAST(value AS TEXT) FROM _cf_KV ORDER BY key", &sqlitex.ExecOptions{ResultFunc: func(s *sqlite.Stmt) error { kv = append(kv, s.ColumnText(0)); return nil }}))
	return "tables[" + strings.Join(tables, ",") + "] kv[" + strings.Join(kv, ",") + "]"
}

// script writes a few states, returning each state's bookmark and
// description.
func script(tb testing.TB, db den.HistoryDatabase) (marks, states []string) {
	tb.Helper()
	steps := []func(){
		func() { must(tb, db.Put("a", []byte("1"))) },
		func() {
			must(tb, db.Put("a", []byte("2")))
			must(tb, dsqlite.Exec(db, "CREATE TABLE t (x); INSERT INTO t VALUES (1)"))
		},
		func() { must(tb, dsqlite.Exec(db, "INSERT INTO t SELECT x+1 FROM t; CREATE INDEX tx ON t(x)")) },
		func() { must(tb, db.Put("b", []byte(strings.Repeat("big", 5000)))) },
		func() {
			must(tb, dsqlite.Exec(db, "DROP TABLE t"))
			must(tb, db.Put("a", []byte("3")))
		},
		func() { must(tb, db.DeleteAll()) },
	}
	for _, step := range steps {
		turn(tb, db, step)
		marks = append(marks, bookmark(tb, db))
		states = append(states, state(tb, db))
	}
	return marks, states
}

// checkImages rebuilds the state of every bookmark from db's history as a
// standalone file and checks it is the state recorded with the bookmark.
func checkImages(t *testing.T, db den.HistoryDatabase, marks, states []string) {
	t.Helper()
	for i, m := range marks {
		f, err := db.Image(m)
		if err != nil {
			t.Fatalf("image %d: %v", i, err)
		}
		p := filepath.Join(t.TempDir(), "image.sqlite")
		out, _ := os.Create(p)
		io.Copy(out, f)
		out.Close()
		f.Close()
		if got := fileState(t, p); got != states[i] {
			t.Errorf("image at step %d: %s, want %s", i, got, states[i])
		}
	}
}

func TestHistoryRestoresEveryState(t *testing.T) {
	for _, ckpt := range []int64{1, 1 << 30} { // a checkpoint after every commit, or none until close
		t.Run(map[int64]string{1: "checkpoint every commit", 1 << 30: "checkpoint at close"}[ckpt], func(t *testing.T) {
			dir := t.TempDir()
			s, _ := historyStore(dir, ckpt)
			db := openHistory(t, s, "x")
			marks, states := script(t, db)
			for i := 1; i < len(marks); i++ {
				if marks[i] <= marks[i-1] {
					t.Fatalf("bookmarks do not sort in time order: %s then %s", marks[i-1], marks[i])
				}
			}
			// Every state, rebuilt from the history while the database is open.
			checkImages(t, db, marks, states)
			// Restore each state in turn, through closing and reopening.
			for _, i := range []int{1, 3, 0, 5, 2} {
				must(t, db.StageRestore(marks[i]))
				must(t, db.Close())
				db = openHistory(t, s, "x")
				if !db.Restored() {
					t.Fatal("Restored() is false after a staged restore")
				}
				if got := state(t, db); got != states[i] {
					t.Errorf("restored step %d: %s, want %s", i, got, states[i])
				}
			}
			must(t, db.Close())
		})
	}
}

func TestHistoryBookmarkForTime(t *testing.T) {
	s, _ := historyStore(t.TempDir(), 1<<30)
	db := openHistory(t, s, "x")
	defer db.Close()
	var marks []string
	var times []time.Time
	for i := range 3 {
		turn(t, db, func() { must(t, db.Put("k", []byte{byte('0' + i)})) })
		marks = append(marks, bookmark(t, db))
		times = append(times, time.Now())
		time.Sleep(2 * time.Millisecond) // distinct commit times, on the real clock the store uses
	}
	for i, at := range times {
		got, err := db.BookmarkForTime(at)
		if err != nil {
			t.Fatal(err)
		}
		if got != marks[i] {
			t.Errorf("BookmarkForTime(after write %d) = %s, want %s", i, got, marks[i])
		}
	}
	if _, err := db.BookmarkForTime(time.Now().Add(time.Hour)); err == nil {
		t.Error("a bookmark for the future was given")
	}
	wantCode(t, func() error { _, err := db.BookmarkForTime(time.Now().Add(-31 * 24 * time.Hour)); return err }(), den.EINVALID)
}

func TestHistoryRefusesForeignBookmark(t *testing.T) {
	s, _ := historyStore(t.TempDir(), 1<<30)
	a, b := openHistory(t, s, "a"), openHistory(t, s, "b")
	defer a.Close()
	defer b.Close()
	turn(t, a, func() { must(t, a.Put("k", []byte("v"))) })
	turn(t, b, func() { must(t, b.Put("k", []byte("v"))) })
	e := wantCode(t, b.StageRestore(bookmark(t, a)), den.EINVALID)
	if !strings.Contains(e.Message, "not in this object's history") {
		t.Errorf("message: %s", e.Message)
	}
	wantCode(t, b.StageRestore("nonsense"), den.EINVALID)
}

// TestHistoryAfterCrash copies an open database's files, as a crash would
// leave them, and opens the copy: bookmarks given out before stay valid.
func TestHistoryAfterCrash(t *testing.T) {
	dir := t.TempDir()
	s, _ := historyStore(dir, 64<<10)
	db := openHistory(t, s, "x")
	marks, states := script(t, db)
	crash := t.TempDir()
	copyTree(t, dir, crash)
	must(t, db.Close())

	s2, _ := historyStore(crash, 64<<10)
	db2 := openHistory(t, s2, "x")
	if got := state(t, db2); got != states[len(states)-1] {
		t.Fatalf("after crash: %s, want %s", got, states[len(states)-1])
	}
	turn(t, db2, func() { must(t, db2.Put("after", []byte("crash"))) })
	for _, i := range []int{2, 4} {
		must(t, db2.StageRestore(marks[i]))
		must(t, db2.Close())
		db2 = openHistory(t, s2, "x")
		if got := state(t, db2); got != states[i] {
			t.Errorf("restored step %d after a crash: %s, want %s", i, got, states[i])
		}
	}
	must(t, db2.Close())
}

func copyTree(tb testing.TB, from, to string) {
	tb.Helper()
	err := filepath.Walk(from, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if fi.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o600)
	})
	if err != nil {
		tb.Fatal(err)
	}
}

func TestHistoryEmptyObjectLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	s, a := historyStore(dir, 1<<30)
	db := openHistory(t, s, "ghost")
	if _, _, err := db.Get("nothing"); err != nil {
		t.Fatal(err)
	}
	must(t, db.Close())
	if s.Exists(class, testID("ghost")) || a.Exists(class, testID("ghost")) {
		t.Error("an object that never wrote left a database or a history")
	}
}

func TestHistoryImageNow(t *testing.T) {
	s, _ := historyStore(t.TempDir(), 1<<30)
	db := openHistory(t, s, "x")
	defer db.Close()
	_, states := script(t, db)
	turn(t, db, func() { must(t, db.Put("z", []byte("last"))) })
	f, err := db.Image("")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := filepath.Join(t.TempDir(), "now.sqlite")
	out, _ := os.Create(p)
	io.Copy(out, f)
	out.Close()
	if got, want := fileState(t, p), state(t, db); got != want || got == states[len(states)-1] {
		t.Errorf("image now: %s, want %s", got, want)
	}
	// And it imports into another object.
	other := openHistory(t, s, "y")
	in, _ := os.Open(p)
	must(t, other.StageImage(in, false))
	in.Close()
	must(t, other.Close())
	other = openHistory(t, s, "y")
	defer other.Close()
	if got, want := state(t, other), state(t, db); got != want {
		t.Errorf("imported: %s, want %s", got, want)
	}
}

func TestHistoryKeepsDataDeletedInOneSession(t *testing.T) {
	s, a := historyStore(t.TempDir(), 1<<30)
	db := openHistory(t, s, "x")
	turn(t, db, func() { must(t, db.Put("precious", []byte("1"))) })
	b := bookmark(t, db)
	turn(t, db, func() { must(t, db.DeleteAll()) })
	must(t, db.Close())
	if !a.Exists(class, testID("x")) {
		t.Fatal("the history of data written and deleted in one session was dropped")
	}
	db = openHistory(t, s, "x")
	must(t, db.StageRestore(b))
	must(t, db.Close())
	db = openHistory(t, s, "x")
	defer db.Close()
	if v, _ := mustGet(t, db, "precious"); v != "1" {
		t.Errorf("restored %q", v)
	}
}

// Closing with a small WAL appends its transactions to the log without
// syncing it: the WAL stays and is the durable copy. A crash that loses the
// append loses no history: the next open reads those transactions back from
// the WAL, and every bookmark still restores its state.
func TestHistoryLostCloseAppend(t *testing.T) {
	dir := t.TempDir()
	s, _ := historyStore(dir, 1<<30) // no checkpoint until a WAL of 1 MiB
	db := openHistory(t, s, "x")
	turn(t, db, func() { must(t, db.Put("a", []byte("0"))) })
	must(t, db.Close()) // the first close writes the snapshot, durably
	logs, err := filepath.Glob(filepath.Join(dir, "history", class, "*", "*", "*", "*.log"))
	if err != nil || len(logs) != 1 {
		t.Fatalf("logs %v, %v", logs, err)
	}
	fi, err := os.Stat(logs[0])
	if err != nil {
		t.Fatal(err)
	}
	before := fi.Size()

	db = openHistory(t, s, "x")
	marks, states := script(t, db)
	must(t, db.Close())
	// The crash: the append of this session's transactions never reached
	// the disk.
	must(t, os.Truncate(logs[0], before))

	db = openHistory(t, s, "x")
	if got := state(t, db); got != states[len(states)-1] {
		t.Fatalf("after losing the append: %s, want %s", got, states[len(states)-1])
	}
	for _, i := range []int{0, 2, 4} {
		must(t, db.StageRestore(marks[i]))
		must(t, db.Close())
		db = openHistory(t, s, "x")
		if got := state(t, db); got != states[i] {
			t.Errorf("restored step %d after losing the close append: %s, want %s", i, got, states[i])
		}
	}
	must(t, db.Close())
}

// The history stores each page as a delta against the page as it held it
// before: within a session, across sessions that keep the WAL (the earlier
// version is a frame archived by the previous session), and across
// checkpoints (the earlier version is in the database file). Every state
// must come back exactly, and a small change must cost far less than a page.
func TestHistoryDeltasRebuildEveryState(t *testing.T) {
	for _, ckpt := range []int64{1, 1 << 30} {
		t.Run(map[int64]string{1: "checkpoint every commit", 1 << 30: "checkpoint at close"}[ckpt], func(t *testing.T) {
			dir := t.TempDir()
			s, _ := historyStore(dir, ckpt)
			var marks, states []string
			db := openHistory(t, s, "x")
			for session := range 4 {
				for i := range 5 {
					turn(t, db, func() {
						must(t, db.Put("counter", []byte(fmt.Sprint(session*10+i))))
						if i == 2 { // a page more, then pages past the first
							must(t, db.Put(fmt.Sprintf("big-%d", session), []byte(strings.Repeat(fmt.Sprint(session), 3000))))
						}
					})
					marks = append(marks, bookmark(t, db))
					states = append(states, state(t, db))
				}
				must(t, db.Close())
				db = openHistory(t, s, "x")
			}
			checkImages(t, db, marks, states)
			must(t, db.Close())
			// 20 transactions, 4 of them adding a 3 KB value: full pages
			// would take well over 20 × 4 KiB of logs.
			logs, _ := filepath.Glob(filepath.Join(dir, "history", class, "*", "*", "*", "*.log"))
			var size int64
			for _, l := range logs {
				fi, err := os.Stat(l)
				if err != nil {
					t.Fatal(err)
				}
				size += fi.Size()
			}
			if size > 40<<10 {
				t.Errorf("logs hold %d bytes for 20 small transactions", size)
			}
		})
	}
}

// countingStore is historyStore with the archive's syncs counted by path.
func countingStore(dir string, ckpt int64) (*dsqlite.Store, *syncCount) {
	c := &syncCount{paths: map[string]int{}}
	a := pitr.New(filepath.Join(dir, "history"), pitr.Options{SyncFile: c.sync})
	s := dsqlite.NewStoreWithOptions(filepath.Join(dir, "objects"), dsqlite.Options{
		History:         func(class string, id den.ID) dsqlite.Log { return a.Open(class, id) },
		CheckpointBytes: ckpt,
	})
	return s, c
}

type syncCount struct {
	mu    sync.Mutex
	paths map[string]int
}

func (c *syncCount) sync(path string) error {
	c.mu.Lock()
	c.paths[path]++
	c.mu.Unlock()
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func (c *syncCount) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.paths {
		n += v
	}
	return n
}

// An object's first close writes its first history pair without a single
// fsync; its first checkpoint makes the pair durable before the database
// file changes: the snapshot, the log and every directory up to the root.
func TestHistoryFirstPairIsLazyUntilCheckpoint(t *testing.T) {
	dir := t.TempDir()
	s, c := countingStore(dir, 64<<10)
	db := openHistory(t, s, "x")
	turn(t, db, func() { must(t, db.Put("a", []byte("1"))) })
	must(t, db.Close())
	if n := c.total(); n != 0 {
		t.Fatalf("the first close synced %d times: %v", n, c.paths)
	}
	db = openHistory(t, s, "x")
	turn(t, db, func() { must(t, db.Put("big", []byte(strings.Repeat("x", 100<<10)))) }) // past the checkpoint size
	var snaps, logs, dirs int
	for p, n := range c.paths {
		switch {
		case strings.HasSuffix(p, ".snap"):
			snaps += n
		case strings.HasSuffix(p, ".log"):
			logs += n
		default:
			dirs += n
		}
	}
	// history/, Class/, ab/, cd/, <id>/ and the data directory.
	if snaps != 1 || logs < 1 || dirs < 6 {
		t.Fatalf("after the first checkpoint: %d snapshot, %d log, %d directory syncs: %v", snaps, logs, dirs, c.paths)
	}
	must(t, db.Close())
}

// A crash can leave any part of a lazy first pair unwritten. The next open
// must notice, start the history again from the database file and the WAL
// (which hold the same state durably), and every bookmark handed out before
// the crash must still restore its state.
func TestHistoryTornFirstPair(t *testing.T) {
	tears := map[string]func(t *testing.T, snap, log string){
		"snapshot empty":   func(t *testing.T, snap, log string) { must(t, os.Truncate(snap, 0)) },
		"snapshot changed": func(t *testing.T, snap, log string) { flipByte(t, snap, 100) },
		"log empty":        func(t *testing.T, snap, log string) { must(t, os.Truncate(log, 0)) },
		"log zeros":        func(t *testing.T, snap, log string) { must(t, os.WriteFile(log, make([]byte, 4096), 0o600)) },
		"log gone":         func(t *testing.T, snap, log string) { must(t, os.Remove(log)) },
		"nothing torn":     func(t *testing.T, snap, log string) {},
	}
	for name, tear := range tears {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s, _ := historyStore(dir, 1<<30)
			db := openHistory(t, s, "x")
			var marks, states []string
			for i := range 3 {
				turn(t, db, func() { must(t, db.Put("a", []byte(fmt.Sprint(i)))) })
				marks = append(marks, bookmark(t, db))
				states = append(states, state(t, db))
			}
			must(t, db.Close())
			snaps, _ := filepath.Glob(filepath.Join(dir, "history", class, "*", "*", "*", "*.snap"))
			logs, _ := filepath.Glob(filepath.Join(dir, "history", class, "*", "*", "*", "*.log"))
			if len(snaps) != 1 || len(logs) != 1 {
				t.Fatalf("snapshots %v, logs %v", snaps, logs)
			}
			tear(t, snaps[0], logs[0])
			// The machine restarts: a new process, whose archive has not
			// seen the pair.
			s, _ = historyStore(dir, 1<<30)
			db = openHistory(t, s, "x")
			if got := state(t, db); got != states[2] {
				t.Fatalf("after the crash: %s, want %s", got, states[2])
			}
			for _, i := range []int{0, 2, 1} {
				must(t, db.StageRestore(marks[i]))
				must(t, db.Close())
				db = openHistory(t, s, "x")
				if got := state(t, db); got != states[i] {
					t.Errorf("restored step %d: %s, want %s", i, got, states[i])
				}
			}
			must(t, db.Close())
		})
	}
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// Closing with a small WAL keeps it as the durable copy of the session's
// transactions: the close syncs it unless a barrier already made every
// write durable (Synced), which the output gate has usually done.
func TestHistoryCloseSyncsOnlyWritesNotKnownDurable(t *testing.T) {
	for _, marked := range []bool{false, true} {
		t.Run(fmt.Sprint("synced by a barrier: ", marked), func(t *testing.T) {
			dir := t.TempDir()
			var walSyncs atomic.Int64
			a := pitr.New(filepath.Join(dir, "history"), pitr.Options{})
			s := dsqlite.NewStoreWithOptions(filepath.Join(dir, "objects"), dsqlite.Options{
				History: func(class string, id den.ID) dsqlite.Log { return a.Open(class, id) },
				SyncFile: func(path string) error {
					if strings.HasSuffix(path, "-wal") {
						walSyncs.Add(1)
					}
					return nil
				},
			})
			db := openHistory(t, s, "x")
			must(t, db.Begin())
			must(t, db.Put("a", []byte("1")))
			if _, err := db.Commit(); err != nil {
				t.Fatal(err)
			}
			m := db.(interface {
				SyncToken() uint64
				Synced(uint64)
			})
			if marked {
				m.Synced(m.SyncToken()) // as a successful barrier does
			}
			before := walSyncs.Load()
			must(t, db.Close())
			synced := walSyncs.Load() > before
			if synced == marked {
				t.Fatalf("the close synced the WAL: %v; writes known durable: %v", synced, marked)
			}
		})
	}
}

// countingLog is a pitr.Log that counts how commits reach it.
type countingLog struct {
	*pitr.Log
	frames, reads atomic.Int64
}

func (l *countingLog) CommittedFrames(n int64) error {
	l.frames.Add(1)
	return l.Log.CommittedFrames(n)
}

func (l *countingLog) Committed() error {
	l.reads.Add(1)
	return l.Log.Committed()
}

// A commit reaches the history through SQLite's WAL hook, which tells the
// WAL's size: no read of the WAL per commit. Between uses the history holds
// no file open, so a live object with history costs two descriptors (its
// database and its WAL), as one without.
func TestHistoryCommitReadsNothingAndHoldsNoFiles(t *testing.T) {
	dir := t.TempDir()
	a := pitr.New(filepath.Join(dir, "history"), pitr.Options{})
	var log *countingLog
	s := dsqlite.NewStoreWithOptions(filepath.Join(dir, "objects"), dsqlite.Options{
		History: func(class string, id den.ID) dsqlite.Log {
			log = &countingLog{Log: a.Open(class, id)}
			return log
		},
	})
	// A history exists (the first session archived), so the next session
	// knows the page size from the start.
	db := openHistory(t, s, "x")
	turn(t, db, func() { must(t, db.Put("a", []byte("0"))) })
	must(t, db.Close())

	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd")
		}
		return len(ents)
	}
	before := fds()
	db = openHistory(t, s, "x")
	for i := range 5 {
		must(t, db.Begin())
		must(t, db.Put("a", []byte(fmt.Sprint(i+1))))
		if _, err := db.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if n := fds() - before; n != 2 {
		t.Errorf("an open database with history holds %d descriptors, want 2", n)
	}
	if f, r := log.frames.Load(), log.reads.Load(); f != 5 || r != 0 {
		t.Errorf("5 commits: %d notes from the WAL hook, %d reads of the WAL", f, r)
	}
	// The bookmark still names the last commit, and restores it.
	must(t, db.Sync())
	bm := bookmark(t, db)
	turn(t, db, func() { must(t, db.Put("a", []byte("later"))) })
	must(t, db.StageRestore(bm))
	must(t, db.Close())
	db = openHistory(t, s, "x")
	defer db.Close()
	if v, _ := mustGet(t, db, "a"); v != "5" {
		t.Errorf("restored a = %q, want 5", v)
	}
}
