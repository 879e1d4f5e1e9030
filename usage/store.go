package usage

import (
	"context"
	"time"

	"github.com/den-run/den"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// The file's tables. Times are unix nanoseconds, hours unix seconds of the
// hour's start.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS objects (
		class       TEXT NOT NULL,
		id          BLOB NOT NULL,
		name        TEXT NOT NULL DEFAULT '',
		bytes       INTEGER NOT NULL DEFAULT 0,
		created     INTEGER NOT NULL DEFAULT 0,
		last_active INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (class, id)
	) WITHOUT ROWID`,
	"CREATE INDEX IF NOT EXISTS objects_name ON objects (class, name, id) WHERE name != ''",
	`CREATE TABLE IF NOT EXISTS usage (
		hour         INTEGER NOT NULL,
		class        TEXT NOT NULL,
		id           BLOB NOT NULL,
		http         INTEGER NOT NULL DEFAULT 0,
		rpc          INTEGER NOT NULL DEFAULT 0,
		alarms       INTEGER NOT NULL DEFAULT 0,
		messages     INTEGER NOT NULL DEFAULT 0,
		busy         INTEGER NOT NULL DEFAULT 0,
		hibernated   INTEGER NOT NULL DEFAULT 0,
		rows_read    INTEGER NOT NULL DEFAULT 0,
		rows_written INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (hour, class, id)
	) WITHOUT ROWID`,
	"CREATE INDEX IF NOT EXISTS usage_object ON usage (class, id, hour)",
	`CREATE TABLE IF NOT EXISTS stored (
		hour  INTEGER NOT NULL,
		class TEXT NOT NULL,
		bytes INTEGER NOT NULL,
		PRIMARY KEY (hour, class)
	) WITHOUT ROWID`,
	"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID",
}

const (
	sqlAddUse = `INSERT INTO usage VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
		ON CONFLICT DO UPDATE SET http = http + excluded.http, rpc = rpc + excluded.rpc,
			alarms = alarms + excluded.alarms, messages = messages + excluded.messages,
			busy = busy + excluded.busy, hibernated = hibernated + excluded.hibernated,
			rows_read = rows_read + excluded.rows_read, rows_written = rows_written + excluded.rows_written`
	sqlObjectBytes = "SELECT bytes FROM objects WHERE class = ?1 AND id = ?2"
	sqlInsertObj   = "INSERT INTO objects (class, id, name, bytes, created, last_active) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
	sqlUpdateObj   = `UPDATE objects SET name = iif(name = '', ?3, name), bytes = iif(?4 < 0, bytes, ?4),
		last_active = max(last_active, ?5) WHERE class = ?1 AND id = ?2`
	sqlDeleteObj  = "DELETE FROM objects WHERE class = ?1 AND id = ?2"
	sqlFillObj    = "INSERT INTO objects (class, id, bytes, created) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING"
	sqlStored     = "INSERT INTO stored VALUES (?1, ?2, ?3) ON CONFLICT DO UPDATE SET bytes = excluded.bytes"
	sqlTotals     = "SELECT class, count(*), sum(bytes) FROM objects GROUP BY class"
	sqlPruneUse   = "DELETE FROM usage WHERE hour < ?1"
	sqlPruneStore = "DELETE FROM stored WHERE hour < ?1"
	sqlFilled     = "SELECT value FROM meta WHERE key = 'catalog filled'"
	sqlMarkFilled = "INSERT INTO meta VALUES ('catalog filled', 1) ON CONFLICT DO UPDATE SET value = 1"
)

func openConn(path string) (*sqlite.Conn, error) {
	conn, err := sqlite.OpenConn(path, sqlite.OpenReadWrite|sqlite.OpenCreate|sqlite.OpenWAL)
	if err != nil {
		return nil, den.Errorf(den.EINTERNAL, "open usage: %w", err)
	}
	conn.SetBusyTimeout(5 * time.Second)
	return conn, nil
}

func setup(conn *sqlite.Conn) error {
	// NORMAL: a crash of the process loses nothing committed; a power loss
	// may lose the last pass, a second of metering.
	for _, q := range append([]string{"PRAGMA synchronous=NORMAL", "PRAGMA cache_size=-8192", "PRAGMA temp_store=MEMORY"}, schema...) {
		if err := sqlitex.ExecuteTransient(conn, q, nil); err != nil {
			return err
		}
	}
	return nil
}

// fill adds every object Config.Scan finds to a catalog not yet filled, in
// one transaction that marks it filled.
func (m *Meter) fill(ctx context.Context) (err error) {
	filled := false
	if err := sqlitex.ExecuteTransient(m.wr, sqlFilled, &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error { filled = stmt.ColumnBool(0); return nil },
	}); err != nil {
		return den.Errorf(den.EINTERNAL, "open usage: %w", err)
	}
	if filled {
		return nil
	}
	start, n := time.Now(), 0
	// A large cache while the fill inserts (a million rows are several
	// times faster), given back afterwards with the WAL checkpointed.
	if err := sqlitex.ExecuteTransient(m.wr, "PRAGMA cache_size=-65536", nil); err != nil {
		return den.Errorf(den.EINTERNAL, "fill the object catalog: %w", err)
	}
	defer func() {
		for _, q := range []string{"PRAGMA wal_checkpoint(TRUNCATE)", "PRAGMA cache_size=-8192", "PRAGMA shrink_memory"} {
			if qerr := sqlitex.ExecuteTransient(m.wr, q, nil); qerr != nil && err == nil {
				err = den.Errorf(den.EINTERNAL, "fill the object catalog: %w", qerr)
			}
		}
	}()
	end := sqlitex.Transaction(m.wr)
	defer end(&err)
	if m.cfg.Scan != nil {
		now := m.cfg.Now().UnixNano()
		err := m.cfg.Scan(ctx, func(class string, id [32]byte, bytes int64) error {
			n++
			stmt := m.wr.Prep(sqlFillObj)
			stmt.BindText(1, class)
			stmt.BindBytes(2, id[:])
			stmt.BindInt64(3, bytes)
			stmt.BindInt64(4, now)
			_, err := stmt.Step()
			if rerr := stmt.Reset(); err == nil {
				err = rerr
			}
			return err
		})
		if err != nil {
			return den.Errorf(den.ErrorCode(err), "fill the object catalog: %w", err)
		}
	}
	if err := sqlitex.ExecuteTransient(m.wr, sqlMarkFilled, nil); err != nil {
		return den.Errorf(den.EINTERNAL, "fill the object catalog: %w", err)
	}
	if m.cfg.Scan != nil {
		m.log.Info("filled the object catalog from the objects' files", "objects", n, "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// totals returns the catalog's rows and bytes by class.
func totals(conn *sqlite.Conn) (objects, stored map[string]int64, err error) {
	objects, stored = map[string]int64{}, map[string]int64{}
	err = sqlitex.Execute(conn, sqlTotals, &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error {
			objects[stmt.ColumnText(0)] = stmt.ColumnInt64(1)
			stored[stmt.ColumnText(0)] = stmt.ColumnInt64(2)
			return nil
		},
	})
	return objects, stored, err
}

// write takes what was observed since the last pass and writes it in one
// transaction, with the hour's stored bytes; forget, if not nil, is an
// object whose row to delete. After the transaction commits, the totals in
// memory follow.
func (m *Meter) write(forget *objKey) (err error) {
	now := m.cfg.Now()
	m.mu.Lock()
	for k, s := range m.socks {
		m.accrue(k, s, now)
	}
	use, cat := m.use, m.cat
	m.use, m.cat = map[useKey]*counts{}, map[objKey]*catUpdate{}
	stored := make(map[string]int64, len(m.stored))
	for c, n := range m.stored {
		stored[c] = n
	}
	m.mu.Unlock()

	if len(use) == 0 && len(cat) == 0 && forget == nil && !m.newHour(now) {
		return nil
	}
	dObjects, dBytes := map[string]int64{}, map[string]int64{}
	err = func() (err error) {
		end := sqlitex.Transaction(m.wr)
		defer end(&err)
		for k, c := range use {
			if err := addUse(m.wr, k, c); err != nil {
				return err
			}
		}
		if forget != nil {
			cat[*forget] = &catUpdate{gone: true}
		}
		for k, u := range cat {
			if err := m.writeObject(k, u, now, dObjects, dBytes); err != nil {
				return err
			}
		}
		hour := hourOf(now)
		for c, d := range dBytes {
			stored[c] += d
		}
		for c, n := range stored {
			stmt := m.wr.Prep(sqlStored)
			stmt.BindInt64(1, hour)
			stmt.BindText(2, c)
			stmt.BindInt64(3, n)
			if err := step(stmt); err != nil {
				return err
			}
		}
		if m.newHour(now) {
			cut := hourOf(now.Add(-m.cfg.Retention))
			for _, q := range []string{sqlPruneUse, sqlPruneStore} {
				stmt := m.wr.Prep(q)
				stmt.BindInt64(1, cut)
				if err := step(stmt); err != nil {
					return err
				}
			}
		}
		return nil
	}()
	if err != nil {
		return den.Errorf(den.EINTERNAL, "write usage: %w", err)
	}
	m.mu.Lock()
	for c, d := range dObjects {
		m.objects[c] += d
	}
	for c, d := range dBytes {
		m.stored[c] += d
	}
	m.mu.Unlock()
	m.lastHour = hourOf(now)
	return nil
}

// newHour reports whether now is in a later hour than the last pass that
// wrote. Called by the writer only.
func (m *Meter) newHour(now time.Time) bool { return hourOf(now) != m.lastHour }

func addUse(conn *sqlite.Conn, k useKey, c *counts) error {
	stmt := conn.Prep(sqlAddUse)
	stmt.BindInt64(1, k.hour)
	stmt.BindText(2, k.class)
	stmt.BindBytes(3, k.id[:])
	for i, v := range []int64{c.http, c.rpc, c.alarms, c.messages, c.busy, c.hibernated, c.rowsRead, c.rowsWritten} {
		stmt.BindInt64(4+i, v)
	}
	return step(stmt)
}

// writeObject applies one catalog update, adding the changes in rows and
// bytes per class to dObjects and dBytes.
func (m *Meter) writeObject(k objKey, u *catUpdate, now time.Time, dObjects, dBytes map[string]int64) error {
	stmt := m.wr.Prep(sqlObjectBytes)
	stmt.BindText(1, k.class)
	stmt.BindBytes(2, k.id[:])
	exists, err := stmt.Step()
	old := int64(0)
	if exists {
		old = stmt.ColumnInt64(0)
	}
	if rerr := stmt.Reset(); err == nil {
		err = rerr
	}
	if err != nil {
		return err
	}
	switch {
	case u.gone:
		if !exists {
			return nil
		}
		stmt = m.wr.Prep(sqlDeleteObj)
		stmt.BindText(1, k.class)
		stmt.BindBytes(2, k.id[:])
		dObjects[k.class]--
		dBytes[k.class] -= old
	case exists:
		stmt = m.wr.Prep(sqlUpdateObj)
		stmt.BindText(1, k.class)
		stmt.BindBytes(2, k.id[:])
		stmt.BindText(3, u.name)
		stmt.BindInt64(4, u.bytes)
		stmt.BindInt64(5, u.last)
		if u.bytes >= 0 {
			dBytes[k.class] += u.bytes - old
		}
	default:
		stmt = m.wr.Prep(sqlInsertObj)
		stmt.BindText(1, k.class)
		stmt.BindBytes(2, k.id[:])
		stmt.BindText(3, u.name)
		stmt.BindInt64(4, max(u.bytes, 0))
		stmt.BindInt64(5, now.UnixNano())
		stmt.BindInt64(6, u.last)
		dObjects[k.class]++
		dBytes[k.class] += max(u.bytes, 0)
	}
	return step(stmt)
}

// step runs stmt, which returns no rows, and resets it.
func step(stmt *sqlite.Stmt) error {
	_, err := stmt.Step()
	if rerr := stmt.Reset(); err == nil {
		err = rerr
	}
	return err
}
