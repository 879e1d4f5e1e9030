package actor

import (
	"context"
	"io"
	"os"
	"time"

	"github.com/den-run/den"
)

// historyDB returns the instance's database as a HistoryDatabase.
func (s *storage) historyDB() (den.HistoryDatabase, error) {
	db, err := s.db()
	if err != nil {
		return nil, err
	}
	h, ok := db.(den.HistoryDatabase)
	if !ok {
		return nil, den.Errorf(den.EINVALID, den.MsgNoHistory)
	}
	return h, nil
}

// durableHistory commits the turn's writes so far and waits until they are
// durable (a yield point, like Sync), then returns the database's history.
func (s *storage) durableHistory(ctx context.Context) (den.HistoryDatabase, error) {
	if _, err := s.historyDB(); err != nil {
		return nil, err
	}
	if err := s.Sync(ctx); err != nil {
		return nil, err
	}
	return s.historyDB()
}

// GetCurrentBookmark returns a bookmark for the state after the turn's
// writes so far, which it makes durable first.
func (s *storage) GetCurrentBookmark(ctx context.Context) (string, error) {
	h, err := s.durableHistory(ctx)
	if err != nil {
		return "", err
	}
	return h.CurrentBookmark()
}

// GetBookmarkForTime returns a bookmark for the state at t.
func (s *storage) GetBookmarkForTime(ctx context.Context, t time.Time) (string, error) {
	h, err := s.durableHistory(ctx)
	if err != nil {
		return "", err
	}
	return h.BookmarkForTime(t)
}

// OnNextSessionRestoreBookmark stages the restore of bookmark for the
// object's next start and returns the bookmark of the state now.
func (s *storage) OnNextSessionRestoreBookmark(ctx context.Context, bookmark string) (string, error) {
	if _, err := den.ParseBookmark(bookmark); err != nil {
		return "", err
	}
	h, err := s.durableHistory(ctx)
	if err != nil {
		return "", err
	}
	undo, err := h.CurrentBookmark()
	if err != nil {
		return "", err
	}
	if err := h.StageRestore(bookmark); err != nil {
		return "", err
	}
	return undo, nil
}

// afterOpen runs when the object's database was just opened. If opening it
// applied a staged restore, the node's alarm schedule learns the alarm the
// restore brought back (a stale entry for an alarm it removed is harmless:
// the runner finds no alarm due and drops it).
func (a *actor) afterOpen(ctx context.Context) {
	h, ok := a.db.(den.HistoryDatabase)
	if !ok || !h.Restored() {
		return
	}
	a.h.log.Info("object restored", "class", a.key.class, "id", a.id.String())
	if a.h.cfg.Alarms == nil {
		return
	}
	at, ok, err := a.db.GetAlarm()
	if err == nil && ok {
		err = a.h.cfg.Alarms.ScheduleAlarm(ctx, a.key.class, a.id, at)
	}
	if err != nil {
		a.h.log.Error("schedule the alarm of a restored object", "class", a.key.class, "id", a.id.String(), "err", err)
	}
}

// restartIfAsked closes the database and drops the instance after a turn
// that staged a restore for the operator, so that the next event opens the
// database (applying the restore) and constructs the object again.
func (a *actor) restartIfAsked() {
	if a.depth == 0 && a.restart {
		a.restart = false
		a.close()
	}
}

var _ den.Recovery = (*Host)(nil)

// history runs fn on the object's database, as a bare turn whose earlier
// writes are durable.
func (h *Host) history(ctx context.Context, ns *den.Namespace, id den.ID, fn func(s *state, db den.HistoryDatabase) ([]byte, error)) ([]byte, error) {
	return h.Run(ctx, ns, id, true, func(ctx context.Context, obj any, st den.State) ([]byte, error) {
		s := st.(*state)
		db, err := (*storage)(s).durableHistory(ctx)
		if err != nil {
			return nil, err
		}
		return fn(s, db)
	})
}

// Bookmark returns a bookmark for the object's state at at, or now if at is
// zero; see [den.Recovery].
func (h *Host) Bookmark(ctx context.Context, ns *den.Namespace, id den.ID, at time.Time) (string, error) {
	b, err := h.history(ctx, ns, id, func(_ *state, db den.HistoryDatabase) ([]byte, error) {
		var b string
		var err error
		if at.IsZero() {
			b, err = db.CurrentBookmark()
		} else {
			b, err = db.BookmarkForTime(at)
		}
		return []byte(b), err
	})
	return string(b), err
}

