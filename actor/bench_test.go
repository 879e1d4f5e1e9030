package actor_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/den-run/den"
	"github.com/den-run/den/actor"
	"github.com/den-run/den/sqlite"
)

// BenchmarkCallWarm is one RPC turn on a live object through a stub: a KV
// read and write, a commit and an fsync.
func BenchmarkCallWarm(b *testing.B) {
	w := newWorld(b, actor.Config{})
	stub := w.ns.GetByName("warm")
	ctx := context.Background()
	call[int](b, w, "warm", "Add", 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := den.Call[int](ctx, stub, "Add", 1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCallWarmReadOnly is a turn that writes nothing, so no fsync:
// the cost of the turn machinery and the JSON round trip.
func BenchmarkCallWarmReadOnly(b *testing.B) {
	w := newWorld(b, actor.Config{})
	stub := w.ns.GetByName("warm")
	ctx := context.Background()
	call[int](b, w, "warm", "Add", 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := den.Call[int](ctx, stub, "Count"); err != nil {
			b.Fatal(err)
		}
	}
}

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
