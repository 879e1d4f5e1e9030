package actor

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/den-run/den"
)

// state is den.State for one instance of an object. When the instance is
// reset it is marked dead, and its storage refuses every call, so a stale
// instance can never write.
type state struct {
	a    *actor
	dead bool
}

var _ den.State = (*state)(nil)

func (s *state) ID() den.ID           { return s.a.id }
func (s *state) Storage() den.Storage { return (*storage)(s) }

func (s *state) BlockConcurrencyWhile(ctx context.Context, fn func(ctx context.Context) error) error {
	a := s.a
	if a.block >= den.MaxBlockDepth {
		return den.Errorf(den.EINVALID, "blockConcurrencyWhile() calls are nested too deeply.")
	}
	a.block++
	defer func() { a.block-- }()
	bctx, cancel := context.WithTimeoutCause(ctx, den.BlockConcurrencyTimeout, errBlockTimeout)
	defer cancel()
	err := fn(bctx)
	if context.Cause(bctx) == errBlockTimeout {
		err = &den.Error{Code: den.EOVERLOADED, Message: den.MsgBlockTimeout, Overloaded: true, Reset: true, ObjectID: a.id.String()}
	}
	if err != nil && !s.dead {
		a.reset(den.AsError(err))
	}
	return err
}

var errBlockTimeout = errors.New("blockConcurrencyWhile timed out")

func (s *state) WaitUntil(fn func(ctx context.Context)) {
	a := s.a
	a.keepalive.Add(1)
	a.h.wg.Go(func() {
		defer func() {
			if v := recover(); v != nil {
				if _, ok := v.(abortPanic); !ok {
					a.h.log.Error("panic in WaitUntil", "class", a.key.class, "namespace", a.ns.Binding(), "object_id", a.id.String(), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				}
				a.failed.Store(&den.Error{Code: den.EINTERNAL, Message: fmt.Sprintf("%s panic in WaitUntil: %v", den.MsgReset, v), Reset: true})
			}
			a.keepalive.Add(-1)
			a.lastActive.Store(a.h.now())
			a.poke()
		}()
		ctx, cancel := context.WithTimeout(a.h.ctx, den.WaitUntilTimeout)
		defer cancel()
		fn(ctx)
	})
}

func (s *state) Abort(reason string) { panic(abortPanic{reason: reason}) }

// storage is den.Storage for one instance: it refuses calls once the
// instance is dead and counts explicit transactions, during which outgoing
// calls do not yield.
type storage state

var errDead = &den.Error{Code: den.EUNAVAILABLE, Message: "Durable Object storage is not available: this instance was reset. Its caller got the error; the next event starts a new instance.", Retryable: true, Reset: true}

func (s *storage) db() (den.Database, error) {
	if s.dead || s.a.db == nil {
		return nil, errDead
	}
	return s.a.db, nil
}

func (s *storage) Get(key string) ([]byte, bool, error) {
	db, err := s.db()
	if err != nil {
		return nil, false, err
	}
	s.a.use.read++
	return db.Get(key)
}

func (s *storage) GetMany(keys []string) ([]den.Entry, error) {
	db, err := s.db()
	if err != nil {
		return nil, err
	}
	s.a.use.read += int64(len(keys))
	return db.GetMany(keys)
}

func (s *storage) Put(key string, value []byte) error {
	db, err := s.db()
	if err != nil {
		return err
	}
	s.a.gated = true
	s.a.use.written++
	return db.Put(key, value)
}

func (s *storage) PutMany(entries []den.Entry) error {
	db, err := s.db()
	if err != nil {
		return err
	}
	s.a.gated = true
	s.a.use.written += int64(len(entries))
	return db.PutMany(entries)
}

func (s *storage) Delete(key string) (bool, error) {
	db, err := s.db()
	if err != nil {
		return false, err
	}
	s.a.gated = true
	s.a.use.written++
	return db.Delete(key)
}

func (s *storage) DeleteMany(keys []string) (int, error) {
	db, err := s.db()
	if err != nil {
		return 0, err
	}
	s.a.gated = true
	s.a.use.written += int64(len(keys))
	return db.DeleteMany(keys)
}

func (s *storage) List(opts den.ListOptions) ([]den.Entry, error) {
	db, err := s.db()
	if err != nil {
		return nil, err
	}
	entries, err := db.List(opts)
	s.a.use.read += max(int64(len(entries)), 1)
	return entries, err
}

func (s *storage) DeleteAll() error {
	db, err := s.db()
	if err != nil {
		return err
	}
	s.a.gated = true
	s.a.use.written++
	return db.DeleteAll()
}

func (s *storage) Transaction(fn func() error) error {
	db, err := s.db()
	if err != nil {
		return err
	}
	s.a.tx++
	defer func() { s.a.tx-- }()
	return db.Transaction(fn)
}

func (s *storage) Sync(ctx context.Context) error {
	t := &turn{a: s.a, st: (*state)(s)}
	if err := s.a.yield(t); err != nil {
		return err
	}
	return s.a.resume(t)
}

func (s *storage) Unconfirmed() den.KV { return (*unconfirmed)(s) }

// unconfirmed is storage whose writes do not hold the output gate.
type unconfirmed storage

func (u *unconfirmed) s() *storage { return (*storage)(u) }

func (u *unconfirmed) Get(key string) ([]byte, bool, error) { return u.s().Get(key) }
func (u *unconfirmed) GetMany(keys []string) ([]den.Entry, error) {
	return u.s().GetMany(keys)
}
func (u *unconfirmed) List(opts den.ListOptions) ([]den.Entry, error) { return u.s().List(opts) }
func (u *unconfirmed) Transaction(fn func() error) error              { return u.s().Transaction(fn) }

func (u *unconfirmed) Put(key string, value []byte) error {
	db, err := u.s().db()
	if err != nil {
		return err
	}
	u.a.use.written++
	return db.Put(key, value)
}

func (u *unconfirmed) PutMany(entries []den.Entry) error {
	db, err := u.s().db()
	if err != nil {
		return err
	}
	u.a.use.written += int64(len(entries))
	return db.PutMany(entries)
}

func (u *unconfirmed) Delete(key string) (bool, error) {
	db, err := u.s().db()
	if err != nil {
		return false, err
	}
	u.a.use.written++
	return db.Delete(key)
}

func (u *unconfirmed) DeleteMany(keys []string) (int, error) {
	db, err := u.s().db()
	if err != nil {
		return 0, err
	}
	u.a.use.written += int64(len(keys))
	return db.DeleteMany(keys)
}

func (u *unconfirmed) DeleteAll() error {
	db, err := u.s().db()
	if err != nil {
		return err
	}
	u.a.use.written++
	return db.DeleteAll()
}
