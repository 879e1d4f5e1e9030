package actor_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/actor"
	"github.com/den-run/den/sqlite"
)

// scheduler is a fake den.AlarmScheduler that records what it is told.
type scheduler struct {
	mu    sync.Mutex // protects following fields
	calls []time.Time
	fail  error
}

func (s *scheduler) ScheduleAlarm(ctx context.Context, class string, id den.ID, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.calls = append(s.calls, at)
	return nil
}

func (s *scheduler) taken() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls
	s.calls = nil
	return c
}

// alarms is a test app: one class, "Clock", whose alarm handler the test
// supplies.
type alarms struct {
	host    *actor.Host
	ns      *den.Namespace
	sched   *scheduler
	built   atomic.Int64
	handler func(ctx context.Context, c *clock, info den.AlarmInfo) error
}

type clock struct {
	a  *alarms
	st den.State
}

// Set sets the alarm to ms (Unix milliseconds).
func (c *clock) Set(ctx context.Context, ms int64) error {
	return c.st.Storage().SetAlarm(time.UnixMilli(ms))
}

// SetThenFail sets the alarm and fails: nothing may be set.
func (c *clock) SetThenFail(ctx context.Context, ms int64) error {
	if err := c.Set(ctx, ms); err != nil {
		return err
	}
	return errors.New("refused on purpose")
}

// Get returns the alarm in Unix milliseconds, 0 if none.
func (c *clock) Get(ctx context.Context) (int64, error) {
	t, ok, err := c.st.Storage().GetAlarm()
	if err != nil || !ok {
		return 0, err
	}
	return t.UnixMilli(), nil
}

// Delete deletes the alarm.
func (c *clock) Delete(ctx context.Context) error { return c.st.Storage().DeleteAlarm() }

// Note stores a key, to see which writes survive.
func (c *clock) Note(ctx context.Context, key string) error { return c.st.Storage().Put(key, nil) }

// Has reports whether key is stored.
func (c *clock) Has(ctx context.Context, key string) (bool, error) {
	_, ok, err := c.st.Storage().Get(key)
	return ok, err
}

func (c *clock) Alarm(ctx context.Context, info den.AlarmInfo) error {
	if c.a.handler == nil {
		return nil
	}
	return c.a.handler(ctx, c, info)
}

// mute is a class without an alarm handler.
type mute struct{ st den.State }

func (m *mute) Set(ctx context.Context, ms int64) error {
	return m.st.Storage().SetAlarm(time.UnixMilli(ms))
}

func newAlarms(tb testing.TB, cfg actor.Config) *alarms {
	tb.Helper()
	a := &alarms{sched: &scheduler{}}
	cfg.Store = sqlite.NewStore(tb.TempDir())
	cfg.Alarms = a.sched
	classes := []den.Class{
		{Name: "Clock", New: func(st den.State, env *den.Env) (any, error) {
			a.built.Add(1)
			return &clock{a: a, st: st}, nil
		}},
		{Name: "Mute", New: func(st den.State, env *den.Env) (any, error) { return &mute{st: st}, nil }},
	}
	a.host = actor.New(cfg, classes...)
	key, err := den.NewKey(nil)
	if err != nil {
		tb.Fatal(err)
	}
	a.ns = den.NewNamespace("CLOCK", "Clock", key, a.host)
	mute := den.NewNamespace("MUTE", "Mute", key, a.host)
	if err := a.host.Open(den.NewEnv([]*den.Namespace{a.ns, mute}, nil)); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.host.Close(ctx); err != nil {
			tb.Errorf("close host: %v", err)
		}
	})
	return a
}

func (a *alarms) call(tb testing.TB, name, method string, args ...any) {
	tb.Helper()
	if _, err := a.ns.GetByName(name).Call(context.Background(), method, args...); err != nil {
		tb.Fatalf("%s.%s: %v", name, method, err)
	}
}

func (a *alarms) get(tb testing.TB, name string) int64 {
	tb.Helper()
	ms, err := den.Call[int64](context.Background(), a.ns.GetByName(name), "Get")
	if err != nil {
		tb.Fatal(err)
	}
	return ms
}

