package commit_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/commit"
	"github.com/den-run/den/sqlite"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeDB counts syncs; a sync blocks while gate is set, and fails with err
// (or with what errFor says for the nth sync, counting from 1).
type fakeDB struct {
	den.Database
	syncs  atomic.Int64
	gate   chan struct{}
	err    error
	errFor func(n int64) error
}

func (d *fakeDB) Sync() error {
	n := d.syncs.Add(1)
	if d.errFor != nil {
		return d.errFor(n)
	}
	if d.gate != nil {
		<-d.gate
	}
	return d.err
}

func open(tb testing.TB, cfg commit.Config) *commit.Committer {
	tb.Helper()
	c := commit.New(cfg)
	if err := c.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

func TestBatchesShareOneBarrierAndKeepOrder(t *testing.T) {
	c := open(t, commit.Config{Mode: commit.FDataSync, Depth: 1})
	first := &fakeDB{gate: make(chan struct{})}
	got := make(chan string, 100)
	c.Flush(first, func(err error) { got <- "first" })
	retry(t, func() bool { return first.syncs.Load() == 1 }) // the barrier is in flight
	// While it runs, 50 flushes of 5 databases gather into the next batch.
	dbs := make([]*fakeDB, 5)
	for i := range dbs {
		dbs[i] = &fakeDB{}
	}
	for i := range 50 {
		db := dbs[i%5]
		c.Flush(db, func(err error) {
			if err != nil {
				t.Error(err)
			}
			got <- fmt.Sprintf("%d/%d", i%5, i)
		})
	}
	close(first.gate)
	if s := <-got; s != "first" {
		t.Fatalf("first release %q", s)
	}
	last := map[int]int{}
	for range 50 {
		var db, i int
		fmt.Sscanf(<-got, "%d/%d", &db, &i)
		if prev, ok := last[db]; ok && prev > i {
			t.Fatalf("database %d released %d after %d", db, i, prev)
		}
		last[db] = i
	}
	for i, db := range dbs {
		if n := db.syncs.Load(); n != 1 {
			t.Errorf("database %d synced %d times for 10 flushes in one batch", i, n)
		}
	}
	if s := c.Stats(); s.Barriers != 2 || s.Flushes != 51 || s.Databases != 6 {
		t.Errorf("stats %+v", s)
	}
}

func TestFailedSyncFailsOnlyItsDatabaseAndSticks(t *testing.T) {
	c := open(t, commit.Config{Mode: commit.FDataSync})
	bad := &fakeDB{err: errors.New("EIO")}
	good := &fakeDB{}
	var wg sync.WaitGroup
	var badErr, goodErr atomic.Value
	wg.Add(2)
	c.Flush(bad, func(err error) { badErr.Store(fmt.Sprint(err)); wg.Done() })
	c.Flush(good, func(err error) { goodErr.Store(fmt.Sprint(err)); wg.Done() })
	wg.Wait()
	if badErr.Load() != "EIO" || goodErr.Load() != "<nil>" {
		t.Fatalf("bad %v, good %v", badErr.Load(), goodErr.Load())
	}
	// A later flush of the same handle fails without a sync: after a failed
	// fsync a successful one proves nothing.
	bad.err = nil
	n := bad.syncs.Load()
	errc := make(chan error, 1)
	c.Flush(bad, func(err error) { errc <- err })
	if err := <-errc; err == nil || bad.syncs.Load() != n {
		t.Fatalf("flush after failure: %v (syncs %d → %d)", err, n, bad.syncs.Load())
	}
	c.Forget(bad)
	c.Flush(bad, func(err error) { errc <- err })
	if err := <-errc; err != nil {
		t.Fatalf("flush after Forget: %v", err)
	}
}

func TestSyncfsFailureFailsTheWholeBatch(t *testing.T) {
	var calls atomic.Int64
	c := open(t, commit.Config{Mode: commit.Syncfs, SyncFS: func() error {
		calls.Add(1)
		return errors.New("injected")
	}})
	errc := make(chan error, 2)
	a, b := &fakeDB{}, &fakeDB{}
	c.Flush(a, func(err error) { errc <- err })
	c.Flush(b, func(err error) { errc <- err })
	for range 2 {
		if err := <-errc; err == nil {
			t.Fatal("a flush survived a failed syncfs")
		}
	}
	if a.syncs.Load()+b.syncs.Load() != 0 {
		t.Fatal("syncfs mode synced WAL files one by one")
	}
}

func TestCloseRunsTheLastBarrier(t *testing.T) {
	c := commit.New(commit.Config{})
	if err := c.Open(); err != nil {
		t.Fatal(err)
	}
	db := &fakeDB{gate: make(chan struct{})}
	released := make(chan struct{}, 3)
	c.Flush(db, func(error) { released <- struct{}{} })
	retry(t, func() bool { return db.syncs.Load() == 1 })
	c.Flush(db, func(error) { released <- struct{}{} }) // pending when Close starts
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	close(db.gate)
	<-closed
	if len(released) != 2 {
		t.Fatalf("%d of 2 flushes released by Close", len(released))
	}
	// After Close a flush syncs on the caller's goroutine.
	c.Flush(db, func(error) { released <- struct{}{} })
	if len(released) != 3 {
		t.Fatal("flush after Close was not released")
	}
}

func TestParseMode(t *testing.T) {
	for _, s := range []string{"fdatasync", "syncfs", "auto"} {
		if _, err := commit.ParseMode(s); err != nil {
			t.Error(err)
		}
	}
	if _, err := commit.ParseMode("fsync-everything"); den.ErrorCode(err) != den.EINVALID {
		t.Errorf("bad mode: %v", err)
	}
}

// BenchmarkBarrier measures one barrier over n databases that each
// committed one write, in each mode: the cost the output gate shares.
func BenchmarkBarrier(b *testing.B) {
	for _, mode := range []commit.Mode{commit.FDataSync, commit.Syncfs, commit.Auto} {
		for _, n := range []int{1, 2, 4, 8, 16, 200} {
			b.Run(fmt.Sprintf("%s/dbs=%d", mode, n), func(b *testing.B) {
				dir := b.TempDir()
				store := sqlite.NewStore(dir)
				key, _ := den.NewKey(nil)
				dbs := make([]den.Database, n)
				for i := range dbs {
					db, err := store.Open(context.Background(), "Bench", key.IDFromName(fmt.Sprint(i)))
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { db.Close() })
					dbs[i] = db
				}
				c := open(b, commit.Config{Mode: mode, Dir: dir})
				var wg sync.WaitGroup
				v := make([]byte, 100)
				b.ReportAllocs()
				for b.Loop() {
					for _, db := range dbs {
						db.Begin()
						db.Put("k", v)
						db.Commit()
					}
					wg.Add(n)
					for _, db := range dbs {
						c.Flush(db, func(err error) {
							if err != nil {
								b.Error(err)
							}
							wg.Done()
						})
					}
					wg.Wait()
				}
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "commits/s")
			})
		}
	}
}

