package actor_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/actor"
	"github.com/den-run/den/sqlite"
)

func TestIdleObjectsAreEvictedAndComeBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, actor.Config{IdleTimeout: 10 * time.Second})
		call[int](t, w, "idle", "Add", 5)
		if w.host.Live() != 1 {
			t.Fatalf("live = %d", w.host.Live())
		}
		time.Sleep(9 * time.Second)
		synctest.Wait()
		if w.host.Live() != 1 {
			t.Fatal("evicted before the idle timeout")
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if w.host.Live() != 0 {
			t.Fatalf("live = %d after the idle timeout", w.host.Live())
		}
		if got := call[int](t, w, "idle", "Add", 1); got != 6 {
			t.Fatalf("count after eviction = %d, want 6", got)
		}
		if b := w.built.Load(); b != 2 {
			t.Fatalf("constructions = %d, want 2", b)
		}
	})
}

func TestWaitUntilKeepsTheObjectAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, actor.Config{IdleTimeout: time.Second})
		call[any](t, w, "l", "Linger")
		time.Sleep(time.Minute)
		synctest.Wait()
		if w.host.Live() != 1 {
			t.Fatal("evicted while WaitUntil work ran")
		}
		close(w.gate)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if w.host.Live() != 0 {
			t.Fatal("not evicted after WaitUntil work ended")
		}
	})
}

func TestLiveObjectCap(t *testing.T) {
	w := newWorld(t, actor.Config{MaxLive: 3})
	for i := range 10 {
		call[int](t, w, string(rune('a'+i)), "Add", 1)
	}
	retryUntil(t, func() bool { return w.host.Live() <= 3 })
	// The most recent object stayed; the first was evicted and comes back.
	if call[int](t, w, "j", "Memory") != 1 {
		t.Fatal("most recently used object was evicted")
	}
	if call[int](t, w, "a", "Memory") != 0 || call[int](t, w, "a", "Count") != 1 {
		t.Fatal("least recently used object was not evicted, or lost its data")
	}
}

// Objects used in turn over a set a little larger than the live cap: a
// strict LRU would evict exactly the object used next, so every call would
// activate one. The sampled eviction keeps most of them live.
func TestLiveCapSurvivesALoop(t *testing.T) {
	const live, objects, passes = 60, 66, 5
	w := newWorld(t, actor.Config{MaxLive: live})
	name := func(i int) string { return fmt.Sprintf("o%03d", i) }
	for i := range objects {
		call[int](t, w, name(i), "Add", 1)
	}
	first := w.built.Load()
	for range passes - 1 {
		for i := range objects {
			call[int](t, w, name(i), "Add", 1)
		}
	}
	calls := int64((passes - 1) * objects)
	again := w.built.Load() - first
	t.Logf("%d of %d calls activated their object again", again, calls)
	// A sampled LRU activated about 44% again here (evict.go).
	if again > calls/3 {
		t.Fatalf("%d of %d calls over a set 10%% larger than the cap activated their object again, want at most a third", again, calls)
	}
	if n := call[int](t, w, name(0), "Count"); n != passes {
		t.Fatalf("count %d, want %d", n, passes)
	}
}

// Objects used once each, mixed into the use of a hot set that fits
// under the cap, leave before the hot objects do (evict.go).
func TestLiveCapKeepsAHotSetThroughOneOffs(t *testing.T) {
	const live, hot, warm, rounds = 50, 30, 3, 8
	w := newWorld(t, actor.Config{MaxLive: live})
	var before int64
	for r := range rounds {
		if r == warm {
			before = w.built.Load()
		}
		for i := range hot {
			call[int](t, w, fmt.Sprintf("hot%02d", i), "Add", 1)
		}
		for i := range hot {
			call[int](t, w, fmt.Sprintf("once%d-%02d", r, i), "Add", 1)
		}
	}
	// After the first rounds, each round builds its one-offs; anything
	// more is a hot object activated again.
	calls := int64((rounds - warm) * hot)
	again := w.built.Load() - before - calls
	t.Logf("after %d rounds, the hot objects were activated again %d times in %d calls", warm, again, calls)
	// A sampled LRU activated them again about half the time.
	if again > calls/3 {
		t.Fatalf("after %d rounds, the hot objects were activated again %d times in %d calls", warm, again, calls)
	}
}

