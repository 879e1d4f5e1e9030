package serve_test

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/alarm"
)

// dueAtOnce sets an alarm due now on n objects, restarts the node so that
// every object is out of memory, and returns the restarted node with the
// time its runner opened. The alarms all fell due before the restart, so
// they are all due at once: harder than "in the same second".
func dueAtOnce(tb testing.TB, n, workers, maxLive int) (*node, *runLog, time.Time) {
	tb.Helper()
	dir, log := setAlarmsDue(tb, n, maxLive)
	opened := time.Now()
	return openNodeWith(tb, dir, log, alarm.Config{Workers: workers}, time.Hour, maxLive), log, opened
}

// setAlarmsDue sets an alarm due now on n objects, with no runner to deliver
// them, and closes the node.
func setAlarmsDue(tb testing.TB, n, maxLive int) (string, *runLog) {
	tb.Helper()
	dir := tb.TempDir()
	log := newRunLog()
	// Objects are not evicted for being idle, only beyond maxLive.
	setup := openNodeWith(tb, dir, log, alarm.Config{Workers: -1}, time.Hour, maxLive) // deliver nothing yet
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				if err := setup.call(tb, strconv.FormatInt(i, 10), "Schedule", time.Now().UnixMilli()); err != nil {
					tb.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	setup.close(tb)
	if tb.Failed() {
		tb.FailNow()
	}
	return dir, log
}

// waitDelivered waits until n alarms were delivered and returns how long
// that took from start.
func waitDelivered(tb testing.TB, nd *node, n int, start time.Time, limit time.Duration) time.Duration {
	tb.Helper()
	for nd.runner.Stats().Delivered < uint64(n) {
		if time.Since(start) > limit {
			tb.Fatalf("%d of %d alarms delivered after %v (stats %+v)", nd.runner.Stats().Delivered, n, limit, nd.runner.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

// checkOnce checks that each of n objects stored exactly one delivery.
func checkOnce(tb testing.TB, nd *node, n int) {
	tb.Helper()
	for i := range n {
		if d := nd.delivered(tb, strconv.Itoa(i)); d != 1 {
			tb.Fatalf("object %d stored %d deliveries, want 1", i, d)
		}
	}
}

// benchAlarms returns how many alarms a scale benchmark uses: full when
// DEN_BENCH_SCALE is set (minutes on a small machine), the number in
// DEN_BENCH_ALARMS if set, and 1,000 otherwise, so that the smoke run of
// every benchmark stays quick.
func benchAlarms(b *testing.B, full int) int {
	if v, err := strconv.Atoi(os.Getenv("DEN_BENCH_ALARMS")); err == nil && v > 0 {
		return v
	}
	if os.Getenv("DEN_BENCH_SCALE") != "" {
		return full
	}
	b.Logf("1,000 alarms: set DEN_BENCH_SCALE=1 for %d", full)
	return 1_000
}

// TestManyAlarmsDueAtOnce is the quick form of BenchmarkTenThousandAlarmsDue.
func TestManyAlarmsDueAtOnce(t *testing.T) {
	const n = 100
	nd, _, opened := dueAtOnce(t, n, 16, 0)
	waitDelivered(t, nd, n, opened, 30*time.Second)
	checkOnce(t, nd, n)
}

// BenchmarkTenThousandAlarmsDue measures real objects: 10,000 objects
// (with DEN_BENCH_SCALE=1; see benchAlarms), out
// of memory, each with an alarm due, on a node that starts; it reports how
// long until every alarm was delivered (each a turn that constructs the
// object, opens its database and its point-in-time history, runs the
// handler and commits durably), the CPU per alarm, and how many barriers
// (device flushes) the deliveries took.
//
// At most maxLiveForBench objects stay in memory, so that 2 file
// descriptors each fit a 20,000 limit; the rest are evicted (their
// databases closed) while others open.
func BenchmarkTenThousandAlarmsDue(b *testing.B) {
	const maxLiveForBench = 4000
	n := benchAlarms(b, 10_000)
	for range b.N {
		b.StopTimer()
		dir, log := setAlarmsDue(b, n, maxLiveForBench)
		stopProfile := profileWindow(b)
		cpu0, opened := cpuTime(), time.Now()
		nd := openNodeWith(b, dir, log, alarm.Config{Workers: alarm.DefaultWorkers}, time.Hour, maxLiveForBench)
		b.StartTimer()
		took := waitDelivered(b, nd, n, opened, 5*time.Minute)
		b.StopTimer()
		cpu := cpuTime() - cpu0
		stopProfile()
		b.ReportMetric(took.Seconds(), "s-all")
		b.ReportMetric(float64(n)/took.Seconds(), "alarms/s")
		b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/alarm")
		st := nd.commit.Stats()
		b.ReportMetric(float64(st.Barriers)/float64(n), "barriers/alarm")
		b.ReportMetric(float64(st.Databases)/float64(max(st.Barriers, 1)), "dbs/barrier")
		b.Logf("%d alarms due at once on objects out of memory: all delivered %v after start, %v of CPU (%s)", n, took.Round(time.Millisecond), cpu.Round(time.Millisecond), fmt.Sprintf("%+v", nd.runner.Stats()))
		checkOnce(b, nd, n)
	}
}

// cpuTime returns the CPU time the process has used, user and system: on a
// machine shared with other work it varies less than the wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// profileWindow writes a CPU profile of what runs until the function it
// returns is called to the file named by DEN_BENCH_CPUPROFILE, and an
// execution trace to the file named by DEN_BENCH_TRACE, if set: the
// deliveries alone, without the setup before them.
func profileWindow(b *testing.B) (stop func()) {
	var stops []func()
	if path := os.Getenv("DEN_BENCH_CPUPROFILE"); path != "" {
		f := createProfile(b, path)
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		stops = append(stops, func() { pprof.StopCPUProfile(); closeProfile(b, f) })
	}
	if path := os.Getenv("DEN_BENCH_TRACE"); path != "" {
		f := createProfile(b, path)
		if err := trace.Start(f); err != nil {
			b.Fatal(err)
		}
		stops = append(stops, func() { trace.Stop(); closeProfile(b, f) })
	}
	if path := os.Getenv("DEN_BENCH_PERF_CTL"); path != "" {
		// perf record --control fifo:PATH --delay=-1: count the kernel's
		// share of the window too, which the CPU profile cannot see.
		perfControl(b, path, "enable")
		stops = append(stops, func() { perfControl(b, path, "disable") })
	}
	return func() {
		for _, stop := range stops {
			stop()
		}
	}
}

func createProfile(b *testing.B, path string) *os.File {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	return f
}

func closeProfile(b *testing.B, f *os.File) {
	if err := f.Close(); err != nil {
		b.Error(err)
	}
}

// BenchmarkAlarmsDueOnLiveObjects is BenchmarkTenThousandAlarmsDue with the
// objects already in memory (their databases open), which leaves the cost
// of the alarm turns and the index: 9,000 objects, as 2 file descriptors
// each must fit a 20,000 limit.
func BenchmarkAlarmsDueOnLiveObjects(b *testing.B) {
	n := benchAlarms(b, 9_000)
	for range b.N {
		b.StopTimer()
		dir, log := setAlarmsDue(b, n, n)
		nd := openNodeWith(b, dir, log, alarm.Config{Workers: -1}, time.Hour, n)
		for i := range n { // bring every object into memory
			nd.delivered(b, strconv.Itoa(i))
		}
		r := alarm.NewRunner(alarm.Config{Index: nd.idx, Objects: nd.host, Namespaces: []*den.Namespace{nd.ns}})
		stopProfile := profileWindow(b)
		start, cpu0 := time.Now(), cpuTime()
		b.StartTimer()
		if err := r.Open(); err != nil {
			b.Fatal(err)
		}
		for r.Stats().Delivered < uint64(n) {
			if time.Since(start) > 5*time.Minute {
				b.Fatalf("%d of %d delivered", r.Stats().Delivered, n)
			}
			time.Sleep(time.Millisecond)
		}
		took := time.Since(start)
		b.StopTimer()
		cpu := cpuTime() - cpu0
		stopProfile()
		if err := r.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(took.Seconds(), "s")
		b.ReportMetric(float64(n)/took.Seconds(), "alarms/s")
		b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/alarm")
		b.Logf("%d alarms due at once on objects in memory: all delivered %v after start", n, took.Round(time.Millisecond))
		checkOnce(b, nd, n)
	}
}

// perfControl writes cmd to the control FIFO of a perf record started with
// --control fifo:path --delay=-1.
func perfControl(b *testing.B, path, cmd string) {
	if err := os.WriteFile(path, []byte(cmd+"\n"), 0); err != nil {
		b.Fatal(err)
	}
}
