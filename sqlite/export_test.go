package sqlite

import (
	"github.com/den-run/den"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// Exec runs a script of raw SQL on db's connection, as the SQL API will, and
// counts as a write of the turn.
func Exec(db den.Database, script string) error {
	d := db.(*DB)
	if err := sqlitex.ExecuteScript(d.conn, script, nil); err != nil {
		return err
	}
	d.dirty = true
	return nil
}

// QueryStrings returns the first column of every row query returns.
func QueryStrings(db den.Database, query string) ([]string, error) {
	var out []string
	err := sqlitex.ExecuteTransient(db.(*DB).conn, query, &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error { out = append(out, stmt.ColumnText(0)); return nil },
	})
	return out, err
}

// NewFiles returns how many databases s remembers as having files whose
// names may not be durable.
func NewFiles(s *Store) int {
	s.files.mu.Lock()
	defer s.files.mu.Unlock()
	return len(s.files.paths)
}
