package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/sqlite"
)

// refusal is one statement the sandbox must refuse.
type refusal struct {
	name  string
	setup string // allowed statements run first, in the same turn
	sql   string
	args  []any
	code  string // den.EINVALID unless set
	msg   string // in the error message
}

// refusals is the list of refusal cases, also the seed of FuzzSandbox.
var refusals = []refusal{
	// Den's tables: invisible and untouchable, in any case.
	{name: "read _cf_KV", sql: "SELECT * FROM _cf_KV", msg: "access to _cf_KV.key is prohibited: SQLITE_AUTH"},
	{name: "read _cf_KV in another case", sql: "SELECT value FROM _CF_kv", msg: "access to _cf_KV.value is prohibited"},
	{name: "count _cf_KV", sql: "SELECT count(*) FROM _cf_KV", msg: "access to _cf_KV is prohibited"},
	{name: "read _cf_METADATA", sql: "SELECT key FROM _cf_METADATA", msg: "access to _cf_METADATA.key is prohibited"},
	{name: "subquery on _cf_KV", sql: "SELECT (SELECT value FROM _cf_KV LIMIT 1)", msg: "access to _cf_KV.value is prohibited"},
	{name: "CTE over _cf_KV", sql: "WITH c AS (SELECT * FROM _cf_KV) SELECT * FROM c", msg: "_cf_KV"},
	{name: "copy out of _cf_KV", sql: "INSERT INTO t SELECT key FROM _cf_KV", msg: "_cf_KV"},
	{name: "insert into _cf_KV", sql: "INSERT INTO _cf_KV VALUES ('k', x'00')", msg: "access to _cf_KV is prohibited"},
	{name: "replace the alarm", sql: "REPLACE INTO _cf_METADATA VALUES (1, 0)", msg: "access to _cf_METADATA is prohibited"},
	{name: "update _cf_KV", sql: "UPDATE _cf_KV SET value = x'00'", msg: "_cf_KV"},
	{name: "delete from _cf_METADATA", sql: "DELETE FROM _cf_METADATA", msg: "_cf_METADATA"},
	{name: "drop _cf_KV", sql: "DROP TABLE _cf_KV", msg: "reserved for Den: _cf_KV"},
	{name: "create _cf_ table", sql: "CREATE TABLE _cf_mine (a)", msg: "reserved for Den: _cf_mine"},
	{name: "create _CF_ table", sql: "CREATE TABLE IF NOT EXISTS _Cf_Mine (a)", msg: "reserved for Den"},
	{name: "create _cf_ index", sql: "CREATE INDEX _cf_i ON t(a)", msg: "reserved for Den: _cf_i"},
	{name: "index on _cf_KV", sql: "CREATE INDEX i ON _cf_KV(value)", msg: "reserved for Den: _cf_KV"},
	{name: "trigger on _cf_KV", sql: "CREATE TRIGGER tr AFTER INSERT ON _cf_KV BEGIN SELECT 1; END", msg: "_cf_KV"},
	{name: "_cf_ view", sql: "CREATE VIEW _cf_v AS SELECT 1", msg: "reserved for Den: _cf_v"},
	{name: "_cf_ virtual table", sql: "CREATE VIRTUAL TABLE _cf_f USING fts5(x)", msg: "reserved for Den: _cf_f"},
	{name: "view over _cf_KV", setup: "CREATE VIEW v AS SELECT * FROM _cf_KV", sql: "SELECT * FROM v", msg: "_cf_KV"},
	{name: "trigger writing _cf_KV", setup: "CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO _cf_KV VALUES ('x', x'00'); END", sql: "INSERT INTO t VALUES (1)", msg: "_cf_KV"},
	{name: "rename to _cf_", sql: "ALTER TABLE t RENAME TO _cf_t", msg: "cannot rename a table to _cf_t"},
	{name: "rename to quoted _cf_", sql: `ALTER TABLE main."t" /* x */ RENAME TO "_CF_x"`, msg: "cannot rename a table to _CF_x"},
	{name: "rename _cf_KV", sql: "ALTER TABLE _cf_KV RENAME TO kv", msg: "access to _cf_KV is prohibited"},
	{name: "add column to _cf_KV", sql: "ALTER TABLE _cf_KV ADD COLUMN c", msg: "_cf_KV"},
	{name: "table_info of _cf_KV", sql: "PRAGMA table_info(_cf_KV)", msg: "PRAGMA table_info(_cf_KV) is prohibited"},
	{name: "index_list of _cf_KV", sql: "PRAGMA index_list('_cf_KV')", msg: "prohibited"},
	{name: "index_info of _cf_KV's index", sql: "PRAGMA index_info(sqlite_autoindex__cf_KV_1)", msg: "prohibited"},
	{name: "pragma function on _cf_KV", sql: "SELECT * FROM pragma_table_info('_cf_KV')", msg: "prohibited"},
	{name: "dbstat", sql: "SELECT * FROM dbstat", msg: "not authorized to use virtual table dbstat"},

	// Other databases, TEMP objects.
	{name: "attach a file", sql: "ATTACH DATABASE 'other.db' AS other", msg: "ATTACH and DETACH are not allowed"},
	{name: "attach memory", sql: "ATTACH ':memory:' AS m", msg: "ATTACH and DETACH are not allowed"},
	{name: "detach", sql: "DETACH DATABASE temp", msg: "ATTACH and DETACH are not allowed"},
	{name: "vacuum into a file", sql: "VACUUM INTO 'copy.db'", msg: "SQLITE_"},
	{name: "temp table", sql: "CREATE TEMP TABLE x (a)", msg: "TEMP tables, indexes, triggers and views are not allowed"},
	{name: "temp. table", sql: "CREATE TABLE temp.x (a)", msg: "TEMP"},
	{name: "temp view", sql: "CREATE TEMPORARY VIEW v AS SELECT 1", msg: "TEMP"},
	{name: "temp trigger", sql: "CREATE TEMP TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END", msg: "TEMP"},

	// Transactions go through Storage.Transaction.
	{name: "BEGIN", sql: "BEGIN", msg: den.MsgSQLTransaction},
	{name: "BEGIN IMMEDIATE", sql: "BEGIN IMMEDIATE TRANSACTION", msg: den.MsgSQLTransaction},
	{name: "COMMIT", sql: "COMMIT", msg: den.MsgSQLTransaction},
	{name: "END", sql: "END", msg: den.MsgSQLTransaction},
	{name: "ROLLBACK", sql: "ROLLBACK", msg: den.MsgSQLTransaction},
	{name: "SAVEPOINT", sql: "SAVEPOINT s", msg: den.MsgSQLTransaction},
	{name: "RELEASE", sql: "RELEASE s", msg: den.MsgSQLTransaction},
	{name: "ROLLBACK TO", sql: "ROLLBACK TO _cf_sync_savepoint_0", msg: den.MsgSQLTransaction},
	{name: "transaction in a script", sql: "INSERT INTO t VALUES (9); COMMIT", msg: den.MsgSQLTransaction},

	// Pragmas outside the allow-list, or with arguments it refuses.
	{name: "max_page_count", sql: "PRAGMA max_page_count", msg: "not authorized to use pragma: max_page_count"},
	{name: "raise max_page_count", sql: "PRAGMA max_page_count = 4294967294", msg: "max_page_count"},
	{name: "journal_mode", sql: "PRAGMA journal_mode = DELETE", msg: "journal_mode"},
	{name: "synchronous", sql: "PRAGMA synchronous = OFF", msg: "synchronous"},
	{name: "locking_mode", sql: "PRAGMA locking_mode = NORMAL", msg: "locking_mode"},
	{name: "writable_schema", sql: "PRAGMA writable_schema = ON", msg: "writable_schema"},
	{name: "page_size", sql: "PRAGMA page_size = 8192", msg: "PRAGMA page_size is read-only"},
	{name: "data_version write", sql: "PRAGMA data_version = 5", msg: "read-only"},
	{name: "cache_size", sql: "PRAGMA cache_size = 1", msg: "cache_size"},
	{name: "mmap_size", sql: "PRAGMA mmap_size = 1000000", msg: "mmap_size"},
	{name: "hard_heap_limit", sql: "PRAGMA hard_heap_limit = 1", msg: "hard_heap_limit"},
	{name: "temp_store", sql: "PRAGMA temp_store = MEMORY", msg: "temp_store"},
	{name: "query_only", sql: "PRAGMA query_only = 1", msg: "query_only"},
	{name: "trusted_schema", sql: "PRAGMA trusted_schema = ON", msg: "trusted_schema"},
	{name: "user_version", sql: "PRAGMA user_version = 1", msg: "user_version"},
	{name: "database_list", sql: "PRAGMA database_list", msg: "database_list"},
	{name: "integrity_check", sql: "PRAGMA integrity_check", msg: "integrity_check"},
	{name: "compile_options", sql: "PRAGMA compile_options", msg: "compile_options"},
	{name: "function_list", sql: "SELECT * FROM pragma_function_list", msg: "function_list"},
	{name: "bad boolean", sql: "PRAGMA foreign_keys = maybe", msg: "takes true, false"},
	{name: "pragma on temp", sql: "PRAGMA temp.foreign_keys", msg: "an object has only its main database"},
	{name: "table_info without a name", sql: "PRAGMA table_info", msg: "needs the name of a table"},
	{name: "optimize with a bad mask", sql: "PRAGMA optimize = 'all'", msg: "32-bit mask"},

	// Functions outside the allow-list.
	{name: "sqlite_version", sql: "SELECT sqlite_version()", msg: "not authorized to use function: sqlite_version: SQLITE_AUTH"},
	{name: "sqlite_source_id", sql: "SELECT sqlite_source_id()", msg: "sqlite_source_id"},
	{name: "sqlite_compileoption_used", sql: "SELECT sqlite_compileoption_used('ENABLE_FTS5')", msg: "sqlite_compileoption_used"},
	{name: "sqlite_compileoption_get", sql: "SELECT sqlite_compileoption_get(0)", msg: "sqlite_compileoption_get"},
	{name: "sqlite_offset", sql: "SELECT sqlite_offset(a) FROM t", msg: "sqlite_offset"},
	{name: "load_extension", sql: "SELECT load_extension('x')", msg: "load_extension"},
	{name: "geopoly function", sql: "SELECT geopoly_blob('[[0,0],[1,0],[1,1],[0,0]]')", msg: "geopoly_blob"},
	{name: "fts5_source_id", sql: "SELECT fts5_source_id()", msg: "fts5_source_id"},
	{name: "rtreenode", sql: "SELECT rtreenode(2, x'00')", msg: "rtreenode"},
	{name: "function in a view", setup: "CREATE VIEW vv AS SELECT sqlite_version() AS v", sql: "SELECT * FROM vv", msg: "sqlite_version"},

	// Virtual tables other than fts5, fts5vocab, rtree and rtree_i32.
	{name: "geopoly table", sql: "CREATE VIRTUAL TABLE g USING geopoly(a)", msg: "virtual table module geopoly is not allowed"},
	{name: "dbstat table", sql: "CREATE VIRTUAL TABLE s USING dbstat", msg: "dbstat"},

	// Defensive mode: no direct writes to shadow tables.
	{name: "write a shadow table", setup: "CREATE VIRTUAL TABLE f USING fts5(x)", sql: "INSERT INTO f_data VALUES (999, x'00')", msg: "may not be modified"},

	// Limits.
	{name: "statement over 100 kB", sql: "SELECT '" + strings.Repeat("x", den.MaxSQLBytes) + "'", code: den.ELIMIT, msg: "the limit is 100000 bytes"},
	{name: "101 arguments", sql: "SELECT 1", args: make([]any, 101), code: den.ELIMIT, msg: "the limit is 100"},
	{name: "parameter 101", sql: "SELECT ?101", code: den.ELIMIT, msg: "SQLITE_ERROR"},
	{name: "101 parameters", sql: "SELECT " + strings.Repeat("?,", 100) + "?", code: den.ELIMIT, msg: "100 parameters"},
	{name: "101 columns in a table", sql: "CREATE TABLE wide (" + columns(101) + ")", code: den.ELIMIT, msg: "the limit is 100 columns"},
	{name: "101 columns in a result", sql: "SELECT " + strings.Repeat("1,", 100) + "1", code: den.ELIMIT, msg: "too many columns"},
	{name: "string over 2 MiB", sql: "INSERT INTO t VALUES (?)", args: []any{strings.Repeat("x", den.MaxSQLValueBytes+1)}, code: den.ELIMIT, msg: "limited to 2097152 bytes"},
	{name: "blob over 2 MiB", sql: "INSERT INTO t VALUES (?)", args: []any{make([]byte, den.MaxSQLValueBytes+1)}, code: den.ELIMIT, msg: "limited to 2097152 bytes"},
	{name: "zeroblob over 2 MiB", sql: "SELECT zeroblob(2097153)", code: den.ELIMIT, msg: "string or blob too big"},
	{name: "row over 2 MiB", sql: "INSERT INTO t VALUES (zeroblob(1100000) || zeroblob(1100000))", code: den.ELIMIT, msg: "too big"},
	{name: "LIKE pattern of 51 bytes", sql: "SELECT 'a' LIKE ?", args: []any{strings.Repeat("a", 51)}, code: den.ELIMIT, msg: "limited to 50 bytes"},
	{name: "compound SELECT of 6 terms", sql: "SELECT 1" + strings.Repeat(" UNION SELECT 1", 5), code: den.ELIMIT, msg: "at most 5 terms"},
	{name: "function of 33 arguments", sql: "SELECT json_array(" + strings.Repeat("1,", 32) + "1)", code: den.ELIMIT, msg: "at most 32 arguments"},
	{name: "expression 101 deep", sql: "SELECT " + strings.Repeat("abs(", 101) + "1" + strings.Repeat(")", 101), code: den.ELIMIT, msg: "at most 100 deep"},
}

