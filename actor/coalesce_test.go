package actor_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/actor"
	"github.com/den-run/den/commit"
	"github.com/den-run/den/sqlite"
)

// commitCounter is a den.Store whose databases count their commits and can
// be told to fail them.
type commitCounter struct {
	den.Store
	commits atomic.Int32
	begins  atomic.Int32
	fail    atomic.Bool
}

func (s *commitCounter) Open(ctx context.Context, class string, id den.ID) (den.Database, error) {
	db, err := s.Store.Open(ctx, class, id)
	if err != nil {
		return nil, err
	}
	return &countedDB{DB: db.(*sqlite.DB), s: s}, nil
}

type countedDB struct {
	*sqlite.DB
	s *commitCounter
}

func (d *countedDB) Begin() error {
	d.s.begins.Add(1)
	return d.DB.Begin()
}

func (d *countedDB) Commit() (bool, error) {
	d.s.commits.Add(1)
	if d.s.fail.Load() {
		return false, den.Errorf(den.EINTERNAL, "injected commit failure")
	}
	return d.DB.Commit()
}

// queueBehindWait starts a Wait turn on object name, then queues the calls
// one by one behind it, so that they run in that order once the gate opens.
// It returns the channel each call's result arrives on, in order.
func queueBehindWait(t *testing.T, w *world, name string, calls ...func() (int, error)) []chan callResult {
	t.Helper()
	go den.Call[string](context.Background(), w.ns.GetByName(name), "Wait", name)
	<-w.gated
	out := make([]chan callResult, len(calls))
	for i, call := range calls {
		out[i] = make(chan callResult, 1)
		go func() { v, err := call(); out[i] <- callResult{v, err} }()
		retryUntil(t, func() bool { return w.host.Queued() == i+2 })
	}
	return out
}

type callResult struct {
	v   int
	err error
}

// Events queued behind a turn run as turns of one transaction: one COMMIT,
// each reply released after it, in order, and a turn that fails in between
// loses only its own writes.
func TestQueuedTurnsCommitTogether(t *testing.T) {
	store := &commitCounter{Store: sqlite.NewStore(t.TempDir())}
	c := heldCommitter{flushes: make(chan func(error), 100)}
	obs := &recorder{}
	w := newWorld(t, actor.Config{Store: store, Committer: c, Observer: obs})
	stub := w.ns.GetByName("q")
	ctx := context.Background()
	add := func() (int, error) { return den.Call[int](ctx, stub, "Add", 1) }
	fail := func() (int, error) { _, err := den.Call[struct{}](ctx, stub, "AddThenFail", 100); return 0, err }
	results := queueBehindWait(t, w, "q", add, add, fail, add, add)
	close(w.gate)

	// The failed turn answers at once; the others wait for durability.
	if r := <-results[2]; r.err == nil || !strings.Contains(r.err.Error(), "refused on purpose") {
		t.Fatalf("AddThenFail: %v", r.err)
	}
	dones := make([]func(error), 0, 4)
	for len(dones) < 4 { // the four Adds (Wait wrote nothing)
		select {
		case done := <-c.flushes:
			dones = append(dones, done)
		case <-time.After(10 * time.Second):
			t.Fatalf("%d flushes, want 4", len(dones))
		}
	}
	if n := store.commits.Load(); n != 1 {
		t.Errorf("commits = %d for six queued turns, want 1", n)
	}
	for _, r := range results {
		select {
		case res := <-r:
			if r != results[2] {
				t.Fatalf("a reply left before its write was durable: %+v", res)
			}
		default:
		}
	}
	for _, done := range dones {
		done(nil)
	}
	for i, want := range []int{1, 2, 0, 3, 4} {
		if i == 2 {
			continue
		}
		if r := <-results[i]; r.err != nil || r.v != want {
			t.Errorf("Add #%d = %d, %v; want %d", i, r.v, r.err, want)
		}
	}
	// The observer hears which turns were held: all that succeeded but the
	// last, which committed them.
	turns, _, _ := obs.snapshot()
	var held []bool
	for _, s := range turns {
		held = append(held, s.Held)
	}
	if fmt.Sprint(held) != "[true true true false true false]" {
		t.Errorf("turns held = %v, want [true true true false true false] (Wait, Add, Add, AddThenFail, Add, Add)", held)
	}
}