func TestBlockConcurrencyWhile(t *testing.T) {
	w := newWorld(t, actor.Config{})
	ctx := context.Background()
	call[int](t, w, "b", "Add", 1)
	if _, err := w.ns.GetByName("b").Call(ctx, "Block", false); err != nil {
		t.Fatal(err)
	}
	if call[int](t, w, "b", "Memory") != 1 {
		t.Fatal("a successful BlockConcurrencyWhile reset the object")
	}
	_, err := w.ns.GetByName("b").Call(ctx, "Block", true)
	if err == nil || !strings.Contains(err.Error(), "migration failed") || !den.IsRemote(err) {
		t.Fatalf("failing callback: %v", err)
	}
	if call[int](t, w, "b", "Memory") != 0 {
		t.Fatal("a failing BlockConcurrencyWhile did not reset the object")
	}
	if _, err := w.ns.GetByName("b").Call(ctx, "Nest", den.MaxBlockDepth); err != nil {
		t.Fatalf("nesting %d deep: %v", den.MaxBlockDepth, err)
	}
	_, err = w.ns.GetByName("b").Call(ctx, "Nest", den.MaxBlockDepth+1)
	if err == nil || !strings.Contains(err.Error(), "blockConcurrencyWhile() calls are nested too deeply.") {
		t.Fatalf("nesting too deep: %v", err)
	}
}

func TestBlockConcurrencyWhileTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, actor.Config{})
		call[int](t, w, "slow", "Add", 1)
		_, err := w.ns.GetByName("slow").Call(context.Background(), "Slow", 31*time.Second)
		if !den.IsOverloaded(err) || !strings.Contains(err.Error(), "waited for too long") {
			t.Fatalf("timeout: %v", err)
		}
		if call[int](t, w, "slow", "Memory") != 0 {
			t.Fatal("object not reset after the timeout")
		}
		if _, err := w.ns.GetByName("slow").Call(context.Background(), "Slow", 29*time.Second); err != nil {
			t.Fatalf("within the timeout: %v", err)
		}
	})
}