func (a *alarms) deliver(tb testing.TB, name string, attempt den.AlarmAttempt) (den.AlarmResult, error) {
	tb.Helper()
	return a.host.DeliverAlarm(context.Background(), a.ns, a.ns.IDFromName(name), attempt)
}

func TestSetAlarmIsScheduledBeforeItCommits(t *testing.T) {
	a := newAlarms(t, actor.Config{})
	at := time.Now().Add(time.Hour).UnixMilli()
	a.call(t, "c", "Set", at)
	if got := a.get(t, "c"); got != at {
		t.Fatalf("alarm %d, want %d", got, at)
	}
	if calls := a.sched.taken(); len(calls) != 1 || calls[0].UnixMilli() != at {
		t.Fatalf("scheduler told %v, want [%d]", calls, at)
	}
	// Setting the same time again, reading or deleting tells it nothing.
	a.call(t, "c", "Set", at)
	a.get(t, "c")
	if calls := a.sched.taken(); len(calls) != 0 {
		t.Fatalf("scheduler told %v for an unchanged alarm", calls)
	}
	a.call(t, "c", "Delete")
	if calls := a.sched.taken(); len(calls) != 0 || a.get(t, "c") != 0 {
		t.Fatalf("delete: scheduler told %v", calls)
	}

	// If the scheduler fails, the turn fails and sets nothing.
	a.sched.mu.Lock()
	a.sched.fail = errors.New("index is down")
	a.sched.mu.Unlock()
	_, err := a.ns.GetByName("c").Call(context.Background(), "Set", at)
	if !den.IsRetryable(err) || !strings.Contains(err.Error(), "index is down") {
		t.Fatalf("set with a failing scheduler: %v", err)
	}
	if got := a.get(t, "c"); got != 0 {
		t.Fatalf("a turn whose alarm could not be scheduled set %d", got)
	}
}

func TestSetAlarmRules(t *testing.T) {
	a := newAlarms(t, actor.Config{})
	before := time.Now().UnixMilli()
	a.call(t, "p", "Set", 1) // long past: runs at once
	if got := a.get(t, "p"); got < before || got > time.Now().UnixMilli() {
		t.Fatalf("a past alarm was stored as %d, want now (%d)", got, before)
	}
	for _, ms := range []int64{0, -5} {
		_, err := a.ns.GetByName("p").Call(context.Background(), "Set", ms)
		if den.ErrorCode(err) != den.EINVALID || !strings.Contains(err.Error(), den.MsgAlarmTime) {
			t.Fatalf("Set(%d): %v", ms, err)
		}
	}
	// A turn that fails sets no alarm.
	_, err := a.ns.GetByName("f").Call(context.Background(), "SetThenFail", time.Now().Add(time.Hour).UnixMilli())
	if err == nil {
		t.Fatal("SetThenFail succeeded")
	}
	if got := a.get(t, "f"); got != 0 {
		t.Fatalf("a failed turn set the alarm to %d", got)
	}
	if calls := a.sched.taken(); len(calls) != 1 {
		t.Fatalf("scheduler told %v, want only p's alarm", calls)
	}
}

