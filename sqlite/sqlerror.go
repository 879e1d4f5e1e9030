package sqlite

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/den-run/den"
	"zombiezen.com/go/sqlite"
)

// sqlFail turns an error from a user statement into a *den.Error whose
// message ends with the SQLite code, as Cloudflare's do ("no such table: t:
// SQLITE_ERROR"). compiling says the error came from preparing the
// statement, when nothing has run.
//
// A critical error (the size cap or the disk is full, an I/O error, a
// corrupt file), or any error after which SQLite rolled the turn's
// transaction back on its own, breaks the DB: the error has Reset set, every
// later call returns it, and the runtime resets the object, so the turn's
// writes are rolled back whatever the object's code does with the error.
func (d *DB) sqlFail(err error, compiling bool) error {
	code := sqlite.ErrCode(err)
	prim := code.ToPrimary()
	msg := sqliteMessage(err, code)
	if prim == sqlite.ResultInterrupt && d.timedOut() {
		// The statement may have left the turn half done: reset.
		return d.breakWith(&den.Error{Code: den.ETIMEOUT, Reset: true, Message: fmt.Sprintf(
			"Durable Object storage operation exceeded timeout which caused object to be reset. (An SQL statement ran longer than its limit of %s; the turn's writes were rolled back.)", d.sql.timeLimit)})
	}
	switch prim {
	case sqlite.ResultFull:
		return d.breakWith(&den.Error{Code: den.ELIMIT, Reset: true, Message: fmt.Sprintf(
			"Exceeded the maximum database size: this object's database is limited to %s (%d bytes), or the disk is full. The turn's writes were rolled back and the object was reset; delete data to make room: SQLITE_FULL",
			formatBytes(d.sql.maxBytes), d.sql.maxBytes)})
	case sqlite.ResultIOErr, sqlite.ResultCorrupt, sqlite.ResultNotADB, sqlite.ResultCantOpen, sqlite.ResultProtocol:
		return d.breakWith(&den.Error{Code: den.EINTERNAL, Reset: true, Message: fmt.Sprintf(
			"%s: %s. The turn's writes were rolled back and the object was reset.", msg, prim)})
	case sqlite.ResultNoMem:
		if compiling { // SQLITE_LIMIT_VDBE_OP is reported as out of memory
			return den.Errorf(den.ELIMIT, "%s: %s (a statement compiles to at most 25000 operations: simplify it)", msg, prim)
		}
		return d.breakWith(&den.Error{Code: den.EINTERNAL, Reset: true, Message: fmt.Sprintf(
			"%s: %s. The turn's writes were rolled back and the object was reset.", msg, prim)})
	}
	if d.conn != nil && (d.inTurn || d.held || d.depth > 0) && d.conn.AutocommitEnabled() {
		// RAISE(ROLLBACK) in a trigger, say: the turn's transaction is gone.
		return d.breakWith(&den.Error{Code: den.EINTERNAL, Reset: true, Message: fmt.Sprintf(
			"%s: %s. SQLite rolled back the transaction, so the turn's writes were rolled back and the object was reset.", msg, prim)})
	}
	if prim == sqlite.ResultInterrupt {
		return den.Errorf(den.ECANCELED, "%s: %s", msg, prim)
	}
	if reason := d.sql.sandbox.denied; reason != "" || prim == sqlite.ResultAuth {
		// SQLite reports some refusals as SQLITE_ERROR ("not authorized
		// to use function: …"); the sandbox knows why.
		if reason != "" {
			msg = reason
		}
		return den.Errorf(den.EINVALID, "%s: %s", msg, sqlite.ResultAuth)
	}
	if limit := limitFor(msg); limit != "" || prim == sqlite.ResultTooBig {
		if limit == "" {
			limit = "a string, blob or row is limited to 2097152 bytes (2 MiB) and a statement to 100000 bytes"
		}
		return den.Errorf(den.ELIMIT, "%s: %s (%s)", msg, prim, limit)
	}
	if off, ok := sqlite.ErrorOffset(err); ok && compiling && strings.Contains(msg, "syntax error") {
		msg += " at offset " + strconv.Itoa(off)
	}
	return den.Errorf(den.EINVALID, "%s: %s", msg, prim)
}

// breakWith breaks the DB with e, unless it is broken already, and returns
// the DB's error.
func (d *DB) breakWith(e *den.Error) error {
	if d.err == nil {
		d.err = e
	}
	return d.err
}

// limitErrors names the limit behind each of SQLite's limit messages.
var limitErrors = []struct{ text, limit string }{
	{"too many columns", "the limit is 100 columns"},
	{"LIKE or GLOB pattern too complex", "a LIKE or GLOB pattern is limited to 50 bytes"},
	{"too many SQL variables", "the limit is 100 parameters"},
	{"variable number must be between", "the limit is 100 parameters"},
	{"Expression tree is too large", "expressions nest at most 100 deep"},
	{"too many terms in compound SELECT", "a compound SELECT has at most 5 terms"},
	{"too many arguments on function", "a function takes at most 32 arguments"},
	{"too many levels of trigger recursion", "triggers nest at most 10 deep"},
	{"string or blob too big", "a string, blob or row is limited to 2097152 bytes (2 MiB)"},
	{"statement too long", "a statement is limited to 100000 bytes"},
}

func limitFor(msg string) string {
	for _, l := range limitErrors {
		if strings.Contains(msg, l.text) {
			return l.limit
		}
	}
	return ""
}

// sqliteMessage returns SQLite's own message in err, without the prefixes
// zombiezen adds ("sqlite: step: ", a line:column, the code's generic text).
func sqliteMessage(err error, code sqlite.ResultCode) string {
	s := err.Error()
	for trimmed := true; trimmed; {
		trimmed = false
		for _, p := range []string{"sqlite: ", "prepare: ", "step: ", "reset: ", "bind bytes: ", "bind text: "} {
			if strings.HasPrefix(s, p) {
				s, trimmed = s[len(p):], true
			}
		}
	}
	if i := strings.Index(s, ": "); i > 0 && isLineCol(s[:i]) {
		s = s[i+2:]
	}
	if m := code.Message(); strings.HasPrefix(s, m+": ") {
		s = s[len(m)+2:]
	}
	return s
}

// isLineCol reports whether s is "line:column".
func isLineCol(s string) bool {
	l, c, ok := strings.Cut(s, ":")
	_, err1 := strconv.Atoi(l)
	_, err2 := strconv.Atoi(c)
	return ok && err1 == nil && err2 == nil
}

// formatBytes writes n in the largest unit that divides it.
func formatBytes(n int64) string {
	for _, u := range []struct {
		size int64
		name string
	}{{1e12, "TB"}, {1 << 40, "TiB"}, {1e9, "GB"}, {1 << 30, "GiB"}, {1e6, "MB"}, {1 << 20, "MiB"}, {1e3, "KB"}, {1 << 10, "KiB"}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d %s", n/u.size, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}
