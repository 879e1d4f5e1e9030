package sqlite

import (
	"github.com/den-run/den"
	"zombiezen.com/go/sqlite"
)

// Conn returns db's connection, for benchmarks against raw zombiezen calls
// on the same database.
func Conn(db den.Database) *sqlite.Conn { return db.(*DB).conn }

// SetInterrupt makes db's statements fail with SQLITE_INTERRUPT once done
// is closed, so a fuzzed query cannot run forever; nil clears it.
func SetInterrupt(db den.Database, done <-chan struct{}) { db.(*DB).conn.SetInterrupt(done) }
