package serve_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/actor"
	"github.com/den-run/den/alarm"
	"github.com/den-run/den/commit"
	"github.com/den-run/den/pitr"
	"github.com/den-run/den/serve"
	"github.com/den-run/den/sqlite"
)

// Timer is a test object whose alarm handler records each run in memory
// (runs survive rollbacks) and does what its test tells it.
type Timer struct {
	st  den.State
	log *runLog
}

// runLog records alarm runs across instances and restarts.
type runLog struct {
	mu   sync.Mutex            // protects following fields
	runs map[string][]timerRun // by ID
	// fail makes the next n runs of an object (by ID) fail.
	fail map[string]int
	// every makes a successful run set the next alarm this much later.
	every time.Duration
}

type timerRun struct {
	at   time.Time
	info den.AlarmInfo
}

func newRunLog() *runLog {
	return &runLog{runs: map[string][]timerRun{}, fail: map[string]int{}}
}

// of returns the runs of the object named name. Runs are recorded by ID: an
// object woken by an alarm after the index was rebuilt does not know its
// name.
func (l *runLog) of(name string) []timerRun { return l.ofID(nodeKey.IDFromName(name)) }

func (l *runLog) ofID(id den.ID) []timerRun {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]timerRun(nil), l.runs[id.String()]...)
}

// Schedule sets the alarm to ms (Unix milliseconds).
func (t *Timer) Schedule(ctx context.Context, ms int64) error {
	return t.st.Storage().SetAlarm(time.UnixMilli(ms))
}

// ScheduleThenFail sets the alarm and fails, so the alarm is never set.
func (t *Timer) ScheduleThenFail(ctx context.Context, ms int64) error {
	if err := t.Schedule(ctx, ms); err != nil {
		return err
	}
	return errors.New("refused on purpose")
}

// Delivered returns how many runs succeeded, as stored.
func (t *Timer) Delivered(ctx context.Context) (int, error) {
	n, _, err := den.GetJSON[int](t.st.Storage(), "delivered")
	return n, err
}

func (t *Timer) Alarm(ctx context.Context, info den.AlarmInfo) error {
	name := t.st.ID().String()
	l := t.log
	l.mu.Lock()
	l.runs[name] = append(l.runs[name], timerRun{at: time.Now(), info: info})
	fail := l.fail[name] > 0
	if fail {
		l.fail[name]--
	}
	every := l.every
	l.mu.Unlock()
	n, err := t.Delivered(ctx)
	if err != nil {
		return err
	}
	if err := den.PutJSON(t.st.Storage(), "delivered", n+1); err != nil {
		return err
	}
	if fail {
		return errors.New("alarm failed on purpose")
	}
	if every > 0 {
		return t.st.Storage().SetAlarm(info.ScheduledTime.Add(every))
	}
	return nil
}

// node is a Den node wired by hand as serve wires it: the alarm index, the
// host with the index as its scheduler, and the runner.
type node struct {
	dir    string
	idx    *alarm.Index
	host   *actor.Host
	runner *alarm.Runner
	ns     *den.Namespace
	commit *commit.Committer
}

var nodeKey = den.Key{7}

// openNode starts a node on dir whose objects are evicted after a second
// idle; it is closed when the test ends unless closed before.
func openNode(tb testing.TB, dir string, log *runLog, cfg alarm.Config) *node {
	tb.Helper()
	return openNodeWith(tb, dir, log, cfg, time.Second, 0)
}