func TestCloseDrains(t *testing.T) {
	w := newWorld(t, actor.Config{})
	ctx := context.Background()
	res := make(chan error, 1)
	go func() {
		_, err := den.Call[string](ctx, w.ns.GetByName("d"), "Wait", "d")
		res <- err
	}()
	<-w.gated
	closed := make(chan error, 1)
	go func() { closed <- w.host.Close(ctx) }()
	// New events from outside are refused with a retryable error.
	retryUntil(t, func() bool {
		_, err := w.ns.GetByName("other").Call(ctx, "Count")
		return den.IsRetryable(err)
	})
	select {
	case err := <-closed:
		t.Fatalf("Close returned %v while a turn ran", err)
	default:
	}
	close(w.gate)
	if err := <-res; err != nil {
		t.Fatalf("in-flight turn: %v", err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if w.host.Live() != 0 {
		t.Fatal("objects still live after Close")
	}
	if err := w.host.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// heldCommitter hands every flush to the test, which decides when it is durable.
type heldCommitter struct{ flushes chan func(error) }

func (c heldCommitter) Flush(db den.Database, done func(error)) {
	if err := db.Sync(); err != nil {
		done(err)
		return
	}
	c.flushes <- done
}

func TestRepliesWaitForDurability(t *testing.T) {
	c := heldCommitter{flushes: make(chan func(error), 10)}
	w := newWorld(t, actor.Config{Committer: c})
	ctx := context.Background()
	reply := make(chan error, 1)
	go func() { _, err := den.Call[int](ctx, w.ns.GetByName("g"), "Add", 1); reply <- err }()
	done := <-c.flushes
	select {
	case err := <-reply:
		t.Fatalf("reply released before the write was durable (err %v)", err)
	case <-time.After(100 * time.Millisecond):
	}
	done(nil)
	if err := <-reply; err != nil {
		t.Fatal(err)
	}

	// A failed flush turns the held reply into an error and resets the object.
	go func() { _, err := den.Call[int](ctx, w.ns.GetByName("g"), "Add", 1); reply <- err }()
	(<-c.flushes)(errors.New("injected fsync failure"))
	err := <-reply
	var de *den.Error
	if !errors.As(err, &de) || !de.Reset || !strings.Contains(de.Message, "injected fsync failure") {
		t.Fatalf("failed flush: %#v", err)
	}
	go func() { _, err := den.Call[int](ctx, w.ns.GetByName("g"), "Memory"); reply <- err }()
	if err := <-reply; err != nil {
		t.Fatal(err)
	}
	if b := w.built.Load(); b != 2 {
		t.Fatalf("constructions = %d: the object was not reset", b)
	}
}

func TestOutgoingCallsWaitForDurability(t *testing.T) {
	c := heldCommitter{flushes: make(chan func(error), 10)}
	w := newWorld(t, actor.Config{Committer: c})
	reply := make(chan string, 1)
	go func() {
		r, err := den.Call[string](context.Background(), w.ns.GetByName("src"), "AddAndRelay", "dst")
		if err != nil {
			r = err.Error()
		}
		reply <- r
	}()
	// src's write is committed; its call to dst is held until it is durable.
	done := <-c.flushes
	if w.host.Live() != 1 {
		t.Fatal("the outgoing call left before the write was durable")
	}
	done(nil)
	if r := <-reply; r != "dst" {
		t.Fatalf("reply %q", r)
	}
}

func retryUntil(tb testing.TB, ok func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			tb.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestUnconfirmedWritesDoNotHoldTheReply(t *testing.T) {
	c := heldCommitter{flushes: make(chan func(error), 10)}
	w := newWorld(t, actor.Config{Committer: c})
	got, err := den.Call[int](context.Background(), w.ns.GetByName("u"), "AddUnconfirmed", 3)
	if err != nil || got != 3 {
		t.Fatalf("AddUnconfirmed = %d, %v", got, err)
	}
	// The write is still made durable, after the reply.
	done := <-c.flushes
	// While it is pending, a confirmed reply waits for it.
	reply := make(chan error, 1)
	go func() { _, err := den.Call[int](context.Background(), w.ns.GetByName("u"), "Count"); reply <- err }()
	next := <-c.flushes // the read-only turn queues behind the pending write
	done(nil)
	select {
	case err := <-reply:
		t.Fatalf("reply released before the earlier write was durable (err %v)", err)
	case <-time.After(100 * time.Millisecond):
	}
	next(nil)
	if err := <-reply; err != nil {
		t.Fatal(err)
	}
}

func TestSyncWaitsForDurability(t *testing.T) {
	c := heldCommitter{flushes: make(chan func(error), 10)}
	w := newWorld(t, actor.Config{Committer: c})
	reply := make(chan int, 1)
	go func() {
		v, err := den.Call[int](context.Background(), w.ns.GetByName("s"), "AddSynced", 2)
		if err != nil {
			t.Error(err)
		}
		reply <- v
	}()
	done := <-c.flushes // Sync committed the write and waits inside the turn
	select {
	case v := <-reply:
		t.Fatalf("turn finished (%d) before Sync returned", v)
	case <-time.After(100 * time.Millisecond):
	}
	done(nil)
	if v := <-reply; v != 2 {
		t.Fatalf("AddSynced = %d", v)
	}
}

// openCounter is a den.Store that counts the databases it opens.
type openCounter struct {
	den.Store
	opens atomic.Int32
}

func (s *openCounter) Open(ctx context.Context, class string, id den.ID) (den.Database, error) {
	s.opens.Add(1)
	return s.Store.Open(ctx, class, id)
}

// With StorageIdleTimeout, an idle object's instance leaves at IdleTimeout
// (the next event constructs it again) and its database stays open until
// StorageIdleTimeout.
func TestIdleObjectsRestWithTheirDatabaseOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &openCounter{Store: sqlite.NewStore(t.TempDir())}
		w := newWorld(t, actor.Config{Store: store, IdleTimeout: 10 * time.Second, StorageIdleTimeout: time.Minute})
		call[int](t, w, "r", "Add", 5)
		time.Sleep(15 * time.Second)
		synctest.Wait()
		if got := call[int](t, w, "r", "Add", 1); got != 6 {
			t.Fatalf("count after the instance rested = %d, want 6", got)
		}
		if b, o := w.built.Load(), store.opens.Load(); b != 2 || o != 1 {
			t.Fatalf("after resting: %d constructions, %d opens; want 2 and 1", b, o)
		}
		time.Sleep(15 * time.Second) // rests again
		synctest.Wait()
		if l, r := w.host.Live(), w.host.Resting(); l != 0 || r != 1 {
			t.Fatalf("resting: live %d, resting %d; want 0 and 1", l, r)
		}
		if w.host.IsLive("Probe", w.ns.IDFromName("r")) {
			t.Error("IsLive reports a resting object")
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if l, r := w.host.Live(), w.host.Resting(); l != 0 || r != 0 {
			t.Fatalf("after StorageIdleTimeout: live %d, resting %d", l, r)
		}
		if got := call[int](t, w, "r", "Add", 1); got != 7 {
			t.Fatalf("count after eviction = %d, want 7", got)
		}
		if b, o := w.built.Load(), store.opens.Load(); b != 3 || o != 2 {
			t.Fatalf("after eviction: %d constructions, %d opens; want 3 and 2", b, o)
		}
	})
}
