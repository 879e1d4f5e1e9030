package actor

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/den-run/den"
)

// actor is one object on the host. Its goroutine (run) owns the instance, its
// database and every field below "owned by run".
type actor struct {
	h     *Host
	key   key
	ns    *den.Namespace
	class *den.Class

	mailbox mailbox       // events in arrival order (mailbox.go)
	reentry chan *event   // events of a call chain this object waits in; nil until its first outgoing call (ensureReentry)
	wake    chan struct{} // cap 1: look at stopRequested and failed
	done    chan struct{} // closed when run returns
	prev    chan struct{} // done of the actor this one replaces, or nil

	used      uint64 // h.clock when its last event was enqueued; guarded by h.mu
	protected bool   // a second event came while it was live (evict.go); guarded by h.mu
	evicted   bool   // the live cap asked it to leave (evict.go); guarded by h.mu

	pending       atomic.Int64 // events queued and not yet handled
	keepalive     atomic.Int32 // WaitUntil work still running
	flushing      atomic.Int32 // commits whose durability is not yet known
	lastActive    atomic.Int64 // unix nanoseconds when the last turn ended
	stopRequested atomic.Bool
	restRequested atomic.Bool               // drop the instance, keep the database (Config.StorageIdleTimeout)
	resting       atomic.Bool               // the instance left, the database is open: changed by run under h.mu (Host.setResting)
	failed        atomic.Pointer[den.Error] // set when a commit could not be made durable
	barrierWait   atomic.Bool               // held writes wait for the running barrier to end (coalesce.go)

	// owned by run
	id    den.ID
	db    den.Database
	obj   any
	st    *state
	depth int  // turns on the stack: more than one while re-entrant turns run
	stale bool // a reset happened in a turn: close the database when it ends
	block int  // BlockConcurrencyWhile depth
	tx    int  // Storage.Transaction depth
	gated bool // a write since Begin holds the output gate (not Unconfirmed)
	// held: outputs of turns whose writes wait, uncommitted, for the next
	// COMMIT; holding: the turn that just ended joined them (coalesce.go)
	held         []heldOutput
	holding      bool
	barrierEnded func() // pokes the object; given to Committer.Later
	// restart: an operator staged a restore in this turn; close the
	// database and drop the instance when it ends (bookmark.go)
	restart bool

	alarm     *alarmRun // the alarm handler running, or nil (alarm.go)
	alarmTx   alarmTx   // the alarm before this transaction's first alarm write
	alarmTurn *turn     // an alarm turn whose commit reports nothing to the schedule

	use           turnUse    // what the running turn used (observe.go)
	busyFrom      int64      // unix ns when the object became busy; 0 while idle or unobserved
	bytes         int64      // the database's size at the last sample, -1 if never
	sampled       int64      // unix ns of the last size sample
	unsampled     bool       // a write since the last sample
	wiped         bool       // the running turn wiped the object (Host.Wipe)
	removeOnClose bool       // wiped: delete its history and files when the database closes
	ws            wsInstance // the instance's WebSockets (websocket.go)
}

func newActor(h *Host, k key, ns *den.Namespace, class *den.Class, id den.ID) *actor {
	a := &actor{
		h: h, key: k, ns: ns, class: class, id: id,
		mailbox: newMailbox(h.cfg.MaxQueue),
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		bytes:   -1,
	}
	a.lastActive.Store(time.Now().UnixNano())
	return a
}

// idle reports whether nothing is queued for a and nothing keeps it alive.
func (a *actor) idle() bool { return a.pending.Load() == 0 && a.keepalive.Load() == 0 }

// requestStop asks a to leave memory as soon as it is idle.
func (a *actor) requestStop() {
	a.stopRequested.Store(true)
	a.poke()
}

// ensureReentry makes a's re-entry queue before its first outgoing call:
// only an object waiting in a call chain receives events through it, and
// most objects never call out, so they do without its buffer (MaxQueue
// pointers). It runs on a's goroutine, which alone reads the field without
// h.mu; enqueue reads it under h.mu.
func (a *actor) ensureReentry() {
	if a.reentry != nil {
		return
	}
	q := make(chan *event, a.h.cfg.MaxQueue)
	a.h.mu.Lock()
	a.reentry = q
	a.h.mu.Unlock()
}

