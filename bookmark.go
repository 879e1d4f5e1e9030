package den

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// DefaultRetention is how far back point-in-time recovery reaches unless
// configured otherwise: Cloudflare's 30 days.
const DefaultRetention = 30 * 24 * time.Hour

// Bookmark names one committed, durable state of an object's database in
// its history (point-in-time recovery). Its string form,
//
//	<time: 16 hex digits>-<seq: 16 hex digits>-<check: 8 hex digits>
//
// sorts in time order under plain string comparison: time is the state's
// commit time in Unix nanoseconds and seq the transaction's number in the
// object's history, both never decreasing. check ties the bookmark to its
// object and to the transaction's content, so a bookmark of another object,
// or of a transaction a crash took back, is refused rather than restoring
// something else.
type Bookmark struct {
	Time  time.Time
	Seq   uint64
	Check uint32
}

// String returns the bookmark's text.
func (b Bookmark) String() string {
	return fmt.Sprintf("%016x-%016x-%08x", uint64(b.Time.UnixNano()), b.Seq, b.Check)
}

// ParseBookmark reads a bookmark's text. It returns an EINVALID error if s is
// not one.
func ParseBookmark(s string) (Bookmark, error) {
	parts := strings.Split(s, "-")
	if len(parts) != 3 || len(parts[0]) != 16 || len(parts[1]) != 16 || len(parts[2]) != 8 || strings.ToLower(s) != s {
		return Bookmark{}, Errorf(EINVALID, "invalid bookmark %q: want 16, 16 and 8 lowercase hex digits separated by '-', as getCurrentBookmark returns", truncate(s, 80))
	}
	t, err1 := strconv.ParseUint(parts[0], 16, 64)
	seq, err2 := strconv.ParseUint(parts[1], 16, 64)
	check, err3 := strconv.ParseUint(parts[2], 16, 32)
	if err1 != nil || err2 != nil || err3 != nil || t > 1<<63-1 {
		return Bookmark{}, Errorf(EINVALID, "invalid bookmark %q: want 16, 16 and 8 lowercase hex digits separated by '-', as getCurrentBookmark returns", truncate(s, 80))
	}
	return Bookmark{Time: time.Unix(0, int64(t)), Seq: seq, Check: uint32(check)}, nil
}

// ParseTime reads a point in time as operators write it: Unix milliseconds
// (as JavaScript's Date takes them) or RFC 3339. It returns an EINVALID
// error otherwise.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, Errorf(EINVALID, "invalid time %q: use Unix milliseconds (1767225600000) or RFC 3339 (2026-01-01T00:00:00Z)", truncate(s, 80))
}

// PointInTime is the point-in-time recovery of one object's storage, from
// inside the object (Cloudflare's getCurrentBookmark, getBookmarkForTime and
// onNextSessionRestoreBookmark). Storage implements it. Each method is a
// yield point, like an outgoing call: the turn's writes so far commit and
// become durable first, so a bookmark names only durable state and includes
// the writes that came before the call.
type PointInTime interface {
	// GetCurrentBookmark returns a bookmark for the state now.
	GetCurrentBookmark(ctx context.Context) (string, error)
	// GetBookmarkForTime returns a bookmark for the state at t: the last
	// one committed at or before t. t must be within the retention window
	// (30 days by default) and not in the future; a time before the
	// object's first write names its empty beginning.
	GetBookmarkForTime(ctx context.Context, t time.Time) (string, error)
	// OnNextSessionRestoreBookmark arranges for the database to be
	// restored to the bookmark's state when the object next starts, and
	// returns a bookmark for the state just before the restore (to undo
	// it). The restore replaces the whole database: SQL tables, schema,
	// key-value data and the alarm. Force the restart with State.Abort.
	OnNextSessionRestoreBookmark(ctx context.Context, bookmark string) (undo string, err error)
}

// HistoryDatabase is a Database that keeps point-in-time history
// (sqlite.DB does when its Store has a history). Its methods are called on
// the database's owner goroutine, outside the turn's writes: the runtime
// commits and makes the turn's writes durable before calling them.
type HistoryDatabase interface {
	Database
	// CurrentBookmark returns a bookmark for the last committed state.
	CurrentBookmark() (string, error)
	// BookmarkForTime returns a bookmark for the last state committed at
	// or before t; see PointInTime.GetBookmarkForTime.
	BookmarkForTime(t time.Time) (string, error)
	// StageRestore checks that bookmark names a state in the history and
	// stages it to replace the database when it is next opened.
	StageRestore(bookmark string) error
	// StageImage stages the SQLite database file r reads to replace the
	// database when it is next opened, with its alarm deleted if
	// clearAlarm. It returns an EINVALID error if r is not a database Den
	// can use.
	StageImage(r io.Reader, clearAlarm bool) error
	// Image returns a consistent copy of the database as it was at
	// bookmark ("" for now), as a standalone SQLite file (rollback
	// journal mode) open at its start; the caller closes it. The file is
	// unlinked: it disappears when closed.
	Image(bookmark string) (*os.File, error)
	// Restored reports whether opening the database applied a staged
	// restore, so that the runtime can reschedule the alarm it brought.
	Restored() bool
	// History describes the history kept for the database.
	History() (HistoryInfo, error)
}

// HistoryInfo describes an object's point-in-time history.
type HistoryInfo struct {
	// Oldest and Newest are the bookmarks of the oldest state that can be
	// restored and of the current one.
	Oldest string `json:"oldest"`
	Newest string `json:"newest"`
	// Bytes is the history's size on disk.
	Bytes int64 `json:"bytes"`
	// Retention is how far back bookmarks may reach.
	Retention time.Duration `json:"retention"`
}

// Recovery is point-in-time recovery as an operator reaches it, for any
// object of a namespace, live or not (actor.Host implements it). Each call
// runs as a turn of the object, serialized with its events.
type Recovery interface {
	// Bookmark returns a bookmark for the object's state at at, or now if
	// at is zero.
	Bookmark(ctx context.Context, ns *Namespace, id ID, at time.Time) (string, error)
	// Restore restores the object to bookmark and returns a bookmark to
	// undo it. A live instance is reset: the next event constructs it
	// again on the restored state. The node's alarm schedule follows the
	// restored alarm.
	Restore(ctx context.Context, ns *Namespace, id ID, bookmark string) (undo string, err error)
	// Export writes a consistent copy of the object's database at bookmark
	// ("" for now) to w, as a standalone SQLite file.
	Export(ctx context.Context, ns *Namespace, id ID, bookmark string, w io.Writer) (int64, error)
	// Fork restores the state bookmark names of object id ("" for now)
	// into object to, leaving id untouched, and returns a bookmark to undo
	// the change to to. The fork's alarm is not copied.
	Fork(ctx context.Context, ns *Namespace, id ID, bookmark string, to ID) (undo string, err error)
	// Import replaces the object's database with the SQLite file r reads
	// and returns a bookmark to undo it.
	Import(ctx context.Context, ns *Namespace, id ID, r io.Reader) (undo string, err error)
	// History describes the object's history.
	History(ctx context.Context, ns *Namespace, id ID) (HistoryInfo, error)
}

// MsgNoHistory is the error of point-in-time recovery on storage that keeps
// no history, as workerd words it.
const MsgNoHistory = "This Durable Object's storage back-end does not implement point-in-time recovery."