// alarmTime is the alarm newSandboxDB sets, a row of _cf_METADATA.
var alarmTime = time.UnixMilli(1_900_000_000_000)

func columns(n int) string {
	cols := make([]string, n)
	for i := range cols {
		cols[i] = fmt.Sprintf("c%d", i)
	}
	return strings.Join(cols, ", ")
}

// sandboxDB is a database with a user table t and a key, for refusals to
// leave as they were.
type sandboxDB struct {
	db  den.Database
	dir string
}

func newSandboxDB(tb testing.TB) *sandboxDB {
	tb.Helper()
	dir := tb.TempDir()
	s := &sandboxDB{db: mustOpen(tb, sqlite.NewStore(dir), "sandbox"), dir: dir}
	mustBegin(tb, s.db)
	mustExec(tb, s.db, "CREATE TABLE t (a)")
	mustExec(tb, s.db, "INSERT INTO t VALUES ('row')")
	must(tb, s.db.Put("key", []byte("value")))
	must(tb, s.db.SetAlarm(alarmTime))
	mustCommit(tb, s.db)
	return s
}

// check fails the test unless the data, Den's tables and the files are as
// newSandboxDB left them, and the database still serves both APIs.
func (s *sandboxDB) check(tb testing.TB) {
	tb.Helper()
	mustBegin(tb, s.db)
	defer s.db.Rollback()
	if got := mustExec(tb, s.db, "SELECT a FROM t"); len(got) != 1 || got[0][0] != "row" {
		tb.Errorf("table t holds %v", got)
	}
	s.checkDen(tb)
}

