package main

import (
	"net/http"
	"strconv"

	"github.com/den-run/den"
)

// sqlClass returns the SQL counter's class.
func sqlClass() den.Class {
	return den.Class{
		Name: "SQLCounter",
		New: func(st den.State, env *den.Env) (any, error) {
			// The first event's turn runs New, so the table is created in
			// that turn's transaction.
			cur, err := st.Storage().SQL().Exec("CREATE TABLE IF NOT EXISTS c(name TEXT PRIMARY KEY, n INTEGER NOT NULL)")
			if err != nil {
				return nil, err
			}
			cur.Close()
			return &sqlCounter{st: st}, nil
		},
	}
}

// sqlCounter is a counter kept in one row of a SQL table, as the workerd
// side keeps it: one upsert that returns the new value per increment.
type sqlCounter struct{ st den.State }

func (c *sqlCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n, err := c.count(r.Method == http.MethodPost)
	if err != nil {
		den.WriteError(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(strconv.AppendInt(nil, n, 10))
}

func (c *sqlCounter) count(increment bool) (int64, error) {
	q := "SELECT coalesce((SELECT n FROM c WHERE name = 'count'), 0)"
	if increment {
		q = "INSERT INTO c(name, n) VALUES('count', 1) ON CONFLICT(name) DO UPDATE SET n = n + 1 RETURNING n"
	}
	return den.ScanOne[int64](c.st.Storage().SQL().Exec(q))
}
