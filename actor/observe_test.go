package actor_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/actor"
)

// recorder is a den.Observer that keeps what it is told.
type recorder struct {
	mu    sync.Mutex
	turns []den.TurnStats
	idle  []time.Duration
	left  []leftReport
}

type leftReport struct {
	bytes  int64
	stored bool
}

func (r *recorder) Turn(s den.TurnStats)                                  { r.mu.Lock(); r.turns = append(r.turns, s); r.mu.Unlock() }
func (r *recorder) Refused(*den.Namespace, den.ID, den.EventKind, string) {}
func (r *recorder) Idle(_ *den.Namespace, _ den.ID, busy time.Duration) {
	r.mu.Lock()
	r.idle = append(r.idle, busy)
	r.mu.Unlock()
}
func (r *recorder) Left(_ *den.Namespace, _ den.ID, bytes int64, stored bool) {
	r.mu.Lock()
	r.left = append(r.left, leftReport{bytes, stored})
	r.mu.Unlock()
}

func (r *recorder) snapshot() ([]den.TurnStats, []time.Duration, []leftReport) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]den.TurnStats(nil), r.turns...), append([]time.Duration(nil), r.idle...), append([]leftReport(nil), r.left...)
}

func TestObserverSeesTurnsRowsAndEviction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		w := newWorld(t, actor.Config{IdleTimeout: 10 * time.Second, Observer: rec})
		call[int](t, w, "obs", "Add", 1)
		call[int](t, w, "obs", "Add", 1)
		synctest.Wait()
		turns, _, _ := rec.snapshot()
		if len(turns) != 2 {
			t.Fatalf("%d turns observed, want 2", len(turns))
		}
		first, second := turns[0], turns[1]
		if first.Kind != den.EventCall || first.ID.Name() != "obs" || first.Namespace != w.ns {
			t.Errorf("first turn %+v", first)
		}
		if !first.Activated || second.Activated {
			t.Errorf("activated: %v, %v; want the first turn only", first.Activated, second.Activated)
		}
		if first.RowsRead != 1 || first.RowsWritten != 1 || !first.Wrote || first.Code != "" {
			t.Errorf("first turn: rows %d/%d, wrote %v, code %q", first.RowsRead, first.RowsWritten, first.Wrote, first.Code)
		}
		if first.Bytes <= 0 || second.Bytes != -1 {
			t.Errorf("sizes sampled %d, %d; want the first only (at most one sample a second)", first.Bytes, second.Bytes)
		}
		time.Sleep(15 * time.Second)
		synctest.Wait()
		_, _, left := rec.snapshot()
		if len(left) != 1 || !left[0].stored || left[0].bytes <= 0 {
			t.Errorf("left = %+v, want one report of a stored object with its size", left)
		}
	})
}

func TestObserverBillsWaitUntilButNotIdleTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		w := newWorld(t, actor.Config{IdleTimeout: 10 * time.Second, Observer: rec})
		call[any](t, w, "l", "Linger")
		time.Sleep(time.Minute) // WaitUntil work keeps it busy: billed
		close(w.gate)
		synctest.Wait()
		_, idle, _ := rec.snapshot()
		if len(idle) != 1 || idle[0] != time.Minute {
			t.Fatalf("idle reports %v, want one of 1m0s (the WaitUntil work)", idle)
		}
		time.Sleep(20 * time.Second) // idle until evicted: not billed
		synctest.Wait()
		turns, idle, left := rec.snapshot()
		var busy time.Duration
		for _, s := range turns {
			busy += s.Busy
		}
		for _, d := range idle {
			busy += d
		}
		if busy != time.Minute {
			t.Errorf("billed %v, want 1m0s", busy)
		}
		if len(left) != 1 || left[0].stored {
			t.Errorf("left = %+v: an object that stored nothing leaves no database", left)
		}
	})
}

func TestObserverCountsSQLRows(t *testing.T) {
	rec := &recorder{}
	w := newWorld(t, actor.Config{Observer: rec})
	id := w.ns.IDFromName("sql")
	_, err := w.host.Run(context.Background(), w.ns, id, true, func(ctx context.Context, obj any, st den.State) ([]byte, error) {
		if _, err := st.Storage().SQL().Exec("CREATE TABLE t (x); INSERT INTO t VALUES (1), (2), (3)"); err != nil {
			return nil, err
		}
		c, err := st.Storage().SQL().Exec("SELECT x FROM t")
		if err != nil {
			return nil, err
		}
		_, err = c.Raw()
		return nil, err
	})
	if err != nil {
		t.Fatal(err)
	}
	turns, _, _ := rec.snapshot()
	if len(turns) != 1 {
		t.Fatalf("%d turns", len(turns))
	}
	if s := turns[0]; s.Kind != den.EventInternal || s.RowsWritten != 3 || s.RowsRead != 3 {
		t.Errorf("turn %v: rows read %d, written %d; want 3 and 3", s.Kind, s.RowsRead, s.RowsWritten)
	}
}

func TestWipeDeletesTheObject(t *testing.T) {
	w := newWorld(t, actor.Config{})
	call[int](t, w, "w", "Add", 5)
	id := w.ns.IDFromName("w")
	if err := w.host.Wipe(context.Background(), w.ns, id, nil); err != nil {
		t.Fatal(err)
	}
	<-w.host.Done("Probe", id)
	if w.host.IsLive("Probe", id) {
		t.Error("a wiped object is still live")
	}
	if got := call[int](t, w, "w", "Count"); got != 0 {
		t.Errorf("count after wipe = %d, want 0", got)
	}
	// A failing also deletes nothing.
	call[int](t, w, "w", "Add", 2)
	err := w.host.Wipe(context.Background(), w.ns, id, func(context.Context) error { return den.Errorf(den.EUNAVAILABLE, "history is busy") })
	if den.ErrorCode(err) != den.EUNAVAILABLE {
		t.Fatalf("wipe with a failing also: %v", err)
	}
	if got := call[int](t, w, "w", "Count"); got != 2 {
		t.Errorf("count after a failed wipe = %d, want 2", got)
	}
}
