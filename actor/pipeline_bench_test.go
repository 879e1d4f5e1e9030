package actor_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/den-run/den"
	"github.com/den-run/den/actor"
	"github.com/den-run/den/commit"
	"github.com/den-run/den/sqlite"
)

// BenchmarkHotObjectGroupCommit is many callers writing to one object
// through the shared durability barrier: the output gate lets the object run
// its next turns while earlier replies wait, so one fsync covers many turns.
func BenchmarkHotObjectGroupCommit(b *testing.B) {
	for _, depth := range []int{1, 2} {
		b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) { benchHotObject(b, depth) })
	}
}

// benchHotObject is BenchmarkHotObjectGroupCommit with depth barriers in
// flight at once.
func benchHotObject(b *testing.B, depth int) {
	dir := b.TempDir()
	c := commit.New(commit.Config{Dir: dir, Depth: depth})
	if err := c.Open(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() }) // after the host's Close: cleanups run last-first
	w := newWorld(b, actor.Config{Store: sqlite.NewStore(dir), Committer: c})
	stub := w.ns.GetByName("hot")
	ctx := context.Background()
	b.SetParallelism(8) // 16 callers on 2 cores
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := den.Call[int](ctx, stub, "Add", 1); err != nil {
				b.Error(err)
				return
			}
		}
	})
	s := c.Stats()
	b.ReportMetric(float64(s.Flushes)/float64(max(s.Barriers, 1)), "turns/barrier")
	b.ReportMetric(float64(s.Busy.Microseconds())/float64(max(s.Barriers, 1)), "µs/barrier")
}