func TestDeliverAlarm(t *testing.T) {
	a := newAlarms(t, actor.Config{})
	due := time.Now().Add(-time.Second)
	a.call(t, "d", "Set", due.UnixMilli())
	a.sched.taken()
	var seen den.AlarmInfo
	var inside int64 = -1
	a.handler = func(ctx context.Context, c *clock, info den.AlarmInfo) error {
		seen = info
		inside, _ = c.Get(ctx)
		return c.Note(ctx, "ran")
	}
	res, err := a.deliver(t, "d", den.AlarmAttempt{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Ran || !res.Next.IsZero() || res.Scheduled.UnixMilli() != seen.ScheduledTime.UnixMilli() {
		t.Fatalf("result %+v", res)
	}
	if seen.ScheduledTime.Before(due.Truncate(time.Millisecond)) || seen.IsRetry || seen.RetryCount != 0 {
		t.Fatalf("info %+v", seen)
	}
	if inside != 0 {
		t.Fatalf("inside the handler the alarm read %d, want unset", inside)
	}
	if a.get(t, "d") != 0 {
		t.Fatal("the alarm was not deleted after its handler succeeded")
	}
	if ok, _ := den.Call[bool](context.Background(), a.ns.GetByName("d"), "Has", "ran"); !ok {
		t.Fatal("the handler's write was lost")
	}

	// No alarm, or one not due: nothing runs.
	res, err = a.deliver(t, "d", den.AlarmAttempt{})
	if err != nil || res.Ran || !res.Scheduled.IsZero() || !res.Next.IsZero() {
		t.Fatalf("no alarm: %+v %v", res, err)
	}
	later := time.Now().Add(time.Hour).UnixMilli()
	a.call(t, "d", "Set", later)
	res, err = a.deliver(t, "d", den.AlarmAttempt{})
	if err != nil || res.Ran || res.Next.UnixMilli() != later {
		t.Fatalf("alarm not due: %+v %v", res, err)
	}
}

func TestAlarmHandlerSetsTheNext(t *testing.T) {
	a := newAlarms(t, actor.Config{})
	a.call(t, "n", "Set", time.Now().UnixMilli())
	a.sched.taken()
	next := time.Now().Add(time.Minute).UnixMilli()
	var after int64
	a.handler = func(ctx context.Context, c *clock, info den.AlarmInfo) error {
		if err := c.Set(ctx, next); err != nil {
			return err
		}
		after, _ = c.Get(ctx)
		return nil
	}
	res, err := a.deliver(t, "n", den.AlarmAttempt{})
	if err != nil || !res.Ran || res.Next.UnixMilli() != next {
		t.Fatalf("result %+v %v", res, err)
	}
	if after != next || a.get(t, "n") != next {
		t.Fatalf("the next alarm reads %d inside and %d after, want %d", after, a.get(t, "n"), next)
	}
	if calls := a.sched.taken(); len(calls) != 0 {
		t.Fatalf("the alarm turn told the scheduler %v; the runner updates its entry", calls)
	}

	// Setting and then deleting inside the handler leaves no alarm.
	a.call(t, "n2", "Set", time.Now().UnixMilli())
	a.handler = func(ctx context.Context, c *clock, info den.AlarmInfo) error {
		c.Set(ctx, next)
		return c.Delete(ctx)
	}
	if res, err := a.deliver(t, "n2", den.AlarmAttempt{}); err != nil || !res.Next.IsZero() || a.get(t, "n2") != 0 {
		t.Fatalf("set then delete: %+v %v, alarm %d", res, err, a.get(t, "n2"))
	}
}

func TestFailedAlarmKeepsTheAlarm(t *testing.T) {
	a := newAlarms(t, actor.Config{})
	a.call(t, "f", "Set", time.Now().UnixMilli())
	scheduled := a.get(t, "f")
	var info den.AlarmInfo
	a.handler = func(ctx context.Context, c *clock, i den.AlarmInfo) error {
		info = i
		c.Note(ctx, "before-sync")
		// A yield commits the handler's writes so far, but not the
		// deletion of the running alarm.
		if err := c.st.Storage().Sync(ctx); err != nil {
			return err
		}
		c.Note(ctx, "after-sync")
		c.Set(ctx, time.Now().Add(time.Hour).UnixMilli())
		return errors.New("handler failed")
	}
	res, err := a.deliver(t, "f", den.AlarmAttempt{Retried: time.UnixMilli(scheduled), RetryCount: 3})
	if !res.Ran || !den.IsRemote(err) || !strings.Contains(err.Error(), "handler failed") {
		t.Fatalf("result %+v %v", res, err)
	}
	if !info.IsRetry || info.RetryCount != 3 {
		t.Fatalf("info %+v, want retry 3", info)
	}
	if got := a.get(t, "f"); got != scheduled {
		t.Fatalf("after a failure the alarm is %d, want %d", got, scheduled)
	}
	has := func(key string) bool {
		ok, _ := den.Call[bool](context.Background(), a.ns.GetByName("f"), "Has", key)
		return ok
	}
	if !has("before-sync") || has("after-sync") {
		t.Fatal("the writes before the yield should stay and the ones after roll back")
	}

	// A panic is a failure too; a retry count for another time is not
	// passed on.
	a.handler = func(ctx context.Context, c *clock, i den.AlarmInfo) error {
		info = i
		panic("boom")
	}
	res, err = a.deliver(t, "f", den.AlarmAttempt{Retried: time.UnixMilli(scheduled - 1), RetryCount: 3})
	if !res.Ran || !den.IsRemote(err) || info.IsRetry {
		t.Fatalf("panic: %+v %v %+v", res, err, info)
	}
	if a.get(t, "f") != scheduled {
		t.Fatal("a panicking handler lost the alarm")
	}
}

func TestAlarmWithoutHandlerIsDeleted(t *testing.T) {
	a := newAlarms(t, actor.Config{})
	ns := den.NewNamespace("MUTE", "Mute", den.Key{}, a.host)
	id := ns.IDFromName("m")
	if _, err := ns.Get(id).Call(context.Background(), "Set", time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	res, err := a.host.DeliverAlarm(context.Background(), ns, id, den.AlarmAttempt{})
	if err != nil || res.Ran || res.Scheduled.IsZero() || !res.Next.IsZero() {
		t.Fatalf("result %+v %v", res, err)
	}
	res, err = a.host.DeliverAlarm(context.Background(), ns, id, den.AlarmAttempt{})
	if err != nil || !res.Scheduled.IsZero() {
		t.Fatalf("the alarm was not deleted: %+v %v", res, err)
	}
}

func TestAlarmTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newAlarms(t, actor.Config{})
		a.call(t, "t", "Set", time.Now().UnixMilli())
		a.handler = func(ctx context.Context, c *clock, info den.AlarmInfo) error {
			time.Sleep(2 * time.Minute) // ignores ctx
			return nil
		}
		res, err := a.deliver(t, "t", den.AlarmAttempt{Timeout: time.Minute})
		if !res.Ran || !den.IsRemote(err) || !strings.Contains(err.Error(), den.MsgAlarmTimeout) {
			t.Fatalf("result %+v %v", res, err)
		}
		if a.get(t, "t") == 0 {
			t.Fatal("a timed-out alarm was deleted")
		}
	})
}