// History describes the object's history; see [den.Recovery].
func (h *Host) History(ctx context.Context, ns *den.Namespace, id den.ID) (den.HistoryInfo, error) {
	var info den.HistoryInfo
	_, err := h.history(ctx, ns, id, func(_ *state, db den.HistoryDatabase) ([]byte, error) {
		var err error
		info, err = db.History()
		return nil, err
	})
	return info, err
}

// Restore restores the object to bookmark at once: a turn stages it and
// resets the live instance, a second opens the database, which applies it.
// See [den.Recovery].
func (h *Host) Restore(ctx context.Context, ns *den.Namespace, id den.ID, bookmark string) (string, error) {
	if _, err := den.ParseBookmark(bookmark); err != nil {
		return "", err
	}
	return h.replace(ctx, ns, id, func(db den.HistoryDatabase) error { return db.StageRestore(bookmark) })
}

// replace stages a new database for the object with stage, restarts it and
// applies the change, returning the bookmark of the state before.
func (h *Host) replace(ctx context.Context, ns *den.Namespace, id den.ID, stage func(db den.HistoryDatabase) error) (string, error) {
	undo, err := h.history(ctx, ns, id, func(s *state, db den.HistoryDatabase) ([]byte, error) {
		undo, err := db.CurrentBookmark()
		if err != nil {
			return nil, err
		}
		if err := stage(db); err != nil {
			return nil, err
		}
		s.a.restart = true
		return []byte(undo), nil
	})
	if err != nil {
		return "", err
	}
	// Open the database now: the restore applies and the alarm schedule
	// follows, whether or not another event comes.
	if _, err := h.Run(ctx, ns, id, true, func(context.Context, any, den.State) ([]byte, error) { return nil, nil }); err != nil {
		return string(undo), err
	}
	return string(undo), nil
}

// Export writes a consistent copy of the object's database at bookmark
// ("" for now) to w; see [den.Recovery]. The copy is made in a turn; it is
// written to w after the turn, so a slow reader does not hold the object.
func (h *Host) Export(ctx context.Context, ns *den.Namespace, id den.ID, bookmark string, w io.Writer) (int64, error) {
	f, err := h.image(ctx, ns, id, bookmark)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n, err := io.Copy(w, f)
	if err != nil {
		return n, den.Errorf(den.EUNAVAILABLE, "export: %w", err)
	}
	return n, nil
}

func (h *Host) image(ctx context.Context, ns *den.Namespace, id den.ID, bookmark string) (*os.File, error) {
	if bookmark != "" {
		if _, err := den.ParseBookmark(bookmark); err != nil {
			return nil, err
		}
	}
	var f *os.File
	_, err := h.history(ctx, ns, id, func(_ *state, db den.HistoryDatabase) ([]byte, error) {
		var err error
		f, err = db.Image(bookmark)
		return nil, err
	})
	if err != nil && f != nil {
		f.Close()
		f = nil
	}
	return f, err
}

// Fork restores the state bookmark names of object id into object to; see
// [den.Recovery].
func (h *Host) Fork(ctx context.Context, ns *den.Namespace, id den.ID, bookmark string, to den.ID) (string, error) {
	if to.Equal(id) {
		return "", den.Errorf(den.EINVALID, "fork: the source and the destination are the same object; use restore")
	}
	f, err := h.image(ctx, ns, id, bookmark)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return h.replace(ctx, ns, to, func(db den.HistoryDatabase) error { return db.StageImage(f, true) })
}

// Import replaces the object's database with the SQLite file r reads; see
// [den.Recovery]. r is copied to a temporary file first, outside the
// object's turn.
func (h *Host) Import(ctx context.Context, ns *den.Namespace, id den.ID, r io.Reader) (string, error) {
	f, err := os.CreateTemp(h.cfg.TempDir, ".import-*.tmp")
	if err != nil {
		return "", den.Errorf(den.EINTERNAL, "import: %w", err)
	}
	os.Remove(f.Name())
	defer f.Close()
	if _, err := io.Copy(f, r); err != nil {
		return "", den.Errorf(den.EINVALID, "import: read the database: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", den.Errorf(den.EINTERNAL, "import: %w", err)
	}
	return h.replace(ctx, ns, id, func(db den.HistoryDatabase) error { return db.StageImage(f, false) })
}
