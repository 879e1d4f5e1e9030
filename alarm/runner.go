package alarm

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/den-run/den"
)

// Defaults of Config.
const (
	DefaultWorkers  = 64
	DefaultPageSize = 256
)

// maxBackoffShift caps the doubling of retry delays at AlarmRetryDelay<<9
// (1,024 s), as workerd does.
const maxBackoffShift = 9

// Config configures a Runner. Zero fields take the defaults shown.
type Config struct {
	Index      *Index             // required: the schedule
	Objects    den.AlarmDeliverer // required: delivers alarms (actor.Host)
	Namespaces []*den.Namespace   // reach objects by class; a class not here is postponed with a warning
	Workers    int                // DefaultWorkers: alarms delivered at once
	PageSize   int                // DefaultPageSize: rows read from the index at a time
	Timeout    time.Duration      // den.AlarmTimeout: the handler's time limit
	Now        func() time.Time   // time.Now
	Jitter     func() float64     // rand.Float64: in [0, 1), the fraction of the 25% jitter to add
	Logger     *slog.Logger       // slog.Default()
}

// Stats are the Runner's counters since Open, for metrics.
type Stats struct {
	Delivered uint64 // handler runs that succeeded
	Failed    uint64 // handler runs that failed (each is retried or abandoned)
	Abandoned uint64 // alarms deleted after den.AlarmRetryLimit retries
	Skipped   uint64 // firings that found the object's alarm not due (the index was early or stale)
	Errors    uint64 // deliveries that failed without running the handler (retried, not counted)
}

// Runner delivers due alarms: one goroutine waits on a single timer for the
// index's next due time, then pages the due rows from the index and hands
// them to a fixed pool of workers, each delivering one alarm at a time as a
// turn on its object. Memory does not grow with the number of alarms
// scheduled, only with Workers and PageSize.
//
// A failed handler is retried after den.AlarmRetryDelay, doubling, with up to
// 25% jitter, up to den.AlarmRetryLimit counted retries; then the alarm is
// abandoned (deleted) with an error log line. A delivery that fails without
// running the handler is retried with the same backoff, uncounted.
type Runner struct {
	cfg Config
	idx *Index
	log *slog.Logger
	ns  map[string]*den.Namespace

	ctx       context.Context // canceled by Close: stop dispatching
	cancel    context.CancelCauseFunc
	runCtx    context.Context // canceled when Close gives up waiting for deliveries
	runCancel context.CancelCauseFunc
	wg        sync.WaitGroup // the dispatcher and the workers
	work      chan Row
	kick      chan struct{} // cap 1: a row a worker left due needs another pass
	closing   atomic.Bool

	delivered, failed, abandoned, skipped, errors atomic.Uint64

	mu       sync.Mutex // protects following fields
	inflight map[rowKey]struct{}
	opened   bool
	closed   bool
}

type rowKey struct {
	class string
	id    [32]byte
}

