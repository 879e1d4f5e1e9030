package actor

import (
	"context"

	"github.com/den-run/den"
)

// Wipe deletes an object, for operators: as one of its turns (serialized
// with its other events; the instance is not constructed for it) it deletes
// everything the object stored (every key, table and its alarm, as
// Storage.DeleteAll does) and calls also, if not nil, for what is kept
// outside the object's database (its entry in the alarm schedule, its
// history). When that turn's writes are durable, Wipe returns; the instance,
// if live, has been dropped, and the object leaves memory as soon as it is
// idle, which removes its now empty database files. An event that arrives
// meanwhile finds a new, empty object.
//
// If also fails, nothing is deleted and its error is returned.
func (h *Host) Wipe(ctx context.Context, ns *den.Namespace, id den.ID, also func(ctx context.Context) error) error {
	_, err := h.run(ctx, ns, id, true, den.EventInternal, func(ctx context.Context, _ any, st den.State) ([]byte, error) {
		s := st.(*state)
		if err := st.Storage().DeleteAll(); err != nil {
			return nil, err
		}
		if also != nil {
			if err := also(ctx); err != nil {
				return nil, err
			}
		}
		s.a.wiped = true
		return nil, nil
	})
	return err
}

// dropWiped drops the instance of a wiped object and asks it to leave
// memory. Called by handle after the wiping turn.
func (a *actor) dropWiped() {
	a.wiped, a.removeOnClose = false, true
	if a.st != nil {
		a.st.dead = true
	}
	a.obj, a.st = nil, nil
	a.requestStop()
}

// Done returns a channel closed once the object id of class is not in memory
// (at once if it is not), for a caller that waits for it to leave.
func (h *Host) Done(class string, id den.ID) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := key{class: class, id: id.Bytes()}
	if a := h.actors[k]; a != nil {
		return a.done
	}
	if done := h.retiring[k]; done != nil {
		return done
	}
	closed := make(chan struct{})
	close(closed)
	return closed
}

// removeWiped deletes a wiped object's history and files once its database
// is closed (close calls it). The actor is still registered as retiring, so
// no new instance opens the object meanwhile.
func (a *actor) removeWiped() {
	a.removeOnClose = false
	if f := a.h.cfg.OnWiped; f != nil {
		if err := f(a.key.class, a.id); err != nil {
			a.h.log.Error("delete a wiped object's history", "class", a.key.class, "id", a.id.String(), "err", err)
			return // keep the files: the history and the database stay consistent
		}
	}
	if r, ok := a.h.cfg.Store.(interface {
		Remove(class string, id den.ID) error
	}); ok {
		if err := r.Remove(a.key.class, a.id); err != nil {
			a.h.log.Error("delete a wiped object's database", "class", a.key.class, "id", a.id.String(), "err", err)
		}
	}
}