// requestRest asks a to drop its instance as soon as it is idle, keeping
// its database open.
func (a *actor) requestRest() {
	a.restRequested.Store(true)
	a.poke()
}

func (a *actor) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// run is the actor's goroutine.
func (a *actor) run() {
	defer close(a.done)
	if a.prev != nil {
		<-a.prev // the previous instance closes its database first
	}
	for {
		a.leaveDB() // nothing runs on the database while the object waits
		var ev *event
		select {
		case ev = <-a.mailbox.ch:
			a.mailbox.received()
		case ev = <-a.reentry:
		case <-a.wake:
		}
		a.enterDB()
		if ev != nil {
			a.handle(ev)
		}
		if e := a.failed.Swap(nil); e != nil {
			a.reset(e)
		}
		if a.commitDue() {
			a.commitHeld() // no turn followed, or the awaited barrier ended
		}
		if a.busyFrom != 0 && a.idle() && a.flushing.Load() == 0 && len(a.held) == 0 {
			a.observeIdle()
		}
		if a.restRequested.Swap(false) && a.idle() && a.depth == 0 &&
			time.Now().UnixNano()-a.lastActive.Load() >= int64(a.h.cfg.IdleTimeout) {
			a.rest() // not if an event came in since the janitor looked
		}
		if a.stopRequested.Load() {
			if a.h.remove(a) {
				a.leave()
				a.h.forget(a)
				return
			}
			a.h.keepIfNotClosing(a)
		}
	}
}

// stackLender is a database whose connection holds a C stack only between
// Enter and Leave (sqlite.DB; sqlite/stack.go): the object's goroutine
// enters before it touches the database and leaves before it waits, so
// the stacks in use are those of the objects running.
type stackLender interface {
	Enter()
	Leave()
}

func (a *actor) enterDB() {
	if l, ok := a.db.(stackLender); ok {
		l.Enter()
	}
}

func (a *actor) leaveDB() {
	if l, ok := a.db.(stackLender); ok {
		l.Leave()
	}
}

// keepIfNotClosing withdraws a's request to leave, which remove refused:
// WaitUntil work keeps it alive. Unless the host is closing.
func (h *Host) keepIfNotClosing(a *actor) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closing && a.pending.Load() == 0 && a.flushing.Load() == 0 {
		a.stopRequested.Store(false)
		h.unevict(a)
	}
}

// rest drops the instance, as an eviction does, and keeps the database
// open: the next event constructs the object again without opening it. The
// instance is gone the same way (its memory, its WebSocket handles; its
// hibernatable WebSockets stay with the hub), so the difference is not
// observable, except in time.
func (a *actor) rest() {
	if a.db == nil { // a reset closed it: nothing to keep
		a.stopRequested.Store(true)
		return
	}
	a.dropInstance()
	a.h.setResting(a, true)
}

// dropInstance lets the instance go: its state reads as dead to anything
// that kept it, and the hub holds its WebSockets as hibernated.
func (a *actor) dropInstance() {
	if a.st != nil {
		a.st.dead = true
	}
	a.obj, a.st = nil, nil
	a.wsLive(false)
	a.wsDrop()
}

// close drops the instance and closes the database, committing the writes
// of turns held for one that did not come.
func (a *actor) close() {
	a.commitHeld()
	a.dropInstance()
	if a.db != nil {
		if err := a.db.Close(); err != nil {
			a.log(slog.LevelError, "close object database", slog.Any("err", err))
		}
		// A committer that remembers failed databases may forget this one
		// once no barrier covering it is still running: a barrier in
		// flight must still see the earlier failure.
		if f, ok := a.h.cfg.Committer.(interface{ Forget(den.Database) }); ok && a.flushing.Load() == 0 {
			f.Forget(a.db)
		}
		a.db = nil
		if a.removeOnClose {
			a.removeWiped()
		}
	}
}