func TestAlarmWakesAnEvictedObject(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newAlarms(t, actor.Config{IdleTimeout: time.Second})
		a.call(t, "e", "Set", time.Now().Add(time.Minute).UnixMilli())
		time.Sleep(time.Minute)
		synctest.Wait()
		if a.host.Live() != 0 {
			t.Fatal("the object was not evicted")
		}
		ran := false
		a.handler = func(context.Context, *clock, den.AlarmInfo) error { ran = true; return nil }
		res, err := a.deliver(t, "e", den.AlarmAttempt{})
		if err != nil || !res.Ran || !ran || a.built.Load() != 2 {
			t.Fatalf("result %+v %v, ran %v, built %d", res, err, ran, a.built.Load())
		}
	})
}

func TestAbandonAlarm(t *testing.T) {
	a := newAlarms(t, actor.Config{})
	a.call(t, "x", "Set", time.Now().UnixMilli())
	scheduled := time.UnixMilli(a.get(t, "x"))
	id := a.ns.IDFromName("x")
	built := a.built.Load()
	res, err := a.host.AbandonAlarm(context.Background(), a.ns, id, scheduled.Add(time.Millisecond))
	if err != nil || !res.Scheduled.IsZero() || !res.Next.Equal(scheduled) {
		t.Fatalf("abandon another time: %+v %v", res, err)
	}
	res, err = a.host.AbandonAlarm(context.Background(), a.ns, id, scheduled)
	if err != nil || !res.Scheduled.Equal(scheduled) || !res.Next.IsZero() || a.get(t, "x") != 0 {
		t.Fatalf("abandon: %+v %v", res, err)
	}
	if a.built.Load() != built {
		t.Fatal("AbandonAlarm constructed the object")
	}
}
