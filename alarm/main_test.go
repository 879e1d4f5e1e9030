package alarm_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/den-run/den"
	"github.com/den-run/den/alarm"
)

// TestMain fails the package if any test leaks a goroutine.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const class = "Obj"

var quiet = slog.New(slog.DiscardHandler)

// mustOpenIndex opens an index in dir and closes it when the test ends.
func mustOpenIndex(tb testing.TB, dir string, cfg alarm.IndexConfig) *alarm.Index {
	tb.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	x := alarm.NewIndex(filepath.Join(dir, "alarms.sqlite"), cfg)
	if err := x.Open(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := x.Close(); err != nil {
			tb.Error(err)
		}
	})
	return x
}

// objects is a fake den.AlarmDeliverer: objects with an alarm record each,
// run by a handler the test supplies. It follows the runtime's rules: a
// handler runs only if the record is due, the record is deleted when the
// handler succeeds (unless it set a new one), and alarms the handler sets
// are not reported to the index.
type objects struct {
	ns  *den.Namespace
	idx *alarm.Index

	// handler runs an alarm; it may call set. nil succeeds.
	handler func(id den.ID, info den.AlarmInfo) error
	// refuse, when it returns an error, fails a delivery before the
	// handler runs (the object cannot be reached).
	refuse func(id den.ID) error
	// now is the objects' clock: time.Now unless set.
	now func() time.Time

	mu      sync.Mutex // protects following fields
	records map[[32]byte]time.Time
	runs    []run
	running int
	most    int // most deliveries at once
}

type run struct {
	name string
	info den.AlarmInfo
	at   time.Time
}

func newObjects(tb testing.TB, idx *alarm.Index) *objects {
	key, err := den.NewKey(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return &objects{ns: den.NewNamespace("OBJ", class, key, nil), idx: idx, records: map[[32]byte]time.Time{}}
}

// set sets the alarm of the object named name as a turn would: schedule
// first, then commit the record, with no delivery to the object meanwhile.
func (o *objects) set(tb testing.TB, name string, at time.Time) {
	tb.Helper()
	id := o.ns.IDFromName(name)
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.idx.ScheduleAlarm(context.Background(), class, id, at); err != nil {
		tb.Fatal(err)
	}
	o.records[id.Bytes()] = at
}

// record returns the alarm record of the object named name.
func (o *objects) record(name string) (time.Time, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	t, ok := o.records[o.ns.IDFromName(name).Bytes()]
	return t, ok
}

func (o *objects) runsOf(name string) []run {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []run
	for _, r := range o.runs {
		if r.name == name {
			out = append(out, r)
		}
	}
	return out
}

func (o *objects) DeliverAlarm(ctx context.Context, ns *den.Namespace, id den.ID, a den.AlarmAttempt) (den.AlarmResult, error) {
	if o.refuse != nil {
		if err := o.refuse(id); err != nil {
			return den.AlarmResult{}, err
		}
	}
	o.mu.Lock()
	rec, ok := o.records[id.Bytes()]
	var res den.AlarmResult
	if ok {
		res.Next = rec
	}
	now := time.Now
	if o.now != nil {
		now = o.now
	}
	if !ok || rec.After(now()) {
		o.mu.Unlock()
		return res, nil
	}
	res.Scheduled, res.Ran = rec, true
	info := den.AlarmInfo{ScheduledTime: rec}
	if a.RetryCount > 0 && a.Retried.Equal(rec) {
		info.IsRetry, info.RetryCount = true, a.RetryCount
	}
	o.runs = append(o.runs, run{name: id.Name(), info: info, at: time.Now()})
	o.running++
	o.most = max(o.most, o.running)
	o.mu.Unlock()

	var err error
	if o.handler != nil {
		err = o.handler(id, info)
	}
	time.Sleep(time.Millisecond) // a turn takes time

	o.mu.Lock()
	defer o.mu.Unlock()
	o.running--
	if err != nil {
		return res, &den.Error{Code: den.EINTERNAL, Message: err.Error(), Remote: true}
	}
	if cur, ok := o.records[id.Bytes()]; ok && cur.Equal(rec) {
		delete(o.records, id.Bytes())
	}
	res.Next = o.records[id.Bytes()]
	return res, nil
}

func (o *objects) AbandonAlarm(ctx context.Context, ns *den.Namespace, id den.ID, scheduled time.Time) (den.AlarmResult, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var res den.AlarmResult
	if rec, ok := o.records[id.Bytes()]; ok && rec.Equal(scheduled) {
		delete(o.records, id.Bytes())
		res.Scheduled = rec
	}
	res.Next = o.records[id.Bytes()]
	return res, nil
}

// mustOpenRunner opens a runner on idx and objs and closes it when the test
// ends (before the index, which was opened first).
func mustOpenRunner(tb testing.TB, idx *alarm.Index, objs *objects, cfg alarm.Config) *alarm.Runner {
	tb.Helper()
	cfg.Index, cfg.Objects, cfg.Namespaces = idx, objs, []*den.Namespace{objs.ns}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	if cfg.Jitter == nil {
		cfg.Jitter = func() float64 { return 0 }
	}
	r := alarm.NewRunner(cfg)
	if err := r.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := r.Close(context.Background()); err != nil {
			tb.Error(err)
		}
	})
	return r
}

// row returns the index row of the object named name.
func row(tb testing.TB, idx *alarm.Index, objs *objects, name string) (alarm.Row, bool) {
	tb.Helper()
	r, ok, err := idx.Lookup(class, objs.ns.IDFromName(name).Bytes())
	if err != nil {
		tb.Fatal(err)
	}
	return r, ok
}

var errHandler = errors.New("handler failed on purpose")
