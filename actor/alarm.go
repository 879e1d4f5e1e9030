package actor

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/den-run/den"
)

// alarmRun is the alarm handler running on an object (owned by run). While
// it runs, the alarm it was called for reads as unset; it is deleted when the
// handler succeeds, unless the handler set it again to the same time (keep).
type alarmRun struct {
	scheduled time.Time
	keep      bool
}

// alarmTx remembers the object's alarm as it was before the first alarm write
// since the last commit (owned by run). At commit, an alarm that differs
// from base must be in the node's schedule before the commit can become
// durable.
//
// It is cleared only when a commit succeeds. After a rollback it may be
// stale, which is harmless: base is then either the alarm committed before
// the rolled-back transaction or "none" (after a DeleteAll), so the worst
// outcome is a redundant ScheduleAlarm, never a missing one.
type alarmTx struct {
	touched bool
	base    time.Time
	baseOK  bool
}

var errAlarmTimeout = errors.New("alarm handler timed out")

func (s *storage) GetAlarm() (time.Time, bool, error) {
	db, err := s.db()
	if err != nil {
		return time.Time{}, false, err
	}
	t, ok, err := db.GetAlarm()
	if err != nil || !ok {
		return time.Time{}, false, err
	}
	if r := s.a.alarm; r != nil && !r.keep && t.Equal(r.scheduled) {
		return time.Time{}, false, nil // the running alarm reads as deleted
	}
	return t, true, nil
}

func (s *storage) SetAlarm(t time.Time) error {
	db, err := s.db()
	if err != nil {
		return err
	}
	at, err := den.CheckAlarmTime(t, time.Now())
	if err != nil {
		return err
	}
	if err := s.a.touchAlarm(db); err != nil {
		return err
	}
	s.a.gated = true
	s.a.use.written++
	if err := db.SetAlarm(at); err != nil {
		return err
	}
	if r := s.a.alarm; r != nil {
		r.keep = at.Equal(r.scheduled)
	}
	return nil
}

func (s *storage) DeleteAlarm() error {
	db, err := s.db()
	if err != nil {
		return err
	}
	if err := s.a.touchAlarm(db); err != nil {
		return err
	}
	s.a.gated = true
	s.a.use.written++
	if err := db.DeleteAlarm(); err != nil {
		return err
	}
	if r := s.a.alarm; r != nil {
		r.keep = false
	}
	return nil
}

// touchAlarm records the alarm before the first alarm write since the last
// commit.
func (a *actor) touchAlarm(db den.Database) error {
	if a.alarmTx.touched {
		return nil
	}
	t, ok, err := db.GetAlarm()
	if err != nil {
		return err
	}
	a.alarmTx = alarmTx{touched: true, base: t, baseOK: ok}
	return nil
}

// scheduleAlarm runs right before a turn's transaction commits (t is the
// turn committing). If the transaction leaves the object with an alarm it did
// not have before, the node's schedule must hold it before the commit can
// become durable, so it calls the AlarmScheduler first; if that fails, the
// caller must not commit.
//
// Alarms set while an alarm handler runs, and by the alarm turn itself, are
// not reported: the runner holds a schedule entry at or before now for the
// object, so no alarm set then (never earlier than now) can be missed, and it
// updates the entry from the delivery's result.
func (a *actor) scheduleAlarm(t *turn) error {
	skip := a.alarm != nil || a.alarmTurn == t || a.h.cfg.Alarms == nil
	a.alarmTurn = nil
	if !a.alarmTx.touched {
		return nil
	}
	if !skip {
		at, ok, err := a.db.GetAlarm()
		if err != nil {
			return err
		}
		tx := a.alarmTx
		if ok && !(tx.baseOK && at.Equal(tx.base)) {
			if err := a.h.cfg.Alarms.ScheduleAlarm(a.h.ctx, a.key.class, a.id, at); err != nil {
				return &den.Error{Code: den.EUNAVAILABLE, Message: "Durable Object alarm could not be scheduled, so the event's writes were rolled back: " + err.Error(), Retryable: true}
			}
		}
	}
	a.alarmTx = alarmTx{}
	return nil
}

