package alarm_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/alarm"
)

func TestAlarmRunsAtItsTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idx := mustOpenIndex(t, t.TempDir(), alarm.IndexConfig{})
		objs := newObjects(t, idx)
		r := mustOpenRunner(t, idx, objs, alarm.Config{})
		start := time.Now()
		objs.set(t, "a", start.Add(10*time.Second))

		time.Sleep(10*time.Second - time.Millisecond)
		synctest.Wait()
		if n := len(objs.runsOf("a")); n != 0 {
			t.Fatalf("ran %d times before its time", n)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		runs := objs.runsOf("a")
		if len(runs) != 1 {
			t.Fatalf("ran %d times, want 1", len(runs))
		}
		if !runs[0].at.Equal(start.Add(10*time.Second)) || !runs[0].info.ScheduledTime.Equal(start.Add(10*time.Second)) || runs[0].info.IsRetry {
			t.Fatalf("run %+v, want at %v", runs[0], start.Add(10*time.Second))
		}
		if _, ok := row(t, idx, objs, "a"); ok {
			t.Fatal("the index still has a row for a delivered alarm")
		}
		if _, ok := objs.record("a"); ok {
			t.Fatal("the alarm was not deleted")
		}
		if s := r.Stats(); s.Delivered != 1 || s.Failed != 0 {
			t.Fatalf("stats %+v", s)
		}
	})
}

func TestPastAlarmsRunAtOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		// Alarms fell due while "the process was down": the index and the
		// objects hold them, no runner runs.
		idx := alarm.NewIndex(dir+"/alarms.sqlite", alarm.IndexConfig{Logger: quiet})
		if err := idx.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		objs := newObjects(t, idx)
		for i := range 5 {
			objs.set(t, fmt.Sprint("o", i), time.Now().Add(time.Duration(i)*time.Second))
		}
		if err := idx.Close(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Hour)

		idx = mustOpenIndex(t, dir, alarm.IndexConfig{})
		objs.idx = idx
		opened := time.Now()
		mustOpenRunner(t, idx, objs, alarm.Config{})
		time.Sleep(time.Second) // each delivery takes 1 ms
		synctest.Wait()
		for i := range 5 {
			runs := objs.runsOf(fmt.Sprint("o", i))
			if len(runs) != 1 || !runs[0].at.Equal(opened) {
				t.Fatalf("o%d: runs %+v, want one at open", i, runs)
			}
		}
		if n, _ := idx.Len(); n != 0 {
			t.Fatalf("%d rows left", n)
		}
	})
}

func TestFailingHandlerIsRetriedThenAbandoned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idx := mustOpenIndex(t, t.TempDir(), alarm.IndexConfig{})
		objs := newObjects(t, idx)
		objs.handler = func(den.ID, den.AlarmInfo) error { return errHandler }
		r := mustOpenRunner(t, idx, objs, alarm.Config{})
		start := time.Now()
		objs.set(t, "f", start)
		time.Sleep(time.Hour)
		synctest.Wait()

		runs := objs.runsOf("f")
		if len(runs) != 1+den.AlarmRetryLimit {
			t.Fatalf("ran %d times, want %d (all runs: %+v)", len(runs), 1+den.AlarmRetryLimit, objs.runs)
		}
		// 2 s, then doubling (no jitter in this test); each turn takes 1 ms.
		at := start
		for i, run := range runs {
			if i > 0 {
				at = at.Add(time.Millisecond + den.AlarmRetryDelay<<(i-1))
			}
			if !run.at.Equal(at) {
				t.Errorf("run %d at +%v, want +%v", i, run.at.Sub(start), at.Sub(start))
			}
			if run.info.RetryCount != i || run.info.IsRetry != (i > 0) || !run.info.ScheduledTime.Equal(start) {
				t.Errorf("run %d info %+v", i, run.info)
			}
		}
		if _, ok := objs.record("f"); ok {
			t.Fatal("the abandoned alarm was not deleted")
		}
		if _, ok := row(t, idx, objs, "f"); ok {
			t.Fatal("the abandoned alarm is still in the index")
		}
		if s := r.Stats(); s.Failed != 7 || s.Abandoned != 1 || s.Delivered != 0 {
			t.Fatalf("stats %+v", s)
		}
	})
}

func TestRetryThenSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idx := mustOpenIndex(t, t.TempDir(), alarm.IndexConfig{})
		objs := newObjects(t, idx)
		objs.handler = func(_ den.ID, info den.AlarmInfo) error {
			if info.RetryCount < 2 {
				return errHandler
			}
			return nil
		}
		r := mustOpenRunner(t, idx, objs, alarm.Config{Jitter: func() float64 { return 0.999 }})
		start := time.Now()
		objs.set(t, "s", start)
		time.Sleep(time.Minute)
		synctest.Wait()
		runs := objs.runsOf("s")
		if len(runs) != 3 {
			t.Fatalf("ran %d times, want 3", len(runs))
		}
		// With the most jitter, the first retry comes just under 2.5 s later.
		if d := runs[1].at.Sub(runs[0].at); d <= 2*time.Second || d >= 2500*time.Millisecond+time.Millisecond {
			t.Fatalf("first retry after %v, want 2 s plus up to 25%%", d)
		}
		if _, ok := row(t, idx, objs, "s"); ok {
			t.Fatal("a delivered alarm is still in the index")
		}
		if s := r.Stats(); s.Failed != 2 || s.Delivered != 1 || s.Abandoned != 0 {
			t.Fatalf("stats %+v", s)
		}
	})
}

func TestUndeliverableAlarmIsRetriedWithoutCounting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idx := mustOpenIndex(t, t.TempDir(), alarm.IndexConfig{})
		objs := newObjects(t, idx)
		refusals := 0
		objs.refuse = func(den.ID) error {
			if refusals < 8 { // more than the retry limit
				refusals++
				return &den.Error{Code: den.EOVERLOADED, Message: den.MsgOverloadedQueue, Overloaded: true}
			}
			return nil
		}
		r := mustOpenRunner(t, idx, objs, alarm.Config{})
		objs.set(t, "u", time.Now())
		time.Sleep(24 * time.Hour)
		synctest.Wait()
		runs := objs.runsOf("u")
		if len(runs) != 1 || runs[0].info.IsRetry {
			t.Fatalf("runs %+v, want one first run", runs)
		}
		if s := r.Stats(); s.Errors != 8 || s.Delivered != 1 {
			t.Fatalf("stats %+v", s)
		}
	})
}

func TestStaleAndEarlyRowsAreFixed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idx := mustOpenIndex(t, t.TempDir(), alarm.IndexConfig{})
		objs := newObjects(t, idx)
		r := mustOpenRunner(t, idx, objs, alarm.Config{})
		start := time.Now()
		// stale: the object deleted its alarm (not reported to the index).
		objs.set(t, "stale", start.Add(time.Second))
		objs.mu.Lock()
		delete(objs.records, objs.ns.IDFromName("stale").Bytes())
		objs.mu.Unlock()
		// early: the object moved its alarm later (not reported either).
		objs.set(t, "early", start.Add(time.Second))
		objs.mu.Lock()
		objs.records[objs.ns.IDFromName("early").Bytes()] = start.Add(time.Minute)
		objs.mu.Unlock()

		time.Sleep(2 * time.Second)
		synctest.Wait()
		if _, ok := row(t, idx, objs, "stale"); ok {
			t.Fatal("the stale row was not deleted")
		}
		if rw, ok := row(t, idx, objs, "early"); !ok || !rw.Due.Equal(start.Add(time.Minute)) {
			t.Fatalf("the early row is %v %v, want due at +1m", rw, ok)
		}
		if len(objs.runsOf("stale"))+len(objs.runsOf("early")) != 0 {
			t.Fatal("a handler ran for an alarm that was not due")
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if runs := objs.runsOf("early"); len(runs) != 1 || !runs[0].at.Equal(start.Add(time.Minute)) {
			t.Fatalf("early: runs %+v", runs)
		}
		if s := r.Stats(); s.Skipped != 2 || s.Delivered != 1 {
			t.Fatalf("stats %+v", s)
		}
	})
}

func TestEarlierAlarmWakesTheRunner(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idx := mustOpenIndex(t, t.TempDir(), alarm.IndexConfig{})
		objs := newObjects(t, idx)
		mustOpenRunner(t, idx, objs, alarm.Config{})
		start := time.Now()
		objs.set(t, "late", start.Add(time.Hour))
		synctest.Wait() // the runner sleeps until +1h
		objs.set(t, "soon", start.Add(time.Second))
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if runs := objs.runsOf("soon"); len(runs) != 1 || !runs[0].at.Equal(start.Add(time.Second)) {
			t.Fatalf("soon: runs %+v", runs)
		}
	})
}