// reset drops the instance after a failure; the database survives. While
// re-entrant turns are on the stack, the outer turns see their state dead and
// fail; the database closes when the outermost turn ends.
func (a *actor) reset(cause *den.Error) {
	a.log(slog.LevelWarn, "object reset", slog.String("err", cause.Message))
	a.failHeld(cause)
	if a.st != nil {
		a.st.dead = true
	}
	a.obj, a.st = nil, nil
	a.wsReset() // a reset disconnects the object's WebSockets
	if a.depth == 0 {
		a.close()
	} else {
		a.stale = true
	}
}

// handle runs one event as a turn and arranges for its reply.
func (a *actor) handle(ev *event) {
	obs := a.h.cfg.Observer
	var start time.Time
	if obs != nil {
		start = time.Now()
		if a.busyFrom == 0 {
			a.busyFrom = start.UnixNano()
		}
	}
	if a.resting.Load() {
		a.h.setResting(a, false)
	}
	defer func() {
		a.pending.Add(-1)
		a.lastActive.Store(time.Now().UnixNano())
	}()
	// A failed barrier stores failed before it fails the held reply, so an
	// event sent after the caller saw that error finds the flag here, even
	// if the loop picked the event before its wake-up.
	if e := a.failed.Swap(nil); e != nil {
		a.reset(e)
	}
	if ev.ctx.Err() != nil {
		err := canceled(ev.ctx)
		if obs != nil {
			obs.Refused(a.ns, ev.id, ev.kind, den.ErrorCode(err))
		}
		ev.send(result{err: err})
		return
	}
	if ev.id.Name() != "" && a.id.Name() == "" {
		a.id = ev.id
	}
	outer := a.use
	a.use = turnUse{ev: ev}
	a.depth++
	r, wrote, gated := a.turn(ev)
	a.depth--
	if obs != nil {
		a.observe(obs, ev, start, r.err, wrote)
	}
	if a.wiped {
		a.dropWiped()
	}
	a.use = outer
	if a.depth == 0 && a.stale {
		a.stale = false
		a.close() // a reset happened: reopen the database on the next event
	}
	if r.err != nil {
		ev.send(r)
		a.restartIfAsked()
		return
	}
	a.release(wrote, gated, func(err error) {
		if err != nil {
			r = result{err: err}
		}
		ev.send(r)
	})
	a.restartIfAsked()
}

// release opens the output gate for a turn's result. It sends at once when
// nothing is waiting to become durable, or when the turn's only writes were
// unconfirmed and no earlier write is pending; otherwise once the committer
// says the writes are durable (durability of a later write implies that of
// every earlier one of the same database).
func (a *actor) release(wrote, gated bool, send func(error)) {
	send = a.withOutbox(send) // WebSocket sends go out with the reply
	if a.holding {
		// The turn's writes are not committed yet (coalesce.go).
		a.holding = false
		if !a.dbHeld() { // a reset took them
			send(a.resetError("the object was reset before this event's writes were committed"))
			return
		}
		a.held = append(a.held, heldOutput{wrote, gated, send})
		return
	}
	if len(a.held) > 0 && !a.dbHeld() {
		a.releaseHeld() // committed with this turn's writes, and before them
	}
	a.gate(wrote, gated, send)
}

// gate is release for a committed turn.
func (a *actor) gate(wrote, gated bool, send func(error)) {
	pending := a.flushing.Load() > 0
	if !wrote && !pending {
		send(nil)
		return
	}
	early := !gated && !pending
	if early {
		send(nil)
	}
	a.flushing.Add(1)
	oid := a.id.String() // done may run on another goroutine
	a.h.cfg.Committer.Flush(a.db, func(err error) {
		var e *den.Error
		if err != nil {
			e = &den.Error{Code: den.EUNAVAILABLE, Message: "Durable Object storage could not make a write durable, so the object was reset: " + err.Error(), Retryable: true, Reset: true, ObjectID: oid}
			a.failed.Store(e)
		}
		// Count the flush done before sending: the send may resume a turn
		// (Storage.Sync) whose own release must not see this flush as
		// still pending and wait for another barrier.
		a.flushing.Add(-1)
		defer a.poke() // an object asked to leave waits for its flushes
		switch {
		case early:
		case e != nil:
			send(e)
		default:
			send(nil)
		}
	})
}

