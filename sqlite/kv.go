package sqlite

import (
	"slices"
	"strings"

	"github.com/den-run/den"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// The key-value statements, as workerd's sqlite-kv.c++ writes them. Keys are
// always bound as TEXT: SQLite orders TEXT by its BINARY collation (UTF-8
// byte order, the order the API promises) but sorts every BLOB after every
// TEXT.
const (
	sqlGet    = "SELECT value FROM _cf_KV WHERE key = ?"
	sqlPut    = "INSERT INTO _cf_KV VALUES(?, ?) ON CONFLICT DO UPDATE SET value = excluded.value"
	sqlDelete = "DELETE FROM _cf_KV WHERE key = ?"

	// ?1 is the inclusive low bound, ?2 the exclusive high bound. The limit
	// is list's loop, not a LIMIT ?: SQLite recompiles a statement with a
	// bound LIMIT and a two-sided range at every step after new bindings
	// (its planner takes the LIMIT's value into account), which made each
	// List of a prefix a fresh parse. Stepping stops at the limit, so the
	// scan reads no more rows than LIMIT would.
	sqlListAsc     = "SELECT key, value FROM _cf_KV WHERE key >= ?1 ORDER BY key ASC"
	sqlListAscHi   = "SELECT key, value FROM _cf_KV WHERE key >= ?1 AND key < ?2 ORDER BY key ASC"
	sqlListDesc    = "SELECT key, value FROM _cf_KV WHERE key >= ?1 ORDER BY key DESC"
	sqlListDescHi  = "SELECT key, value FROM _cf_KV WHERE key >= ?1 AND key < ?2 ORDER BY key DESC"
	sqlUserSchema  = `SELECT type, name FROM sqlite_schema WHERE type IN ('table', 'index', 'view', 'trigger') AND name NOT LIKE '\_cf\_%' ESCAPE '\' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY CASE type WHEN 'view' THEN 0 WHEN 'trigger' THEN 1 WHEN 'table' THEN iif(sql LIKE 'CREATE VIRTUAL%', 2, 3) ELSE 4 END, name`
	sqlDeleteKV    = "DELETE FROM _cf_KV"
	sqlDeleteMeta  = "DELETE FROM _cf_METADATA"
	sqlDeferFK     = "PRAGMA defer_foreign_keys"
	sqlDeferFKOn   = "PRAGMA defer_foreign_keys=ON"
	sqlDeferFKOff  = "PRAGMA defer_foreign_keys=OFF"
	deleteAllError = "Cannot call DeleteAll() within a transaction"
)

var (
	putManySavepoint    = newSavepoint("_cf_put_multiple_savepoint")
	deleteManySavepoint = newSavepoint("_cf_delete_multiple_savepoint")
	deleteAllSavepoint  = newSavepoint("_cf_delete_all_savepoint")
)

// Get returns the value of key and whether it exists. The value is a fresh
// slice, non-nil even when empty.
func (d *DB) Get(key string) ([]byte, bool, error) {
	if d.err != nil {
		return nil, false, d.err
	}
	if err := den.CheckKey(key); err != nil {
		return nil, false, err
	}
	v, ok, err := d.get(key)
	if err != nil {
		return nil, false, d.fail("get", err)
	}
	return v, ok, nil
}

func (d *DB) get(key string) ([]byte, bool, error) {
	stmt, err := d.conn.Prepare(sqlGet)
	if err != nil {
		return nil, false, err
	}
	stmt.BindText(1, key)
	row, err := stmt.Step()
	if err != nil || !row {
		return nil, false, err
	}
	v := make([]byte, stmt.ColumnLen(0))
	stmt.ColumnBytes(0, v)
	return v, true, stmt.Reset()
}

// GetMany returns the existing keys among keys, sorted by key, each once.
func (d *DB) GetMany(keys []string) ([]den.Entry, error) {
	if d.err != nil {
		return nil, d.err
	}
	if err := checkKeys(keys); err != nil {
		return nil, err
	}
	sorted := slices.Compact(slices.Sorted(slices.Values(keys)))
	var entries []den.Entry
	for _, k := range sorted {
		v, ok, err := d.get(k)
		if err != nil {
			return nil, d.fail("get", err)
		}
		if ok {
			entries = append(entries, den.Entry{Key: k, Value: v})
		}
	}
	return entries, nil
}

// Put sets key to value. A nil value stores an empty one.
func (d *DB) Put(key string, value []byte) error {
	if d.err != nil {
		return d.err
	}
	if err := den.CheckEntry(key, value); err != nil {
		return err
	}
	if err := d.put(key, value); err != nil {
		return d.fail("put", err)
	}
	d.dirty = true
	return nil
}

func (d *DB) put(key string, value []byte) error {
	stmt, err := d.conn.Prepare(sqlPut)
	if err != nil {
		return err
	}
	stmt.BindText(1, key)
	stmt.BindBytes(2, value) // zombiezen binds an empty slice as an empty BLOB, not NULL
	_, err = stmt.Step()
	return err
}

// PutMany sets every entry atomically, in order. Every limit is checked
// before anything is written.
func (d *DB) PutMany(entries []den.Entry) error {
	if d.err != nil {
		return d.err
	}
	if err := den.CheckBatch(len(entries)); err != nil {
		return err
	}
	for _, e := range entries {
		if err := den.CheckEntry(e.Key, e.Value); err != nil {
			return err
		}
	}
	if len(entries) == 0 {
		return nil
	}
	err := d.inSavepoint(&putManySavepoint, func() error {
		for _, e := range entries {
			if err := d.put(e.Key, e.Value); err != nil {
				return d.fail("put", err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	d.dirty = true
	return nil
}

// Delete removes key and reports whether it existed.
func (d *DB) Delete(key string) (bool, error) {
	if d.err != nil {
		return false, d.err
	}
	if err := den.CheckKey(key); err != nil {
		return false, err
	}
	existed, err := d.delete(key)
	if err != nil {
		return false, d.fail("delete", err)
	}
	return existed, nil
}

func (d *DB) delete(key string) (bool, error) {
	stmt, err := d.conn.Prepare(sqlDelete)
	if err != nil {
		return false, err
	}
	stmt.BindText(1, key)
	if _, err := stmt.Step(); err != nil {
		return false, err
	}
	existed := d.conn.Changes() > 0
	d.dirty = d.dirty || existed
	return existed, nil
}

// DeleteMany removes keys atomically and returns how many existed; a key
// given twice counts once.
func (d *DB) DeleteMany(keys []string) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	if err := checkKeys(keys); err != nil {
		return 0, err
	}
	if len(keys) == 0 {
		return 0, nil
	}
	n := 0
	err := d.inSavepoint(&deleteManySavepoint, func() error {
		for _, k := range keys {
			existed, err := d.delete(k)
			if err != nil {
				return d.fail("delete", err)
			}
			if existed {
				n++
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// List returns the entries in the range opts selects, ascending by key or
// descending with Reverse. An empty range does not touch the database.
func (d *DB) List(opts den.ListOptions) ([]den.Entry, error) {
	if d.err != nil {
		return nil, d.err
	}
	r, err := opts.Range()
	if err != nil || r.Empty {
		return nil, err
	}
	query := sqlListAsc
	switch {
	case r.HasHi && opts.Reverse:
		query = sqlListDescHi
	case r.HasHi:
		query = sqlListAscHi
	case opts.Reverse:
		query = sqlListDesc
	}
	entries, err := d.list(query, r, opts.Limit)
	if err != nil {
		return nil, d.fail("list", err)
	}
	return entries, nil
}

func (d *DB) list(query string, r den.KeyRange, limit int) (_ []den.Entry, err error) {
	stmt, err := d.conn.Prepare(query)
	if err != nil {
		return nil, err
	}
	defer func() {
		if rerr := stmt.Reset(); err == nil && rerr != nil {
			err = rerr
		}
	}()
	stmt.BindText(1, r.Lo)
	if r.HasHi {
		stmt.BindText(2, r.Hi)
	}
	var entries []den.Entry
	for limit <= 0 || len(entries) < limit {
		row, err := stmt.Step()
		if err != nil {
			return nil, err
		}
		if !row {
			return entries, nil
		}
		v := make([]byte, stmt.ColumnLen(1))
		stmt.ColumnBytes(1, v)
		entries = append(entries, den.Entry{Key: stmt.ColumnText(0), Value: v})
	}
	return entries, nil
}

// DeleteAll wipes the database atomically: every key, every metadata row
// (the alarm among them), and every table, index, view and trigger the
// object made with SQL. Only names that start with _cf_ or sqlite_ survive.
// It returns an EINVALID error inside Transaction.
func (d *DB) DeleteAll() error {
	if d.err != nil {
		return d.err
	}
	if d.depth > 0 {
		return den.Errorf(den.EINVALID, deleteAllError)
	}
	if err := d.inSavepoint(&deleteAllSavepoint, d.deleteAll); err != nil {
		return err
	}
	d.dirty = true
	return nil
}

func (d *DB) deleteAll() error {
	type object struct{ typ, name string }
	var objects []object
	err := sqlitex.Execute(d.conn, sqlUserSchema, &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error {
			objects = append(objects, object{stmt.ColumnText(0), stmt.ColumnText(1)})
			return nil
		},
	})
	if err != nil {
		return d.fail("delete all: read schema", err)
	}
	// Dropping a table deletes its rows first, which could break a foreign
	// key of a table not yet dropped; defer the checks to the end, when no
	// user table is left.
	deferred := false
	if len(objects) > 0 {
		if err := sqlitex.Execute(d.conn, sqlDeferFK, &sqlitex.ExecOptions{
			ResultFunc: func(stmt *sqlite.Stmt) error { deferred = stmt.ColumnBool(0); return nil },
		}); err != nil {
			return d.fail("delete all: read defer_foreign_keys", err)
		}
		if err := d.exec(sqlDeferFKOn); err != nil {
			return d.fail("delete all: defer foreign keys", err)
		}
	}
	for _, o := range objects {
		// Dropping a table drops its indexes and triggers, and a virtual
		// table its shadow tables: hence IF EXISTS.
		q := "DROP " + strings.ToUpper(o.typ) + " IF EXISTS " + quoteName(o.name)
		if err := sqlitex.ExecuteTransient(d.conn, q, nil); err != nil {
			return d.fail("delete all: drop "+o.typ, err)
		}
	}
	if len(objects) > 0 && !deferred {
		if err := d.exec(sqlDeferFKOff); err != nil {
			return d.fail("delete all: restore foreign keys", err)
		}
	}
	if err := d.exec(sqlDeleteKV); err != nil {
		return d.fail("delete all", err)
	}
	if err := d.exec(sqlDeleteMeta); err != nil {
		return d.fail("delete all: metadata", err)
	}
	return nil
}

// quoteName quotes an SQL identifier.
func quoteName(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// checkKeys checks the limits of a batch of keys.
func checkKeys(keys []string) error {
	if err := den.CheckBatch(len(keys)); err != nil {
		return err
	}
	for _, k := range keys {
		if err := den.CheckKey(k); err != nil {
			return err
		}
	}
	return nil
}
