package den

import (
	"context"
	"time"
)

// Alarm retry policy and limits, as Cloudflare sets them.
const (
	// AlarmRetryLimit is how many counted retries a failing alarm handler
	// gets before the alarm is abandoned and deleted.
	AlarmRetryLimit = 6
	// AlarmRetryDelay is the first retry's delay; each later one doubles
	// it (up to 1,024 s), plus up to 25% jitter.
	AlarmRetryDelay = 2 * time.Second
	// AlarmTimeout is the default time limit of one alarm handler run.
	AlarmTimeout = 15 * time.Minute
)

// Messages of the alarm errors and warnings, as Cloudflare words them.
const (
	MsgAlarmTimeout   = "Alarm exceeded its allowed execution time"
	MsgAlarmNoHandler = "Attempted to run a scheduled alarm without a handler, did you remember to export an alarm() function?"
	MsgAlarmTime      = "setAlarm() cannot be called with an alarm time <= 0"
)

// AlarmInfo describes the alarm an [AlarmHandler] receives.
type AlarmInfo struct {
	// ScheduledTime is the time the alarm was set for (millisecond
	// precision).
	ScheduledTime time.Time
	// IsRetry reports whether an earlier run of this alarm failed.
	IsRetry bool
	// RetryCount is the number of counted retries so far: 0 on the first
	// run, at most AlarmRetryLimit.
	RetryCount int
}

// AlarmHandler is implemented by an object that receives alarms. Alarm runs
// as a turn like any other event: one at a time with the object's other
// events, inside the turn's implicit transaction, with its writes durable
// before the alarm counts as delivered. An evicted object is constructed
// first.
//
// Alarms are delivered at least once. If Alarm returns an error, panics or
// aborts, its writes roll back and it runs again after AlarmRetryDelay,
// doubling, up to AlarmRetryLimit counted retries; then the alarm is
// abandoned. ctx expires after AlarmTimeout (configurable on the runner);
// a handler that returns after that has failed.
//
// While Alarm runs, the alarm reads as unset. Setting one schedules the next
// run; the running alarm is deleted only when Alarm succeeds.
type AlarmHandler interface {
	Alarm(ctx context.Context, info AlarmInfo) error
}

// AlarmStorage is an object's single alarm. An object has at most one: a new
// time replaces the old. Alarm operations are storage operations: they join
// the turn's implicit transaction (a turn that fails sets no alarm) and hold
// its output like any other write.
//
// As part of [Storage], SetAlarm refuses a time at or before the Unix epoch
// (EINVALID), keeps millisecond precision and moves a time in the past to now,
// so the alarm runs at once; inside [AlarmHandler.Alarm] the running alarm
// reads as unset. As part of [Database] the methods read and write the stored
// record as is.
type AlarmStorage interface {
	// GetAlarm returns the time of the object's alarm and whether one is
	// set.
	GetAlarm() (t time.Time, ok bool, err error)
	// SetAlarm sets the object's alarm to t, replacing any other.
	SetAlarm(t time.Time) error
	// DeleteAlarm deletes the object's alarm, if any. Called while the
	// alarm handler runs, it does not stop the handler but cancels an
	// alarm the handler set.
	DeleteAlarm() error
}

// CheckAlarmTime returns the time SetAlarm stores for t, given the current
// time now: t with millisecond precision, or now if t is earlier. It returns
// an EINVALID error if t is at or before the Unix epoch.
func CheckAlarmTime(t, now time.Time) (time.Time, error) {
	ms := t.UnixMilli()
	if ms <= 0 {
		return time.Time{}, Errorf(EINVALID, "%s", MsgAlarmTime)
	}
	if n := now.UnixMilli(); ms < n {
		ms = n
	}
	return time.UnixMilli(ms), nil
}

// AlarmScheduler is the node-wide schedule of alarms, as the runtime reports
// to it. Before the runtime commits a turn that leaves an object with an
// alarm it did not have at the start of the transaction, it calls
// ScheduleAlarm; if that fails, the turn fails and rolls back.
//
// ScheduleAlarm returns once the schedule durably holds an entry for the
// object at or before at, so that an alarm committed in an object's database
// is always in the schedule (the schedule may hold more, and earlier, entries
// than the objects do: a firing checks the object's own record). It may be
// called from many goroutines at once. Errors are *Error values.
type AlarmScheduler interface {
	ScheduleAlarm(ctx context.Context, class string, id ID, at time.Time) error
}

// AlarmAttempt is one delivery of an alarm by the runner.
type AlarmAttempt struct {
	// Retried is the alarm time earlier runs failed for, and RetryCount
	// how many counted retries it has had. They apply only if the object's
	// alarm still has that time; otherwise the run is a first run.
	Retried    time.Time
	RetryCount int
	// Timeout bounds the handler; zero means AlarmTimeout.
	Timeout time.Duration
}

// AlarmResult is what a delivery found and left behind.
type AlarmResult struct {
	// Scheduled is the time of the alarm that was due, or zero if the
	// object had no alarm due (nothing ran).
	Scheduled time.Time
	// Ran reports whether the handler was called.
	Ran bool
	// Next is the object's alarm after the turn (zero if none). When a
	// delivery returns, Next is durable.
	Next time.Time
}

// AlarmDeliverer delivers alarms to objects as turns; actor.Host implements
// it. Its methods may be called from many goroutines, but the caller must
// not deliver two alarms to one object at once, and must hold a schedule
// entry for the object at or before now while it delivers (the runtime does
// not report alarms the handler sets to the AlarmScheduler: the caller
// updates its entry from the result).
type AlarmDeliverer interface {
	// DeliverAlarm runs the object's alarm handler if its alarm is due,
	// constructing the object if needed. If res.Ran and err is remote
	// ([IsRemote]), the handler failed (returned an error, panicked,
	// aborted or ran out of time): its writes rolled back, the alarm
	// stays, and the retry counts. Any other error means the alarm could
	// not be delivered (the object is overloaded or failed to construct,
	// storage failed, the host is shutting down): retry it without
	// counting.
	DeliverAlarm(ctx context.Context, ns *Namespace, id ID, attempt AlarmAttempt) (res AlarmResult, err error)
	// AbandonAlarm deletes the object's alarm if it still has time
	// scheduled, after its retries ran out. It does not construct the
	// object.
	AbandonAlarm(ctx context.Context, ns *Namespace, id ID, scheduled time.Time) (res AlarmResult, err error)
}
