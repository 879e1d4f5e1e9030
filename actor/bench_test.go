package actor_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/actor"
	"github.com/den-run/den/metrics"
	"github.com/den-run/den/sqlite"
	"github.com/den-run/den/usage"
)

// BenchmarkCallWarm is one RPC turn on a live object through a stub: a KV
// read and write, a commit and an fsync.
func BenchmarkCallWarm(b *testing.B) { benchWarmCall(b, actor.Config{}, "Add", 1) }

// BenchmarkCallWarmReadOnly is a turn that writes nothing, so no fsync:
// the cost of the turn machinery and the JSON round trip.
func BenchmarkCallWarmReadOnly(b *testing.B) { benchWarmCall(b, actor.Config{}, "Count") }

// BenchmarkFetchWarm is one HTTP event through a stub (no network).
func BenchmarkFetchWarm(b *testing.B) {
	w := newWorld(b, actor.Config{})
	stub := w.ns.GetByName("warm")
	req, _ := http.NewRequest("GET", "http://do/", nil)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := stub.Fetch(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
}

// BenchmarkActivate reaches objects that exist on disk but are not in
// memory: open the database, construct, run a read-only turn.
func BenchmarkActivate(b *testing.B) {
	dir := b.TempDir()
	const n = 256
	w := newWorld(b, actor.Config{Store: sqlite.NewStore(dir), MaxLive: 1})
	for i := range n {
		call[int](b, w, fmt.Sprint(i), "Add", 1)
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// MaxLive 1: every call evicts the previous object, so each one
		// activates from disk.
		if _, err := den.Call[int](ctx, w.ns.GetByName(fmt.Sprint(i%n)), "Count"); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkCallWarmObserved is BenchmarkCallWarm with the node's observers
// (Prometheus metrics and the usage meter) told of every turn, as serve
// runs it: the cost of metering on the turn path.
func BenchmarkCallWarmObserved(b *testing.B) { benchWarmCall(b, observed(b), "Add", 1) }

// BenchmarkCallWarmReadOnlyObserved is BenchmarkCallWarmReadOnly with the
// observers.
func BenchmarkCallWarmReadOnlyObserved(b *testing.B) { benchWarmCall(b, observed(b), "Count") }

// benchWarmCall calls method on one live object through a stub, b.N times.
func benchWarmCall(b *testing.B, cfg actor.Config, method string, args ...any) {
	w := newWorld(b, cfg)
	stub := w.ns.GetByName("warm")
	ctx := context.Background()
	call[int](b, w, "warm", "Add", 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := den.Call[int](ctx, stub, method, args...); err != nil {
			b.Fatal(err)
		}
	}
}

// observed returns a Config whose Observer is the node's: Prometheus
// metrics and the usage meter, as serve runs them.
func observed(b *testing.B) actor.Config {
	m := usage.New(usage.Config{Path: filepath.Join(b.TempDir(), "usage.sqlite")})
	if err := m.Open(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	return actor.Config{Observer: both{metrics.New(metrics.Sources{}), m}}
}

// both tells two observers.
type both [2]den.Observer

func (o both) Turn(s den.TurnStats) { o[0].Turn(s); o[1].Turn(s) }
func (o both) Refused(ns *den.Namespace, id den.ID, k den.EventKind, code string) {
	o[0].Refused(ns, id, k, code)
	o[1].Refused(ns, id, k, code)
}
func (o both) Idle(ns *den.Namespace, id den.ID, d time.Duration) {
	o[0].Idle(ns, id, d)
	o[1].Idle(ns, id, d)
}
func (o both) Left(ns *den.Namespace, id den.ID, n int64, stored bool) {
	o[0].Left(ns, id, n, stored)
	o[1].Left(ns, id, n, stored)
}
