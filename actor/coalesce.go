package actor

import "github.com/den-run/den"

// Write coalescing. When a turn ends and another event is already waiting
// in the mailbox, the turn's writes are not committed: they are held in the
// open transaction (sqlite.DB.Hold), the next turn runs in a savepoint of
// it, and one COMMIT later covers them all. Its outputs wait in a.held,
// in order, and go to the output gate after that COMMIT. A hot object thus
// pays one COMMIT, and writes a page it keeps changing to the WAL once, per
// burst of events rather than per event; nothing is acknowledged earlier
// or differently (docs/STORAGE.md, "Write coalescing").
//
// A turn also holds its writes when the object's earlier outputs still wait
// for a barrier and one is running: committed now, they could only join the
// next barrier, which cannot start before the running one ends. The
// committer tells the object when it does (commit.Committer.Later), and the
// run loop commits then. A hot object thus commits about once per barrier.
//
// The transaction is committed when a turn ends with the mailbox empty and
// no barrier to wait for, at maxHeld turns, before an outgoing call or Sync
// (yield), and by the run loop: when the awaited barrier ended, when the
// event that was waiting never ran a turn (its caller gave up), or when the
// object is asked to rest or leave. A reset fails the held outputs: their
// writes are rolled back with the transaction.

// maxHeld is the most turns whose writes wait in one transaction.
const maxHeld = 32

// holder is a Database that can end a turn without committing it.
type holder interface {
	Hold() (ok, wrote bool, err error)
	Held() bool
}

// heldOutput is the output of a turn whose writes are held.
type heldOutput struct {
	wrote, gated bool
	send         func(error)
}

// laterer is a Committer that can say when its running barriers end
// (commit.Committer).
type laterer interface {
	Later(fn func()) bool
}

// mayHold reports whether turn t, which succeeded, may leave its writes
// uncommitted: for the event waiting behind it, or until the running
// barrier ends.
func (a *actor) mayHold(t *turn) bool {
	if a.depth != 1 || a.tx != 0 || len(a.held) >= maxHeld || a.wiped || a.restart || t.st.dead || a.failed.Load() != nil {
		return false
	}
	return a.mailbox.len() > 0 || a.awaitBarrier()
}

// awaitBarrier reports whether the object may hold its writes until the
// barrier now running ends: its earlier outputs wait for a barrier anyway,
// and the committer will poke it when that one ends.
func (a *actor) awaitBarrier() bool {
	if a.flushing.Load() == 0 {
		return false
	}
	if a.barrierWait.Load() {
		return true
	}
	l, ok := a.h.cfg.Committer.(laterer)
	if !ok {
		return false
	}
	if a.barrierEnded == nil {
		a.barrierEnded = func() { a.barrierWait.Store(false); a.poke() }
	}
	a.barrierWait.Store(true)
	if l.Later(a.barrierEnded) {
		return true
	}
	a.barrierWait.Store(false)
	return false
}

// commitDue reports whether the run loop should commit held writes now: no
// event follows them, and no barrier is awaited, or the object is asked to
// rest or leave.
func (a *actor) commitDue() bool {
	return len(a.held) > 0 && a.mailbox.len() == 0 &&
		(!a.barrierWait.Load() || a.stopRequested.Load() || a.restRequested.Load())
}

// hold ends turn t with its writes held, if it may. ok is false when the
// turn must commit instead; err is the turn's failure (its writes are
// rolled back, the held ones stay).
func (a *actor) hold(t *turn) (ok, wrote bool, err error) {
	h, is := a.db.(holder)
	if !is || !a.mayHold(t) {
		return false, false, nil
	}
	ok, wrote, err = h.Hold()
	if err != nil {
		a.wsRollback(t.ws)
		if rerr := a.db.Rollback(); rerr != nil {
			a.reset(den.AsError(rerr))
		}
		return false, false, a.errorf(den.AsError(err))
	}
	if ok {
		a.wsCommit(t.ws)
		a.holding = true
	}
	return ok, wrote, nil
}

// dbHeld reports whether the database holds uncommitted turns.
func (a *actor) dbHeld() bool {
	h, ok := a.db.(holder)
	return ok && h.Held()
}

// commitHeld commits the held writes that no turn followed, and releases
// their outputs.
func (a *actor) commitHeld() {
	if len(a.held) == 0 || a.db == nil {
		return
	}
	if _, err := a.db.Commit(); err != nil {
		a.reset(den.AsError(err))
		return
	}
	a.releaseHeld()
}

// releaseHeld sends the held outputs through the output gate, in order,
// once their writes are committed.
func (a *actor) releaseHeld() {
	for i, o := range a.held {
		a.held[i] = heldOutput{}
		a.gate(o.wrote, o.gated, o.send)
	}
	a.held = a.held[:0]
}

// failHeld fails the held outputs: their writes go with a reset.
func (a *actor) failHeld(cause *den.Error) {
	if len(a.held) == 0 {
		return
	}
	e := &den.Error{Code: den.EUNAVAILABLE, Message: "Durable Object was reset before this event's writes were committed, so they were rolled back: " + cause.Message, Retryable: true, Reset: true, ObjectID: a.id.String()}
	for i, o := range a.held {
		a.held[i] = heldOutput{}
		o.send(e)
	}
	a.held = a.held[:0]
}
