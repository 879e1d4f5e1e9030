package actor

import (
	"errors"

	"github.com/den-run/den"
)

// sqlStorage is den.SQL for one instance: the database's SQL API behind the
// same dead-instance check as the key-value calls.
type sqlStorage storage

// SQL returns the SQL API on the object's database.
func (s *storage) SQL() den.SQL { return (*sqlStorage)(s) }

// Exec runs query on the object's database. Any statement may write, so
// the turn's reply waits for durability if the turn wrote at all (a turn
// that wrote nothing is released at once whatever it ran). A critical error
// (Reset set: the database is full, an I/O error) resets the object at once:
// the turn's writes are lost and later storage calls fail.
func (q *sqlStorage) Exec(query string, args ...any) (*den.Cursor, error) {
	s := (*storage)(q)
	db, err := s.db()
	if err != nil {
		return nil, err
	}
	s.a.gated = true
	c, err := db.SQL().Exec(query, args...)
	if err != nil {
		s.resetOn(err)
		return nil, err
	}
	if s.a.h.cfg.Observer != nil {
		s.a.use.cursors = append(s.a.use.cursors, c) // its row counts, at the turn's end
	}
	return c, nil
}

// DatabaseSize returns the bytes the object's database uses.
func (q *sqlStorage) DatabaseSize() (int64, error) {
	s := (*storage)(q)
	db, err := s.db()
	if err != nil {
		return 0, err
	}
	return db.SQL().DatabaseSize()
}

// resetOn resets the object if err is one after which its database is
// broken, so that the next event starts from a reopened database even if
// the object's code swallows or returns the error.
func (s *storage) resetOn(err error) {
	e, ok := errors.AsType[*den.Error](err)
	if !ok || !e.Reset || s.dead {
		return
	}
	s.dead = true // this state, even in a bare turn that is not the instance's
	s.a.reset(e)
}
