package main

import (
	"context"
	"fmt"
	"path/filepath"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// Each runtime keeps its alarms in a schedule of its own, an SQLite database
// beside the objects' (both in WAL mode, so reading it from here, read-only,
// neither blocks the server nor touches an object):
//
//   - Den: DATA/alarms.sqlite, table alarms, one row per object with an
//     alarm (docs/ALARMS.md);
//   - workerd: storage/UNIQUE_KEY/metadata.sqlite, table _cf_ALARM, one row
//     per object of the class with an alarm, deleted when its handler has
//     succeeded (src/workerd/server/alarm-scheduler.c++).
const (
	denSchedule     = "SELECT count(*) FROM alarms"
	workerdSchedule = "SELECT count(*) FROM _cf_ALARM"
	workerdKey      = "den-bench-alarms-reminders" // the class's uniqueKey in workerdConfig: its directory
)

// denSchedulePath and workerdSchedulePath are the schedules under a data
// directory of the harness.
func denSchedulePath(dir string) string { return filepath.Join(dir, "data", "alarms.sqlite") }
func workerdSchedulePath(dir string) string {
	return filepath.Join(dir, "storage", workerdKey, "metadata.sqlite")
}

// scheduleFile is a read-only connection to a runtime's schedule.
type scheduleFile struct {
	conn  *sqlite.Conn
	query string
	args  []any
}

func openSchedule(path, query string, args ...any) (*scheduleFile, error) {
	conn, err := sqlite.OpenConn(path, sqlite.OpenReadOnly)
	if err != nil {
		return nil, fmt.Errorf("open the schedule: %w", err)
	}
	conn.SetBlockOnBusy()
	return &scheduleFile{conn: conn, query: query, args: args}, nil
}

// held returns how many alarms the schedule holds.
func (s *scheduleFile) held(ctx context.Context) (int, error) {
	s.conn.SetInterrupt(ctx.Done())
	defer s.conn.SetInterrupt(nil)
	n := -1
	err := sqlitex.Execute(s.conn, s.query, &sqlitex.ExecOptions{
		Args:       s.args,
		ResultFunc: func(stmt *sqlite.Stmt) error { n = stmt.ColumnInt(0); return nil },
	})
	if err != nil {
		return 0, fmt.Errorf("read the schedule: %w", err)
	}
	return n, nil
}

func (s *scheduleFile) close() error { return s.conn.Close() }

// countSchedule returns how many alarms the schedule at path holds.
func countSchedule(ctx context.Context, path, query string, args ...any) (int, error) {
	s, err := openSchedule(path, query, args...)
	if err != nil {
		return 0, err
	}
	defer s.close()
	return s.held(ctx)
}

// scheduleCounter counts workerd's alarm handlers by the rows its schedule
// has deleted since the restart: workerd deletes an object's row once its
// handler has succeeded.
type scheduleCounter struct {
	s     *scheduleFile
	start int // rows at the restart
	left  int // rows at the last count
}

func (c *scheduleCounter) count(ctx context.Context) (int, error) {
	n, err := c.s.held(ctx)
	if err != nil {
		return 0, err
	}
	c.left = n
	return c.start - n, nil
}

func (c *scheduleCounter) note() string {
	return fmt.Sprintf("workerd's alarm schedule (_cf_ALARM) went from %d rows to %d", c.start, c.left)
}

func (c *scheduleCounter) close() { c.s.close() }