// checkDen checks what user SQL must never change, in a turn.
func (s *sandboxDB) checkDen(tb testing.TB) {
	tb.Helper()
	db := s.db
	entries, err := db.List(den.ListOptions{})
	if err != nil || len(entries) != 1 || entries[0].Key != "key" || string(entries[0].Value) != "value" {
		tb.Errorf("_cf_KV holds %v, %v", entries, err)
	}
	if at, ok, err := db.GetAlarm(); err != nil || !ok || !at.Equal(alarmTime) {
		tb.Errorf("alarm %v %v %v", at, ok, err)
	}
	names, err := sqlite.QueryStrings(db, `SELECT name FROM sqlite_schema WHERE name LIKE '\_cf\_%' ESCAPE '\' ORDER BY name`)
	if err != nil || !slices.Equal(names, []string{"_cf_KV", "_cf_METADATA"}) {
		tb.Errorf("reserved names in the schema: %v %v", names, err)
	}
	dbs, err := sqlite.QueryStrings(db, "SELECT name FROM pragma_database_list WHERE name != 'temp'")
	if err != nil || !slices.Equal(dbs, []string{"main"}) {
		tb.Errorf("databases: %v %v", dbs, err)
	}
	if temp, err := sqlite.QueryStrings(db, "SELECT name FROM temp.sqlite_schema"); err != nil || len(temp) != 0 {
		tb.Errorf("TEMP objects: %v %v", temp, err)
	}
	for q, want := range map[string]string{
		"PRAGMA journal_mode": "wal", "PRAGMA locking_mode": "exclusive", "PRAGMA synchronous": "1",
		"PRAGMA writable_schema": "0", "PRAGMA query_only": "0", "PRAGMA page_size": "4096",
		"PRAGMA max_page_count": fmt.Sprint(den.DefaultMaxDatabaseBytes / 4096), "PRAGMA cache_size": "-1024",
		"PRAGMA trusted_schema": "1", "PRAGMA quick_check": "ok",
	} {
		if got, err := sqlite.QueryStrings(db, q); err != nil || len(got) != 1 || got[0] != want {
			tb.Errorf("%s = %v %v, want %s", q, got, err, want)
		}
	}
	files, _ := os.ReadDir(s.dir)
	for _, f := range files {
		if f.Name() != class {
			tb.Errorf("file %s appeared in the data directory", f.Name())
		}
	}
	if wd, err := os.Getwd(); err == nil {
		for _, name := range []string{"other.db", "copy.db"} {
			if _, err := os.Stat(filepath.Join(wd, name)); err == nil {
				tb.Errorf("%s was created", name)
			}
		}
	}
}