// NewRunner returns a Runner with cfg. It starts nothing: Open does.
func NewRunner(cfg Config) *Runner {
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = DefaultPageSize
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = den.AlarmTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Jitter == nil {
		cfg.Jitter = rand.Float64
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Runner{cfg: cfg, idx: cfg.Index, log: cfg.Logger, ns: map[string]*den.Namespace{}, inflight: map[rowKey]struct{}{}, kick: make(chan struct{}, 1)}
	for _, ns := range cfg.Namespaces {
		if r.ns[ns.Class()] == nil {
			r.ns[ns.Class()] = ns
		}
	}
	return r
}

// Open starts the dispatcher and the workers. Alarms that fell due while
// the process was down are delivered at once.
func (r *Runner) Open() error {
	if r.idx == nil || r.cfg.Objects == nil {
		return den.Errorf(den.EINVALID, "alarm runner: Config.Index and Config.Objects are required")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.opened {
		return den.Errorf(den.EINVALID, "alarm runner: already opened")
	}
	r.opened = true
	r.ctx, r.cancel = context.WithCancelCause(context.Background())
	r.runCtx, r.runCancel = context.WithCancelCause(context.Background())
	r.work = make(chan Row)
	r.wg.Go(r.dispatch)
	for range r.cfg.Workers {
		r.wg.Go(r.worker)
	}
	return nil
}

// Close stops dispatching and waits for the alarms being delivered. If ctx
// ends first, their contexts are canceled (the alarms run again after a
// restart) and Close returns ctx's error once the workers have returned.
// Close is idempotent.
func (r *Runner) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed || !r.opened {
		r.closed = true
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	r.closing.Store(true)
	r.cancel(errors.New("alarm runner closed"))
	waited := make(chan struct{})
	go func() { r.wg.Wait(); close(waited) }()
	var err error
	select {
	case <-waited:
	case <-ctx.Done():
		err = den.Errorf(den.ETIMEOUT, "alarm runner: waiting for alarm handlers: %w", context.Cause(ctx))
		r.runCancel(err)
		<-waited
	}
	r.runCancel(errors.New("alarm runner closed"))
	return err
}

// Stats returns the counters since Open.
func (r *Runner) Stats() Stats {
	return Stats{
		Delivered: r.delivered.Load(),
		Failed:    r.failed.Load(),
		Abandoned: r.abandoned.Load(),
		Skipped:   r.skipped.Load(),
		Errors:    r.errors.Load(),
	}
}

// dispatch is the dispatcher goroutine: it hands every due row to the
// workers, then sleeps on one timer until the next due time or until the
// index reports an earlier one.
func (r *Runner) dispatch() {
	defer close(r.work)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		r.idx.wakeBefore(math.MaxInt64) // while we look, any write wakes us again
		next, ok, err := r.pass()
		if r.ctx.Err() != nil {
			return
		}
		var wait <-chan time.Time
		switch {
		case err != nil:
			r.log.Error("read alarm index", "err", err)
			timer.Reset(time.Second)
			wait = timer.C
		case ok:
			r.idx.wakeBefore(next.UnixNano())
			timer.Reset(next.Sub(r.cfg.Now()))
			wait = timer.C
		}
		select {
		case <-r.ctx.Done():
			return
		case <-wait:
		case <-r.idx.wake:
		case <-r.kick:
		}
		timer.Stop()
	}
}

// pass hands every row due now to the workers, a page at a time, and returns
// the next due time after now.
func (r *Runner) pass() (time.Time, bool, error) {
	now := r.cfg.Now()
	var after Row
	for {
		// Reading the page and marking its rows in flight under r.mu keeps
		// a row from being handed out again, with what it held before, by
		// a worker that updates it meanwhile (workers unmark under r.mu
		// after their update).
		r.mu.Lock()
		rows, err := r.idx.due(now, after, r.cfg.PageSize)
		todo := rows[:0:0]
		for _, row := range rows {
			k := rowKey{row.Class, row.ID}
			if _, busy := r.inflight[k]; !busy {
				r.inflight[k] = struct{}{}
				todo = append(todo, row)
			}
		}
		r.mu.Unlock()
		if err != nil {
			return time.Time{}, false, err
		}
		for _, row := range todo {
			select {
			case r.work <- row:
			case <-r.ctx.Done():
				return time.Time{}, false, nil
			}
		}
		if len(rows) < r.cfg.PageSize {
			break
		}
		after = rows[len(rows)-1]
	}
	return r.idx.next(now)
}

// worker delivers alarms until the dispatcher stops.
func (r *Runner) worker() {
	for row := range r.work {
		due := r.fire(row)
		r.mu.Lock()
		delete(r.inflight, rowKey{row.Class, row.ID})
		r.mu.Unlock()
		if due {
			// A pass while the row was in flight skipped it: ask for
			// another, now that it is not.
			select {
			case r.kick <- struct{}{}:
			default:
			}
		}
	}
}

// fire delivers row's alarm and updates row from the result. It reports
// whether the row may still be due: the update did not apply because the
// row changed meanwhile, or failed.
func (r *Runner) fire(row Row) (due bool) {
	ns := r.ns[row.Class]
	if ns == nil {
		return r.postpone(row, fmt.Errorf("no namespace is bound to class %q", row.Class))
	}
	id, err := ns.IDFromString(hex.EncodeToString(row.ID[:]))
	if err != nil {
		return r.postpone(row, err)
	}
	if row.Name != "" {
		id = id.WithName(row.Name)
	}
	if row.RetryCount > den.AlarmRetryLimit {
		return r.abandon(row, ns, id, row.Retried, row.RetryCount, nil)
	}
	res, err := r.cfg.Objects.DeliverAlarm(r.runCtx, ns, id, den.AlarmAttempt{Retried: row.Retried, RetryCount: row.RetryCount, Timeout: r.cfg.Timeout})
	if err != nil && r.closing.Load() {
		return false // leave the row as it is: the alarm runs again after a restart
	}
	switch {
	case err == nil:
		if res.Ran {
			r.delivered.Add(1)
		} else if res.Scheduled.IsZero() {
			r.skipped.Add(1)
		}
		return r.update(row, Row{Due: res.Next})
	case res.Ran && den.IsRemote(err):
		r.failed.Add(1)
		count := 1 // retries of this alarm time, this one included
		if row.Retried.Equal(res.Scheduled) {
			count = row.RetryCount + 1
		}
		if count > den.AlarmRetryLimit {
			return r.abandon(row, ns, id, res.Scheduled, count, err)
		}
		delay := r.backoff(count - 1)
		r.log.Warn("alarm handler failed; retrying", "class", row.Class, "id", id.String(), "scheduled", res.Scheduled, "retry", count, "in", delay.Round(time.Millisecond), "err", err)
		return r.update(row, Row{Due: r.cfg.Now().Add(delay), Retried: res.Scheduled, RetryCount: count})
	default:
		return r.postpone(row, err)
	}
}

// abandon deletes the object's alarm scheduled after its retries ran out.
func (r *Runner) abandon(row Row, ns *den.Namespace, id den.ID, scheduled time.Time, count int, cause error) (due bool) {
	res, err := r.cfg.Objects.AbandonAlarm(r.runCtx, ns, id, scheduled)
	if err != nil {
		if r.closing.Load() {
			return false
		}
		r.errors.Add(1)
		delay := r.backoff(row.Failures)
		r.log.Warn("alarm could not be abandoned; trying again", "class", row.Class, "id", id.String(), "in", delay.Round(time.Millisecond), "err", err)
		return r.update(row, Row{Due: r.cfg.Now().Add(delay), Retried: scheduled, RetryCount: count, Failures: row.Failures + 1})
	}
	if !res.Scheduled.IsZero() {
		r.abandoned.Add(1)
		attrs := []any{"class", row.Class, "id", id.String(), "scheduled", scheduled, "retries", den.AlarmRetryLimit}
		if cause != nil {
			attrs = append(attrs, "err", cause)
		}
		r.log.Error("alarm abandoned: its handler failed on every retry", attrs...)
	}
	return r.update(row, Row{Due: res.Next})
}

// postpone retries a delivery that failed without running the handler,
// without counting it as a retry.
func (r *Runner) postpone(row Row, cause error) (due bool) {
	r.errors.Add(1)
	delay := r.backoff(row.Failures)
	r.log.Warn("alarm could not be delivered; trying again", "class", row.Class, "id", hex.EncodeToString(row.ID[:]), "in", delay.Round(time.Millisecond), "err", cause)
	return r.update(row, Row{Due: r.cfg.Now().Add(delay), Retried: row.Retried, RetryCount: row.RetryCount, Failures: row.Failures + 1})
}

// update replaces row with next in the index (deletes it if next.Due is
// zero) unless the row changed since it was read (an alarm was scheduled
// meanwhile). It reports whether the row may still be due: it was not
// replaced, or the new due time has passed.
func (r *Runner) update(row Row, next Row) (due bool) {
	applied, err := r.idx.set(context.Background(), row, next)
	if err != nil {
		if !r.closing.Load() {
			r.log.Error("update alarm index", "class", row.Class, "id", hex.EncodeToString(row.ID[:]), "err", err)
		}
		return false // no hot loop on a failing index: the next pass or start retries
	}
	return !applied || !next.Due.IsZero() && !next.Due.After(r.cfg.Now())
}

// backoff returns the delay before retry n+1: AlarmRetryDelay doubled n times
// (at most 9), plus up to 25% jitter.
func (r *Runner) backoff(n int) time.Duration {
	d := den.AlarmRetryDelay << min(max(n, 0), maxBackoffShift)
	return d + time.Duration(r.cfg.Jitter()*0.25*float64(d))
}