// When the commit of held turns fails, every one of them fails, with a
// reset, and none of their writes stays.
func TestFailedCommitFailsEveryHeldTurn(t *testing.T) {
	store := &commitCounter{Store: sqlite.NewStore(t.TempDir())}
	w := newWorld(t, actor.Config{Store: store})
	stub := w.ns.GetByName("f")
	ctx := context.Background()
	add := func() (int, error) { return den.Call[int](ctx, stub, "Add", 1) }
	results := queueBehindWait(t, w, "f", add, add, add)
	store.fail.Store(true)
	close(w.gate)
	for i, r := range results {
		res := <-r
		var de *den.Error
		if !errors.As(res.err, &de) || !de.Reset || !de.Retryable {
			t.Errorf("Add #%d after a failed commit: %d, %#v; want a reset", i, res.v, res.err)
		}
	}
	store.fail.Store(false)
	if got := call[int](t, w, "f", "Count"); got != 0 {
		t.Errorf("count = %d after the failed commit, want 0", got)
	}
}

// Held writes are committed even when the event they waited for never runs
// a turn (its caller gave up while it was queued).
func TestHeldTurnsCommitWhenTheNextEventIsCancelled(t *testing.T) {
	w := newWorld(t, actor.Config{})
	stub := w.ns.GetByName("c")
	ctx := context.Background()
	gone, cancel := context.WithCancel(ctx)
	add := func() (int, error) { return den.Call[int](ctx, stub, "Add", 1) }
	abandoned := func() (int, error) { return den.Call[int](gone, stub, "Add", 10) }
	results := queueBehindWait(t, w, "c", add, abandoned)
	cancel()
	if r := <-results[1]; !errors.Is(r.err, context.Canceled) && !strings.Contains(fmt.Sprint(r.err), "cancel") {
		t.Fatalf("cancelled call: %v", r.err)
	}
	close(w.gate)
	select {
	case r := <-results[0]:
		if r.err != nil || r.v != 1 {
			t.Fatalf("Add = %d, %v", r.v, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the held turn's reply never came")
	}
	if got := call[int](t, w, "c", "Count"); got != 1 {
		t.Errorf("count = %d, want 1", got)
	}
}

// A turn that ends while the object's earlier write waits in a running
// barrier holds its writes until that barrier ends, even with nothing
// queued behind it: committed at once, they could only join the next one.
func TestTurnsHoldTheirWritesWhileABarrierRuns(t *testing.T) {
	block := make(chan struct{})
	blocked := make(chan struct{}, 10)
	syncFile := func(path string) error {
		if strings.HasSuffix(path, "-wal") {
			blocked <- struct{}{}
			<-block
		}
		return fsyncPath(path)
	}
	dir := t.TempDir()
	c := commit.New(commit.Config{Mode: commit.FDataSync})
	if err := c.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	store := &commitCounter{Store: sqlite.NewStoreWithOptions(dir, sqlite.Options{SyncFile: syncFile})}
	w := newWorld(t, actor.Config{Store: store, Committer: c})
	stub := w.ns.GetByName("b")
	ctx := context.Background()
	first, second := make(chan callResult, 1), make(chan callResult, 1)
	go func() { v, err := den.Call[int](ctx, stub, "Add", 1); first <- callResult{v, err} }()
	<-blocked // the first write's barrier is running
	go func() { v, err := den.Call[int](ctx, stub, "Add", 1); second <- callResult{v, err} }()
	retryUntil(t, func() bool { return store.begins.Load() == 2 && w.host.Queued() == 0 }) // the second turn ran
	if n := store.commits.Load(); n != 1 {
		t.Errorf("commits = %d while the first barrier runs, want 1 (the second turn held)", n)
	}
	close(block)
	for i, ch := range []chan callResult{first, second} {
		if r := <-ch; r.err != nil || r.v != i+1 {
			t.Errorf("Add #%d = %d, %v", i+1, r.v, r.err)
		}
	}
	if n := store.commits.Load(); n != 2 {
		t.Errorf("commits = %d, want 2", n)
	}
}

// fsyncPath fsyncs the file at path, if it exists.
func fsyncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	return f.Sync()
}