// openNodeWith is openNode with objects evicted after idle, or beyond
// maxLive in memory (0: the default). With cfg.Workers < 0 it starts no
// runner: alarms are scheduled but not delivered.
func openNodeWith(tb testing.TB, dir string, log *runLog, cfg alarm.Config, idle time.Duration, maxLive int) *node {
	tb.Helper()
	quiet := slog.New(slog.DiscardHandler)
	objects := filepath.Join(dir, "objects")
	// Point-in-time history is on, as serve keeps it by default.
	history := pitr.New(filepath.Join(dir, serve.HistoryDir), pitr.Options{Retention: den.DefaultRetention})
	store := sqlite.NewStoreWithOptions(objects, sqlite.Options{History: func(class string, id den.ID) sqlite.Log { return history.Open(class, id) }})
	n := &node{dir: dir}
	n.idx = alarm.NewIndex(filepath.Join(dir, "alarms.sqlite"), alarm.IndexConfig{
		Logger: quiet,
		Scan: func(ctx context.Context, add func(alarm.Entry) error) error {
			return store.ScanAlarms(ctx, func(class string, id [32]byte, at time.Time, err error) error {
				if err != nil {
					return err
				}
				return add(alarm.Entry{Class: class, ID: id, At: at})
			})
		},
	})
	if err := n.idx.Open(context.Background()); err != nil {
		tb.Fatal(err)
	}
	barrier := commit.New(commit.Config{Dir: objects, Logger: quiet}) // as serve runs it
	if err := barrier.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { barrier.Close() }) // runs after the node's close: cleanups go last-first
	n.commit = barrier
	n.host = actor.New(actor.Config{Store: store, Committer: barrier, Alarms: n.idx, Logger: quiet, IdleTimeout: idle, MaxLive: maxLive},
		den.Class{Name: "Timer", New: func(st den.State, env *den.Env) (any, error) { return &Timer{st: st, log: log}, nil }})
	n.ns = den.NewNamespace("TIMER", "Timer", nodeKey, n.host)
	env := den.NewEnv([]*den.Namespace{n.ns}, nil)
	if err := n.host.Open(env); err != nil {
		tb.Fatal(err)
	}
	cfg.Index, cfg.Objects, cfg.Namespaces, cfg.Logger = n.idx, n.host, env.Namespaces(), quiet
	if cfg.Jitter == nil {
		cfg.Jitter = func() float64 { return 0 }
	}
	tb.Cleanup(func() { n.close(tb) })
	if cfg.Workers < 0 {
		return n
	}
	n.runner = alarm.NewRunner(cfg)
	if err := n.runner.Open(); err != nil {
		tb.Fatal(err)
	}
	return n
}

// close shuts the node down in serve's order: runner, host, index.
func (n *node) close(tb testing.TB) {
	tb.Helper()
	ctx := context.Background()
	if n.runner != nil {
		if err := n.runner.Close(ctx); err != nil {
			tb.Error(err)
		}
	}
	if err := n.host.Close(ctx); err != nil {
		tb.Error(err)
	}
	if err := n.idx.Close(); err != nil {
		tb.Error(err)
	}
}

func (n *node) call(tb testing.TB, name, method string, args ...any) error {
	tb.Helper()
	_, err := n.ns.GetByName(name).Call(context.Background(), method, args...)
	return err
}

func (n *node) delivered(tb testing.TB, name string) int {
	tb.Helper()
	d, err := den.Call[int](context.Background(), n.ns.GetByName(name), "Delivered")
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func TestAlarmWakesAnEvictedObjectOnTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := newRunLog()
		log.every = 10 * time.Second
		n := openNode(t, t.TempDir(), log, alarm.Config{})
		start := time.Now()
		if err := n.call(t, "a", "Schedule", start.Add(time.Minute).UnixMilli()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if n.host.Live() != 0 {
			t.Fatal("the object is still in memory")
		}
		time.Sleep(30*time.Second + 25*time.Second)
		synctest.Wait()
		runs := log.of("a")
		if len(runs) != 3 {
			t.Fatalf("%d runs by +85s, want 3 (at +60s, +70s, +80s)", len(runs))
		}
		for i, r := range runs {
			want := start.Add(time.Minute + time.Duration(i)*10*time.Second)
			if !r.at.Equal(want) || !r.info.ScheduledTime.Equal(want) || r.info.IsRetry {
				t.Errorf("run %d: at +%v %+v, want +%v", i, r.at.Sub(start), r.info, want.Sub(start))
			}
		}
		if d := n.delivered(t, "a"); d != 3 {
			t.Fatalf("stored %d deliveries, want 3", d)
		}
		if s := n.runner.Stats(); s.Delivered != 3 || s.Skipped != 0 {
			t.Fatalf("stats %+v", s)
		}
	})
}

func TestRolledBackAlarmNeverRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := newRunLog()
		n := openNode(t, t.TempDir(), log, alarm.Config{})
		if err := n.call(t, "rb", "ScheduleThenFail", time.Now().Add(time.Second).UnixMilli()); err == nil {
			t.Fatal("ScheduleThenFail succeeded")
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if runs := log.of("rb"); len(runs) != 0 {
			t.Fatalf("a rolled-back alarm ran %d times", len(runs))
		}
		if l, _ := n.idx.Len(); l != 0 {
			t.Fatalf("the index holds %d rows for a rolled-back alarm", l)
		}
	})
}

