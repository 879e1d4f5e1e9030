package alarm_test

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/den-run/den/alarm"
)

// scaleEntries returns a Scan that adds n alarms for distinct objects, due
// from first on, spread over spread. The IDs are not real ones (they fail
// the MAC check), and come in ascending order, as sqlite.Store.ScanAlarms
// walks the objects' directories; due times come in random order.
func scaleEntries(n int, first time.Time, spread time.Duration) func(context.Context, func(alarm.Entry) error) error {
	return func(ctx context.Context, add func(alarm.Entry) error) error {
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range n {
			e := alarm.Entry{Class: class, At: first.Add(time.Duration(rng.Int64N(int64(spread))))}
			binary.BigEndian.PutUint64(e.ID[:], 1<<63|uint64(i))
			if err := add(e); err != nil {
				return err
			}
		}
		return nil
	}
}

// dueObjects adds due alarms, spread over one second from first, for
// objects that exist in objs (real IDs), both to the index and to objs.
func dueObjects(objs *objects, n int, first time.Time) func(context.Context, func(alarm.Entry) error) error {
	return func(ctx context.Context, add func(alarm.Entry) error) error {
		for i := range n {
			id := objs.ns.IDFromName(strconv.Itoa(i))
			at := first.Add(time.Duration(i) * (time.Second / time.Duration(n)))
			objs.records[id.Bytes()] = at
			if err := add(alarm.Entry{Class: class, ID: id.Bytes(), At: at}); err != nil {
				return err
			}
		}
		return nil
	}
}

// memory returns the Go heap in use and the process's resident set, after
// a collection.
func memory() (heap, rss uint64) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	b, _ := os.ReadFile("/proc/self/status")
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			rss = kb << 10
		}
	}
	return m.HeapAlloc, rss
}

// BenchmarkMillionAlarms builds an index of 1,010,000 alarms in one
// transaction (the rebuild path), opens a runner on it and reports what they
// cost in memory: the runner keeps one timer and Workers+1 goroutines
// whatever the number of rows. Then 10,000 of them fall due within one
// second and are delivered to fake objects (each delivery takes 1 ms), which
// measures the runner and the index alone; serve's
// BenchmarkTenThousandAlarmsDue measures real objects.
//
// DEN_BENCH_ALARMS sets a smaller number of future alarms, to profile.
func BenchmarkMillionAlarms(b *testing.B) {
	const due = 10_000
	total := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("DEN_BENCH_ALARMS")); err == nil && v > 0 {
		total = v
	}
	for range b.N {
		dir := b.TempDir()
		objs := newObjects(b, nil)
		// The first 10,000 fall due within one second, an hour from now;
		// the rest are spread over the day after.
		first := time.Now().Add(time.Hour)
		heap0, rss0 := memory()
		start := time.Now()
		idx := mustOpenIndex(b, dir, alarm.IndexConfig{Scan: func(ctx context.Context, add func(alarm.Entry) error) error {
			if err := dueObjects(objs, due, first)(ctx, add); err != nil {
				return err
			}
			return scaleEntries(total, first.Add(time.Hour), 24*time.Hour)(ctx, add)
		}})
		build := time.Since(start)
		objs.idx = idx
		if n, err := idx.Len(); err != nil || n != total+due {
			b.Fatalf("index holds %d rows (%v), want %d", n, err, total+due)
		}
		fi, err := os.Stat(filepath.Join(dir, "alarms.sqlite"))
		if err != nil {
			b.Fatal(err)
		}

		// A clock 2 s before the first alarm: the runner waits on one timer.
		offset := first.Add(-2 * time.Second).Sub(time.Now())
		clock := func() time.Time { return time.Now().Add(offset) }
		objs.now = clock
		goroutines := runtime.NumGoroutine()
		r := mustOpenRunner(b, idx, objs, alarm.Config{Now: clock})
		time.Sleep(100 * time.Millisecond)
		heap1, rss1 := memory()
		extra := runtime.NumGoroutine() - goroutines

		begin := time.Now()
		for r.Stats().Delivered < due {
			if time.Since(begin) > time.Minute {
				b.Fatalf("only %d of %d delivered after a minute", r.Stats().Delivered, due)
			}
			time.Sleep(time.Millisecond)
		}
		took := time.Since(begin) - 1900*time.Millisecond // the first falls due 1.9 s in
		mib := func(n uint64, m uint64) float64 { return float64(int64(n)-int64(m)) / (1 << 20) }
		b.ReportMetric(build.Seconds(), "build-s")
		b.ReportMetric(float64(fi.Size())/(1<<20), "index-MiB")
		b.ReportMetric(mib(heap1, heap0), "heap-MiB")
		b.ReportMetric(mib(rss1, rss0), "rss-MiB")
		b.ReportMetric(float64(extra), "goroutines")
		b.ReportMetric(took.Seconds(), "10k-due-s")
		b.Logf("%d alarms: built in %v, index %.0f MiB; a runner idle on them: %+d goroutines, Go heap %+.1f MiB, RSS %+.1f MiB (from before the build); 10,000 due within one second: the last delivered %v after the first fell due",
			total+due, build.Round(time.Millisecond), float64(fi.Size())/(1<<20), extra, mib(heap1, heap0), mib(rss1, rss0), took.Round(time.Millisecond))
		if s := r.Stats(); s.Delivered != due || s.Skipped != 0 || s.Failed != 0 {
			b.Fatalf("stats %+v", s)
		}
	}
}

// TestManyAlarmsFewResources is the quick form of BenchmarkMillionAlarms:
// with 5,500 alarms scheduled the runner uses Workers+1 goroutines, and the
// 500 due at once are all delivered, each once.
func TestManyAlarmsFewResources(t *testing.T) {
	const total, due = 5_000, 500
	objs := newObjects(t, nil)
	first := time.Now().Add(time.Hour)
	idx := mustOpenIndex(t, t.TempDir(), alarm.IndexConfig{Scan: func(ctx context.Context, add func(alarm.Entry) error) error {
		if err := dueObjects(objs, due, first)(ctx, add); err != nil {
			return err
		}
		return scaleEntries(total, first.Add(time.Hour), time.Hour)(ctx, add)
	}})
	objs.idx = idx
	offset := first.Add(time.Second).Sub(time.Now())
	clock := func() time.Time { return time.Now().Add(offset) }
	objs.now = clock
	before := runtime.NumGoroutine()
	r := mustOpenRunner(t, idx, objs, alarm.Config{Now: clock, Workers: 16})
	if extra := runtime.NumGoroutine() - before; extra > 16+1 {
		t.Fatalf("the runner uses %d goroutines with 16 workers", extra)
	}
	deadline := time.Now().Add(30 * time.Second)
	for n, _ := idx.Len(); n > total; n, _ = idx.Len() {
		if time.Now().After(deadline) {
			t.Fatalf("%d rows left after 30 s, want the %d not due", n, total)
		}
		time.Sleep(time.Millisecond)
	}
	if s := r.Stats(); s.Delivered != due || s.Skipped != 0 {
		t.Fatalf("stats %+v", s)
	}
}