// turn activates the object if needed and runs ev inside the implicit
// transaction. It reports the result, whether the turn wrote, and whether a
// write holds the output gate.
func (a *actor) turn(ev *event) (result, bool, bool) {
	if a.db == nil {
		db, err := a.h.cfg.Store.Open(ev.ctx, a.key.class, a.id)
		if err != nil {
			return result{err: a.errorf(den.AsError(err))}, false, false
		}
		a.db = db
		a.afterOpen(ev.ctx)
	}
	a.gated = false
	if err := a.db.Begin(); err != nil {
		a.reset(den.AsError(err))
		return result{err: a.errorf(den.AsError(err))}, false, false
	}
	ctx := ev.ctx
	mark := a.wsMark()
	if ev.bare {
		st := a.st
		if st == nil {
			st = &state{a: a} // storage only; the instance is not constructed
		}
		t := &turn{a: a, st: st, chain: ev.chain, ws: mark}
		r := a.invoke(withTurn(ctx, t), t, ev)
		t.ended.Store(true)
		return a.finish(r, t, false)
	}
	if a.obj == nil {
		st := &state{a: a}
		t := &turn{a: a, st: st, chain: ev.chain}
		a.st = st
		obj, err := a.construct(withTurn(ctx, t), t, st)
		t.ended.Store(true)
		if err != nil {
			a.db.Rollback()
			a.wsRollback(mark)
			if a.st == st {
				a.obj, a.st = nil, nil
			}
			return result{err: err}, false, false
		}
		a.obj = obj
		a.use.activated = true
		a.wsLive(true)
	}
	t := &turn{a: a, st: a.st, chain: ev.chain, ws: mark}
	r := a.invoke(withTurn(ctx, t), t, ev)
	t.ended.Store(true)
	return a.finish(r, t, true)
}

// finish commits a turn that succeeded, or holds its writes for the next
// turn's commit if coalesce allows, and rolls back one that failed.
func (a *actor) finish(r result, t *turn, coalesce bool) (result, bool, bool) {
	if r.err == nil && t.st.dead {
		r.err = a.resetError("the object was reset while this event ran")
	}
	if r.err != nil {
		a.wsRollback(t.ws) // its sends are dropped with its writes
		if a.db != nil {
			// A rollback that fails leaves the database broken (a critical
			// error hit while reading, say): reset now, not on the next event.
			if err := a.db.Rollback(); err != nil && !t.st.dead {
				a.reset(den.AsError(err))
			}
		}
		return r, false, false
	}
	if err := a.scheduleAlarm(t); err != nil { // before the commit can become durable
		a.db.Rollback()
		return result{err: a.errorf(den.AsError(err))}, false, false
	}
	if coalesce {
		if ok, wrote, err := a.hold(t); err != nil {
			return result{err: err}, false, false
		} else if ok {
			return r, wrote, a.gated
		}
	}
	wrote, err := a.db.Commit()
	if err != nil {
		e := den.AsError(err)
		a.wsRollback(t.ws)
		a.reset(e)
		return result{err: a.errorf(&den.Error{Code: e.Code, Message: e.Message, Retryable: true, Reset: true})}, false, false
	}
	a.wsCommit(t.ws)
	return r, wrote, a.gated
}

// construct runs the class's New, turning a panic into an error.
func (a *actor) construct(ctx context.Context, t *turn, st *state) (obj any, err error) {
	defer a.recoverTurn(st, &err)
	obj, err = a.class.New(st, a.h.env)
	if err != nil {
		return nil, a.remote(err)
	}
	if st.dead {
		return nil, a.resetError("the object was reset while it was constructed")
	}
	if obj == nil {
		return nil, a.errorf(den.Errorf(den.EINTERNAL, "class %q: New returned a nil object", a.class.Name))
	}
	return obj, nil
}

