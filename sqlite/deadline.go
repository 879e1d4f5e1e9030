package sqlite

import (
	"time"

	"github.com/den-run/den"
	"modernc.org/libc"
	lib "modernc.org/sqlite/lib"
)

// A user's SQL statement may run for at most a time limit
// (den.DefaultMaxSQLStatementTime unless Options say otherwise): a recursive
// CTE that never ends must not hold its object forever. SQLite calls a
// progress handler every progressOps virtual-machine instructions; the
// handler reads the deadline of the statement now running from C memory
// the DB owns, and interrupts it once the deadline has passed. zombiezen's
// SetInterrupt would do it with a goroutine per call, far too dear per
// statement.

// progressOps is how often SQLite calls the progress handler: about every
// 50–100 µs of a busy statement.
const progressOps = 10_000

// epoch anchors deadlines to the monotonic clock.
var epoch = time.Now()

func monotonic() int64 { return int64(time.Since(epoch)) }

// deadline is the C memory the progress handler reads: the statement's
// deadline (monotonic nanoseconds; 0 for none) and whether the handler
// interrupted it.
type deadline struct {
	at    int64
	fired int64
}

// progress is the progress handler: it returns non-zero, interrupting the
// statement, once the deadline at arg has passed.
func progress(tls *libc.TLS, arg uintptr) int32 {
	dl := (*deadline)(cmem(arg))
	if dl.at != 0 && monotonic() > dl.at {
		dl.fired = 1
		return 1
	}
	return 0
}

// openDeadline installs the progress handler with the DB's deadline.
func (d *DB) openDeadline(limit time.Duration) {
	if limit <= 0 {
		limit = den.DefaultMaxSQLStatementTime
	}
	d.sql.timeLimit = limit
	p := libc.Xcalloc(d.sql.tls, 1, 16)
	if p == 0 {
		return // no limit rather than no database
	}
	d.sql.deadline = p
	lib.Xsqlite3_progress_handler(d.sql.tls, connHandleOf(d.conn), progressOps, cFunc(progress), p)
}

// closeDeadline removes the handler and frees its memory.
func (d *DB) closeDeadline() {
	if d.sql.deadline == 0 {
		return
	}
	lib.Xsqlite3_progress_handler(d.sql.tls, connHandleOf(d.conn), 0, 0, 0)
	libc.Xfree(d.sql.tls, d.sql.deadline)
	d.sql.deadline = 0
}

// startDeadline arms the deadline for a user statement; stopDeadline
// disarms it.
func (d *DB) startDeadline() {
	if d.sql.deadline != 0 {
		dl := (*deadline)(cmem(d.sql.deadline))
		dl.at, dl.fired = monotonic()+int64(d.sql.timeLimit), 0
	}
}

func (d *DB) stopDeadline() {
	if d.sql.deadline != 0 {
		(*deadline)(cmem(d.sql.deadline)).at = 0
	}
}

// timedOut reports whether the progress handler interrupted the last user
// statement.
func (d *DB) timedOut() bool {
	return d.sql.deadline != 0 && (*deadline)(cmem(d.sql.deadline)).fired != 0
}