func retry(tb testing.TB, ok func() bool) {
	tb.Helper()
	for i := 0; !ok(); i++ {
		if i > 1_000_000 {
			tb.Fatal("condition never met")
		}
		runtimeGosched()
	}
}

func TestAutoPicksByBatchSize(t *testing.T) {
	var fs atomic.Int64
	c := open(t, commit.Config{Mode: commit.Auto, Depth: 1, SyncFS: func() error { fs.Add(1); return nil }})
	one := &fakeDB{}
	errc := make(chan error, 100)
	c.Flush(one, func(err error) { errc <- err })
	<-errc
	if one.syncs.Load() != 1 || fs.Load() != 0 {
		t.Fatalf("one database: %d file syncs, %d syncfs", one.syncs.Load(), fs.Load())
	}
	// Many databases in one batch: hold the loop with a slow first barrier.
	slow := &fakeDB{gate: make(chan struct{})}
	c.Flush(slow, func(err error) { errc <- err })
	retry(t, func() bool { return slow.syncs.Load() == 1 })
	many := make([]*fakeDB, 20)
	for i := range many {
		many[i] = &fakeDB{}
		c.Flush(many[i], func(err error) { errc <- err })
	}
	close(slow.gate)
	for range 21 {
		<-errc
	}
	if fs.Load() != 1 || many[0].syncs.Load() != 0 {
		t.Fatalf("20 databases: %d syncfs, %d file syncs of the first", fs.Load(), many[0].syncs.Load())
	}
}

func TestOverlappingBarriersReleaseInOrder(t *testing.T) {
	c := open(t, commit.Config{Mode: commit.FDataSync, Depth: 2})
	slow := &fakeDB{gate: make(chan struct{})}
	fast := &fakeDB{}
	got := make(chan string, 2)
	c.Flush(slow, func(error) { got <- "slow" })
	retry(t, func() bool { return slow.syncs.Load() == 1 })
	c.Flush(fast, func(error) { got <- "fast" })
	retry(t, func() bool { return fast.syncs.Load() == 1 }) // the second barrier synced
	select {
	case s := <-got:
		t.Fatalf("%s released while the first barrier was still in flight", s)
	case <-time.After(50 * time.Millisecond):
	}
	close(slow.gate)
	if a, b := <-got, <-got; a != "slow" || b != "fast" {
		t.Fatalf("released %s then %s", a, b)
	}
}

