package actor

import (
	"context"
	"log/slog"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/internal/reqlog"
)

// sampleEvery is the least time between two samples of an object's database
// size after writes (it is sampled again when the object leaves memory).
const sampleEvery = int64(time.Second)

// turnUse is what the running turn used, for the Observer (owned by run).
// Re-entrant turns save and restore the outer turn's.
type turnUse struct {
	ev            *event        // the event, for log lines
	read, written int64         // key-value rows and alarm writes
	cursors       []*den.Cursor // SQL cursors opened, read for their row counts at the end
	activated     bool          // the instance was constructed
}

// observe reports the turn that just ended to obs.
func (a *actor) observe(obs den.Observer, ev *event, start time.Time, err error, wrote bool) {
	end := time.Now()
	now := end.UnixNano()
	read, written := a.use.read, a.use.written
	for _, c := range a.use.cursors {
		read += c.RowsRead()
		written += c.RowsWritten()
	}
	s := den.TurnStats{
		Namespace: a.ns, ID: a.id, Kind: ev.kind,
		Duration: end.Sub(start), Busy: time.Duration(now - a.busyFrom),
		RowsRead: read, RowsWritten: written,
		Wrote: wrote, Held: a.holding, Activated: a.use.activated, Bytes: -1, Code: den.ErrorCode(err),
	}
	a.busyFrom = now
	if wrote {
		a.unsampled = true
	}
	if a.unsampled && now-a.sampled >= sampleEvery {
		s.Bytes = a.sample(now)
	}
	obs.Turn(s)
}

// observeIdle reports that the object has no more work.
func (a *actor) observeIdle() {
	now := time.Now().UnixNano()
	a.h.cfg.Observer.Idle(a.ns, a.id, time.Duration(now-a.busyFrom))
	a.busyFrom = 0
}

// sample reads the database's size into a.bytes and returns it, or -1.
func (a *actor) sample(now int64) int64 {
	if a.db == nil {
		return -1
	}
	n, err := a.db.SQL().DatabaseSize()
	if err != nil {
		return -1
	}
	a.bytes, a.sampled, a.unsampled = n, now, false
	return n
}

// exister is a den.Store that can tell whether an object's database exists
// (sqlite.Store).
type exister interface {
	Exists(class string, id den.ID) bool
}

// leave closes the object as it leaves memory, reporting it to the Observer.
func (a *actor) leave() {
	obs := a.h.cfg.Observer
	if obs == nil {
		a.close()
		return
	}
	if a.unsampled {
		a.sample(time.Now().UnixNano())
	}
	a.close()
	if a.busyFrom != 0 {
		a.observeIdle()
	}
	stored := a.bytes >= 0
	if ex, ok := a.h.cfg.Store.(exister); ok {
		stored = ex.Exists(a.key.class, a.id)
	}
	obs.Left(a.ns, a.id, a.bytes, stored)
}

// log writes a line about the object: its class, namespace and ID, and the
// request ID of the event it is handling, if any.
func (a *actor) log(level slog.Level, msg string, attrs ...slog.Attr) {
	ctx := context.Background()
	if a.use.ev != nil {
		ctx = a.use.ev.ctx
	}
	if !a.h.log.Enabled(ctx, level) {
		return
	}
	base := []slog.Attr{slog.String("class", a.key.class), slog.String("namespace", a.ns.Binding()), slog.String("object_id", a.id.String())}
	if info := reqlog.From(ctx); info != nil {
		base = append(base, slog.String("request_id", info.ID))
	}
	a.h.log.LogAttrs(ctx, level, msg, append(base, attrs...)...)
}

// Queued returns the number of events queued for live objects and not yet
// handled, across the host.
func (h *Host) Queued() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := int64(0)
	for _, a := range h.actors {
		n += a.pending.Load()
	}
	return int(n)
}

// IsLive reports whether the object id of class is in memory with an
// instance (not resting: see Config.StorageIdleTimeout).
func (h *Host) IsLive(class string, id den.ID) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	a := h.actors[key{class: class, id: id.Bytes()}]
	return a != nil && !a.resting.Load()
}