// DeliverAlarm runs the object's alarm handler as a turn, constructing the
// object if needed, if its alarm is due; see [den.AlarmDeliverer]. The turn
// is serialized with the object's other events and its result is released
// through the output gate, so res.Next is durable when DeliverAlarm returns.
//
// If the object's class has no Alarm method, the alarm is deleted with a
// warning and not retried. The caller must hold a schedule entry for the
// object at or before now (alarms the handler sets are not reported to the
// AlarmScheduler) and deliver one alarm at a time per object.
func (h *Host) DeliverAlarm(ctx context.Context, ns *den.Namespace, id den.ID, attempt den.AlarmAttempt) (den.AlarmResult, error) {
	var res den.AlarmResult
	_, err := h.run(ctx, ns, id, false, den.EventAlarm, func(ctx context.Context, obj any, st den.State) ([]byte, error) {
		s := st.(*state)
		return nil, s.a.runAlarm(ctx, obj, s, attempt, &res)
	})
	return res, err
}

// runAlarm is the alarm turn: it checks the object's own record, runs the
// handler and, if it succeeds, deletes the alarm it ran for.
func (a *actor) runAlarm(ctx context.Context, obj any, s *state, attempt den.AlarmAttempt, res *den.AlarmResult) error {
	db, err := (*storage)(s).db()
	if err != nil {
		return err
	}
	rec, ok, err := db.GetAlarm()
	if err != nil {
		return err
	}
	if ok {
		res.Next = rec
	}
	if !ok || rec.After(time.Now()) {
		return nil // not due: the schedule was early or stale
	}
	res.Scheduled = rec
	handler, isHandler := obj.(den.AlarmHandler)
	if !isHandler {
		a.log(slog.LevelWarn, den.MsgAlarmNoHandler)
		if err := db.DeleteAlarm(); err != nil {
			return err
		}
		a.gated = true
		res.Next = time.Time{}
		return nil
	}
	info := den.AlarmInfo{ScheduledTime: rec}
	if attempt.RetryCount > 0 && attempt.Retried.Equal(rec) {
		info.IsRetry, info.RetryCount = true, attempt.RetryCount
	}
	timeout := attempt.Timeout
	if timeout <= 0 {
		timeout = den.AlarmTimeout
	}
	run := &alarmRun{scheduled: rec}
	a.alarm = run
	defer func() { a.alarm = nil }()
	res.Ran = true
	hctx, cancel := context.WithTimeoutCause(ctx, timeout, errAlarmTimeout)
	defer cancel()
	err = handler.Alarm(hctx, info)
	if context.Cause(hctx) == errAlarmTimeout {
		err = &den.Error{Code: den.ETIMEOUT, Message: den.MsgAlarmTimeout}
	}
	if err != nil {
		return err
	}
	// The handler succeeded: now the running alarm is deleted, in the same
	// transaction as the handler's writes.
	if db, err = (*storage)(s).db(); err != nil {
		return err
	}
	next, ok, err := db.GetAlarm()
	if err != nil {
		return err
	}
	if ok && next.Equal(rec) && !run.keep {
		if err := db.DeleteAlarm(); err != nil {
			return err
		}
		a.gated = true
		ok = false
	}
	res.Next = time.Time{}
	if ok {
		res.Next = next
	}
	a.alarmTurn = turnFrom(ctx)
	return nil
}

// AbandonAlarm deletes the object's alarm if it is still set for scheduled,
// without constructing the object; see [den.AlarmDeliverer].
func (h *Host) AbandonAlarm(ctx context.Context, ns *den.Namespace, id den.ID, scheduled time.Time) (den.AlarmResult, error) {
	var res den.AlarmResult
	_, err := h.Run(ctx, ns, id, true, func(ctx context.Context, obj any, st den.State) ([]byte, error) {
		s := st.(*state)
		db, err := (*storage)(s).db()
		if err != nil {
			return nil, err
		}
		rec, ok, err := db.GetAlarm()
		if err != nil {
			return nil, err
		}
		if ok && rec.Equal(scheduled) {
			if err := db.DeleteAlarm(); err != nil {
				return nil, err
			}
			s.a.gated = true
			res.Scheduled = rec
			ok = false
		}
		if ok {
			res.Next = rec
		}
		return nil, nil
	})
	return res, err
}

var _ den.AlarmDeliverer = (*Host)(nil)