func TestAlarmsDueWhileDownRunAtStart(t *testing.T) {
	for _, lose := range []bool{false, true} {
		t.Run(fmt.Sprintf("index lost %v", lose), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				dir := t.TempDir()
				log := newRunLog()
				n := openNode(t, dir, log, alarm.Config{})
				start := time.Now()
				for i := range 3 {
					if err := n.call(t, fmt.Sprint("d", i), "Schedule", start.Add(time.Duration(i+1)*time.Hour).UnixMilli()); err != nil {
						t.Fatal(err)
					}
				}
				n.close(t)
				if lose {
					for _, suffix := range []string{"", "-wal", "-shm"} {
						os.Remove(filepath.Join(dir, "alarms.sqlite"+suffix))
					}
				}
				time.Sleep(24 * time.Hour) // the process is down
				restart := time.Now()
				n = openNode(t, dir, log, alarm.Config{})
				time.Sleep(time.Second)
				synctest.Wait()
				for i := range 3 {
					name := fmt.Sprint("d", i)
					runs := log.of(name)
					if len(runs) != 1 || !runs[0].at.Equal(restart) {
						t.Fatalf("%s: runs %+v, want one at the restart", name, runs)
					}
					if d := n.delivered(t, name); d != 1 {
						t.Fatalf("%s: stored %d deliveries", name, d)
					}
				}
			})
		})
	}
}

func TestFailingAlarmRetriesThenAbandons(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := newRunLog()
		log.fail[nodeKey.IDFromName("f").String()] = 100
		log.fail[nodeKey.IDFromName("ok").String()] = 2
		n := openNode(t, t.TempDir(), log, alarm.Config{})
		start := time.Now()
		for _, name := range []string{"f", "ok"} {
			if err := n.call(t, name, "Schedule", start.UnixMilli()); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		runs := log.of("f")
		if len(runs) != 1+den.AlarmRetryLimit {
			t.Fatalf("f ran %d times, want %d", len(runs), 1+den.AlarmRetryLimit)
		}
		var wait time.Duration
		for i, r := range runs {
			if r.info.RetryCount != i || !r.info.ScheduledTime.Equal(start) {
				t.Errorf("run %d: %+v", i, r.info)
			}
			if i > 0 {
				wait += den.AlarmRetryDelay << (i - 1)
				if d := r.at.Sub(start); d < wait || d > wait+time.Second {
					t.Errorf("retry %d at +%v, want about +%v", i, d, wait)
				}
			}
		}
		// Every failed run's writes rolled back; the abandoned alarm is gone.
		if d := n.delivered(t, "f"); d != 0 {
			t.Fatalf("failed runs stored %d deliveries", d)
		}
		if runs := log.of("ok"); len(runs) != 3 || n.delivered(t, "ok") != 1 {
			t.Fatalf("ok: %d runs, %d stored, want 3 and 1", len(runs), n.delivered(t, "ok"))
		}
		if l, _ := n.idx.Len(); l != 0 {
			t.Fatalf("%d rows left in the index", l)
		}
		if s := n.runner.Stats(); s.Abandoned != 1 || s.Failed != 9 || s.Delivered != 1 {
			t.Fatalf("stats %+v", s)
		}
	})
}

// TestServeDeliversAlarms checks the wiring in serve: a real server, real
// time, an alarm in the past.
func TestServeDeliversAlarms(t *testing.T) {
	log := newRunLog()
	dir := t.TempDir()
	app := serve.App{
		Name:     "timers",
		Classes:  []den.Class{{Name: "Timer", New: func(st den.State, env *den.Env) (any, error) { return &Timer{st: st, log: log}, nil }}},
		Bindings: map[string]string{"TIMER": "Timer"},
		Worker:   func(env *den.Env) http.Handler { return http.NotFoundHandler() },
	}
	start := func() *serve.Server {
		s, err := serve.Start(context.Background(), app, serve.Config{Addr: "127.0.0.1:0", Data: dir, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	stop := func(s *serve.Server) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	s := start()
	stub := s.Env().Namespace("TIMER").GetByName("now")
	if _, err := stub.Call(context.Background(), "Schedule", time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	retryUntil(t, func() bool { return s.AlarmStats().Delivered == 1 })
	if _, err := os.Stat(filepath.Join(dir, serve.AlarmIndexFile)); err != nil {
		t.Fatal(err)
	}
	// One that falls due while the server is down runs after a restart.
	later := time.Now().Add(300 * time.Millisecond)
	if _, err := stub.Call(context.Background(), "Schedule", later.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	stop(s)
	time.Sleep(time.Until(later))
	s = start()
	defer stop(s)
	retryUntil(t, func() bool { return s.AlarmStats().Delivered == 1 })
	if runs := log.ofID(stub.ID()); len(runs) != 2 {
		t.Fatalf("%d runs, want 2", len(runs))
	}
}

// retryUntil polls cond for up to 10 seconds.
func retryUntil(tb testing.TB, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