func TestFailureSticksAcrossOverlappingBarriers(t *testing.T) {
	c := open(t, commit.Config{Mode: commit.FDataSync, Depth: 2})
	gate := make(chan struct{})
	db := &fakeDB{errFor: func(n int64) error {
		if n == 1 {
			<-gate
			return errors.New("EIO")
		}
		return nil // a later fsync "succeeds", but proves nothing
	}}
	errs := make(chan error, 2)
	c.Flush(db, func(err error) { errs <- err })
	retry(t, func() bool { return db.syncs.Load() == 1 })
	c.Flush(db, func(err error) { errs <- err })
	retry(t, func() bool { return db.syncs.Load() == 2 }) // the overlapping barrier synced
	close(gate)
	for i := range 2 {
		if err := <-errs; err == nil || err.Error() != "EIO" {
			t.Fatalf("flush %d: %v, want EIO", i+1, err)
		}
	}
}

// markedDB is a fakeDB that tracks which writes barriers made durable.
type markedDB struct {
	fakeDB
	token  atomic.Uint64
	synced atomic.Uint64
}

func (d *markedDB) SyncToken() uint64   { return d.token.Load() }
func (d *markedDB) Synced(token uint64) { d.synced.Store(token) }

// A barrier tells a database which of its writes it made durable (the
// token of its flush), in syncfs mode where the database's own Sync never
// runs, and only when the barrier succeeded.
func TestBarrierReportsWhatItMadeDurable(t *testing.T) {
	var fail atomic.Bool
	c := open(t, commit.Config{Mode: commit.Syncfs, SyncFS: func() error {
		if fail.Load() {
			return errors.New("injected syncfs failure")
		}
		return nil
	}})
	db := &markedDB{}
	db.token.Store(7)
	done := make(chan error, 1)
	c.Flush(db, func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := db.synced.Load(); got != 7 {
		t.Fatalf("Synced(%d), want 7", got)
	}
	fail.Store(true)
	db2 := &markedDB{}
	db2.token.Store(9)
	c.Flush(db2, func(err error) { done <- err })
	if err := <-done; err == nil {
		t.Fatal("the injected failure was not reported")
	}
	if got := db2.synced.Load(); got != 0 {
		t.Fatalf("a failed barrier reported Synced(%d)", got)
	}
}

// allMarkedDB is a markedDB that also wants to know of whole-filesystem
// syncs.
type allMarkedDB struct {
	markedDB
	all atomic.Uint64
}

func (d *allMarkedDB) SyncedAll(token uint64) { d.all.Store(token) }

// A syncfs barrier tells a database that asks that it synced everything
// (sqlite.DB then knows its files' names are durable); an fdatasync
// barrier reports only the writes.
func TestSyncfsBarrierReportsTheWholeFilesystem(t *testing.T) {
	for _, mode := range []commit.Mode{commit.Syncfs, commit.FDataSync} {
		c := open(t, commit.Config{Mode: mode, SyncFS: func() error { return nil }})
		db := &allMarkedDB{}
		db.token.Store(5)
		done := make(chan error, 1)
		c.Flush(db, func(err error) { done <- err })
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		all, synced := db.all.Load(), db.synced.Load()
		switch {
		case mode == commit.Syncfs && (all != 5 || synced != 0):
			t.Errorf("%s: SyncedAll(%d), Synced(%d); want SyncedAll(5) only", mode, all, synced)
		case mode == commit.FDataSync && (all != 0 || synced != 5):
			t.Errorf("%s: SyncedAll(%d), Synced(%d); want Synced(5) only", mode, all, synced)
		}
	}
}

// Later calls back once the barriers in flight have ended, after their
// callbacks, and refuses when none is in flight.
func TestLaterCallsBackWhenTheBarrierEnds(t *testing.T) {
	c := open(t, commit.Config{Mode: commit.FDataSync})
	if c.Later(func() { t.Error("called with no barrier in flight") }) {
		t.Fatal("Later accepted with no barrier in flight")
	}
	db := &fakeDB{gate: make(chan struct{})}
	order := make(chan string, 3)
	c.Flush(db, func(error) { order <- "released" })
	retry(t, func() bool { return db.syncs.Load() == 1 }) // the barrier is in flight
	if !c.Later(func() { order <- "later" }) {
		t.Fatal("Later refused while a barrier is in flight")
	}
	select {
	case s := <-order:
		t.Fatalf("%s before the barrier ended", s)
	default:
	}
	close(db.gate)
	if a, b := <-order, <-order; a != "released" || b != "later" {
		t.Fatalf("order %s, %s; want released, later", a, b)
	}
	retry(t, func() bool {
		return !c.Later(func() { t.Error("called with no barrier in flight") })
	})
}