func TestSandboxRefusals(t *testing.T) {
	s := newSandboxDB(t)
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			mustBegin(t, s.db)
			defer s.db.Rollback()
			if tc.setup != "" {
				mustExec(t, s.db, tc.setup)
			}
			_, err := s.db.SQL().Exec(tc.sql, tc.args...)
			code := tc.code
			if code == "" {
				code = den.EINVALID
			}
			e := wantCode(t, err, code)
			if !strings.Contains(e.Message, tc.msg) {
				t.Errorf("message %q does not contain %q", truncate(e.Message), tc.msg)
			}
			if e.Reset {
				t.Errorf("a refusal resets the object: %v", e)
			}
			// The turn goes on: the refusal changed nothing.
			mustExec(t, s.db, "SELECT count(*) FROM t")
			must(t, s.db.Rollback())
			s.check(t)
		})
	}
}

func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// TestSandboxAllows checks that what the reference allows works, and that
// Den's own statements are not held to the user's rules.
func TestSandboxAllows(t *testing.T) {
	s := newSandboxDB(t)
	db := s.db
	mustBegin(t, db)
	for _, q := range []string{
		"CREATE TABLE main.u (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT, p INTEGER REFERENCES u(id))",
		"CREATE INDEX u_v ON u(v)",
		"CREATE VIEW uv AS SELECT v FROM u",
		"CREATE TRIGGER u_t AFTER INSERT ON u BEGIN UPDATE u SET v = upper(NEW.v) WHERE id = NEW.id; END",
		"INSERT INTO u (v) VALUES ('a'), ('b')",
		"UPDATE sqlite_sequence SET seq = seq",
		"ALTER TABLE u ADD COLUMN w",
		"ALTER TABLE u RENAME COLUMN w TO x",
		"ALTER TABLE u DROP COLUMN x",
		"ALTER TABLE u RENAME TO u2",
		"ALTER TABLE u2 RENAME TO u",
		"CREATE VIRTUAL TABLE f USING fts5(body)",
		"INSERT INTO f VALUES ('hello world')",
		"SELECT highlight(f, 0, '[', ']'), bm25(f), snippet(f, 0, '', '', '…', 5) FROM f WHERE f MATCH 'hello'",
		"CREATE VIRTUAL TABLE fv USING fts5vocab(f, 'row')",
		"SELECT term FROM fv",
		"CREATE VIRTUAL TABLE r USING rtree(id, x0, x1)",
		"CREATE VIRTUAL TABLE r32 USING rtree_i32(id, x0, x1)",
		"INSERT INTO r VALUES (1, 0, 1)",
		"SELECT rtreecheck('r')",
		"SELECT json_extract('{\"a\":1}', '$.a'), '{\"a\":2}' ->> '$.a', json_group_array(v) FROM u",
		"SELECT key, value FROM json_each('[1,2]')",
		"SELECT datetime('now'), unixepoch(), strftime('%Y', 'now'), abs(-1), max(1, 2), iif(1, 2, 3), sign(-2), sqrt(4)",
		"SELECT row_number() OVER (ORDER BY v), lag(v) OVER (ORDER BY v) FROM u",
		"WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 5) SELECT sum(n) FROM c",
		"SELECT name FROM sqlite_schema WHERE type = 'table'",
		"PRAGMA foreign_keys", "PRAGMA foreign_keys = on", "PRAGMA defer_foreign_keys = 'false'",
		"PRAGMA data_version", "PRAGMA page_size", "PRAGMA table_list", "PRAGMA table_info(u)",
		"PRAGMA table_xinfo('u')", "PRAGMA index_list(u)", "PRAGMA index_info(u_v)", "PRAGMA foreign_key_list(u)",
		"PRAGMA foreign_key_check", "PRAGMA quick_check", "PRAGMA quick_check(u)", "PRAGMA optimize", "PRAGMA optimize = 0x10002",
		"SELECT * FROM pragma_table_info('u')",
		"ANALYZE", "REINDEX u", "DROP VIEW uv", "DROP TRIGGER u_t",
		"SELECT 1 UNION SELECT 2 UNION SELECT 3 UNION SELECT 4 UNION SELECT 5",
		"SELECT 'a' LIKE ?",
	} {
		args := []any{}
		if strings.Contains(q, "?") {
			args = append(args, strings.Repeat("a", den.MaxSQLLikePatternBytes))
		}
		c, err := db.SQL().Exec(q, args...)
		if err != nil {
			t.Errorf("Exec(%q): %v", q, err)
			continue
		}
		if _, err := c.Raw(); err != nil {
			t.Errorf("Exec(%q): read: %v", q, err)
		}
	}
	// A string and a row of exactly the limit.
	mustExec(t, db, "INSERT INTO u (v) VALUES (?)", strings.Repeat("x", den.MaxSQLValueBytes-100))
	mustCommit(t, db)
	// Den's own statements are not held to the user's limits: a key-value
	// entry of the full 2 MiB, and DeleteAll dropping every virtual table.
	mustBegin(t, db)
	must(t, db.Put("big", make([]byte, den.MaxKeyValueBytes-len("big"))))
	must(t, db.DeleteAll())
	mustCommit(t, db)
	mustBegin(t, db)
	if got := mustExec(t, db, `SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE '\_cf\_%' ESCAPE '\' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`); got[0][0] != int64(0) {
		t.Errorf("DeleteAll left %v objects", got)
	}
	must(t, db.Rollback())
}

// TestSandboxWithConcurrentOpens opens, uses and closes databases from many
// goroutines at once: each keeps its own authorizer even when SQLite hands
// a new connection the address of one just closed. (With zombiezen's
// SetAuthorizer that race crashed serve's tests now and then; it is too
// narrow to hit on demand, so this is a smoke test.)
func TestSandboxWithConcurrentOpens(t *testing.T) {
	store := sqlite.NewStoreWithOptions(t.TempDir(), sqlite.Options{SyncFile: func(string) error { return nil }})
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 8 {
				db, err := store.Open(context.Background(), class, testID(fmt.Sprint(g, "-", i%3)))
				if err != nil {
					errs <- err
					return
				}
				_, refused := db.SQL().Exec("SELECT sqlite_version()")
				c, err := db.SQL().Exec("SELECT 1")
				if err == nil {
					c.Close()
				}
				db.Close()
				if den.ErrorCode(refused) != den.EINVALID || err != nil {
					errs <- fmt.Errorf("refusal %v, query %v", refused, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