func TestHandlerSetsTheNextAlarm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idx := mustOpenIndex(t, t.TempDir(), alarm.IndexConfig{})
		objs := newObjects(t, idx)
		// Every run sets the next one 10 s later, as the runtime would:
		// in the object's record only.
		objs.handler = func(id den.ID, info den.AlarmInfo) error {
			objs.mu.Lock()
			objs.records[id.Bytes()] = info.ScheduledTime.Add(10 * time.Second)
			objs.mu.Unlock()
			return nil
		}
		r := mustOpenRunner(t, idx, objs, alarm.Config{})
		start := time.Now()
		objs.set(t, "tick", start)
		time.Sleep(35 * time.Second)
		synctest.Wait()
		runs := objs.runsOf("tick")
		if len(runs) != 4 {
			t.Fatalf("ran %d times in 35 s, want 4", len(runs))
		}
		for i, run := range runs {
			if want := start.Add(time.Duration(i) * 10 * time.Second); !run.at.Equal(want) {
				t.Errorf("run %d at +%v, want +%v", i, run.at.Sub(start), want.Sub(start))
			}
		}
		if s := r.Stats(); s.Skipped != 0 {
			t.Fatalf("%d spurious firings", s.Skipped)
		}
	})
}

func TestDeliveriesAreBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idx := mustOpenIndex(t, t.TempDir(), alarm.IndexConfig{})
		objs := newObjects(t, idx)
		const n = 300
		for i := range n {
			objs.set(t, fmt.Sprint("b", i), time.Now())
		}
		r := mustOpenRunner(t, idx, objs, alarm.Config{Workers: 4, PageSize: 16})
		time.Sleep(time.Second)
		synctest.Wait()
		if s := r.Stats(); s.Delivered != n {
			t.Fatalf("delivered %d, want %d", s.Delivered, n)
		}
		objs.mu.Lock()
		most := objs.most
		objs.mu.Unlock()
		if most > 4 {
			t.Fatalf("%d deliveries at once with 4 workers", most)
		}
		for i := range n {
			if runs := objs.runsOf(fmt.Sprint("b", i)); len(runs) != 1 {
				t.Fatalf("b%d ran %d times", i, len(runs))
			}
		}
	})
}

func TestCloseLeavesRunningAlarmsForTheNextStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idx := mustOpenIndex(t, t.TempDir(), alarm.IndexConfig{})
		objs := newObjects(t, idx)
		release := make(chan struct{})
		objs.handler = func(den.ID, den.AlarmInfo) error {
			<-release
			return errHandler
		}
		r := mustOpenRunner(t, idx, objs, alarm.Config{})
		objs.set(t, "c", time.Now())
		synctest.Wait()
		closed := make(chan error)
		go func() { closed <- r.Close(context.Background()) }()
		synctest.Wait()
		close(release)
		if err := <-closed; err != nil {
			t.Fatal(err)
		}
		rw, ok := row(t, idx, objs, "c")
		if !ok || rw.RetryCount != 0 || rw.Due.After(time.Now()) {
			t.Fatalf("after close the row is %v %v, want it due and not retried", rw, ok)
		}
		if s := r.Stats(); s.Failed != 0 {
			t.Fatalf("a failure during close was counted: %+v", s)
		}
	})
}

func TestAlarmScheduledDuringDeliveryRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idx := mustOpenIndex(t, t.TempDir(), alarm.IndexConfig{})
		objs := newObjects(t, idx)
		// The first run is followed, before the runner updates the row, by
		// a turn that sets a new alarm due at once (as a request arriving
		// right after the alarm turn would): the runner's update of the
		// row must not apply, and the row must be delivered again.
		first := true
		objs.handler = func(id den.ID, info den.AlarmInfo) error {
			if first {
				first = false
				if err := idx.ScheduleAlarm(context.Background(), class, id, time.Now()); err != nil {
					return err
				}
				objs.mu.Lock()
				objs.records[id.Bytes()] = time.Now().Add(time.Nanosecond) // not the time that runs: it stays
				objs.mu.Unlock()
			}
			return nil
		}
		mustOpenRunner(t, idx, objs, alarm.Config{})
		objs.set(t, "again", time.Now())
		time.Sleep(time.Second)
		synctest.Wait()
		if runs := objs.runsOf("again"); len(runs) != 2 {
			t.Fatalf("ran %d times, want 2", len(runs))
		}
		if _, ok := row(t, idx, objs, "again"); ok {
			t.Fatal("a row is left")
		}
	})
}