// invoke runs the handler for ev.
func (a *actor) invoke(ctx context.Context, t *turn, ev *event) (r result) {
	defer a.recoverTurn(t.st, &r.err)
	if ev.run != nil {
		data, err := ev.run(ctx, a.obj, t.st)
		if err != nil {
			err = a.remote(err)
		}
		return result{data: data, err: err}
	}
	if ev.req != nil {
		resp, err := a.fetch(ctx, ev)
		return result{resp: resp, err: err}
	}
	data, err := a.call(ctx, ev)
	return result{data: data, err: err}
}

// abortPanic unwinds a turn that called State.Abort.
type abortPanic struct{ reason string }

// recoverTurn turns a panic in user code into a reset of the object and an
// error for the caller. The process and other objects carry on.
func (a *actor) recoverTurn(st *state, errp *error) {
	v := recover()
	if v == nil {
		return
	}
	var e *den.Error
	if ab, ok := v.(abortPanic); ok {
		msg := den.MsgAbort
		if ab.reason != "" {
			msg = fmt.Sprintf("%s Reason: %s", den.MsgAbort, ab.reason)
		}
		e = &den.Error{Code: den.EUNAVAILABLE, Message: msg, Remote: true, Reset: true}
	} else {
		a.log(slog.LevelError, "panic in object", slog.String("panic", fmt.Sprint(v)), slog.String("stack", string(debug.Stack())))
		e = &den.Error{Code: den.EINTERNAL, Message: fmt.Sprintf("%s panic: %v", den.MsgReset, v), Remote: true, Reset: true}
	}
	e.ObjectID = a.id.String()
	if a.st == st && st != nil {
		a.reset(e)
	}
	*errp = e
}

// remote wraps an error returned by the object's code for its caller: it is
// serialized as it would be across machines, so only its fields survive.
func (a *actor) remote(err error) error {
	e := *den.AsError(err)
	if e.Code == "" {
		e.Code = den.EINTERNAL
	}
	e.Remote = true
	e.ObjectID = a.id.String()
	return roundTrip(&e)
}

func (a *actor) errorf(e *den.Error) error {
	c := *e
	c.ObjectID = a.id.String()
	return roundTrip(&c)
}

func (a *actor) resetError(why string) error {
	return &den.Error{Code: den.EUNAVAILABLE, Message: "Durable Object was reset: " + why, Retryable: true, Reset: true, ObjectID: a.id.String()}
}

// yield ends t's transaction before an outgoing call (or a Sync) and waits
// until its writes, and every earlier one, are durable. Inside
// Storage.Transaction nothing commits (a savepoint is open); the call still
// waits for earlier writes.
func (a *actor) yield(t *turn) error {
	if t.st.dead || a.db == nil {
		return a.resetError("the object was reset while this event ran")
	}
	wrote := false
	if a.tx == 0 {
		var err error
		if err := a.scheduleAlarm(t); err != nil { // the call fails; the transaction stays open
			return a.errorf(den.AsError(err))
		}
		if wrote, err = a.db.Commit(); err != nil {
			e := den.AsError(err)
			a.reset(e)
			return a.errorf(e)
		}
	}
	done := make(chan error, 1)
	a.release(wrote, true, func(err error) { done <- err })
	return <-done
}

// resume begins a new transaction for t after an outgoing call returns.
func (a *actor) resume(t *turn) error {
	if t.st.dead || a.db == nil {
		return a.resetError("the object was reset while it waited for a call")
	}
	if a.tx > 0 {
		return nil
	}
	a.gated = false
	if err := a.db.Begin(); err != nil {
		e := den.AsError(err)
		a.reset(e)
		return a.errorf(e)
	}
	return nil
}

// await waits for the reply to an outgoing call made by turn t, running
// events of t's call chain meanwhile unless the object blocks concurrency.
func (a *actor) await(ctx context.Context, t *turn, ev *event) result {
	for {
		var reentry chan *event
		if a.block == 0 && a.tx == 0 {
			reentry = a.reentry
		}
		select {
		case r := <-ev.reply:
			return r
		case in := <-reentry:
			a.handle(in)
		case <-ctx.Done():
			return result{err: canceled(ctx)}
		}
	}
}
