package sqlite

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"modernc.org/libc"
	lib "modernc.org/sqlite/lib"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// Object databases open with the den VFS (unix-none with its own
// xFullPathname), whatever their path holds.
func TestOpenConnUsesUnixNone(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a dir?with #odd% chars")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "x.sqlite")
	conn, err := openConn(path)
	if err != nil {
		t.Fatal(err)
	}
	defer closeConn(conn)
	if err := setup(conn, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the database is not at its path: %v", err)
	}
	// A relative path works too (serve's default data directory is ./.den).
	t.Chdir(dir)
	rel, err := openConn("rel.sqlite")
	if err != nil {
		t.Fatalf("open a relative path: %v", err)
	}
	err = setup(rel, false)
	closeConn(rel)
	if err != nil {
		t.Fatalf("set up a relative path: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "rel.sqlite")); err != nil {
		t.Fatalf("the relative database is not in the working directory: %v", err)
	}
	tls := connTLSOf(conn)
	main, err := libc.CString("main")
	if err != nil {
		t.Fatal(err)
	}
	defer libc.Xfree(tls, main)
	out := libc.Xmalloc(tls, 8)
	defer libc.Xfree(tls, out)
	*(*uintptr)(cmem(out)) = 0
	if rc := lib.Xsqlite3_file_control(tls, connHandleOf(conn), main, lib.SQLITE_FCNTL_VFSNAME, out); rc != lib.SQLITE_OK {
		t.Fatalf("file_control: %d", rc)
	}
	name := *(*uintptr)(cmem(out))
	defer lib.Xsqlite3_free(tls, name)
	if got := libc.GoString(name); got != vfsName {
		t.Fatalf("VFS %q, want %s", got, vfsName)
	}
	// It is unix-none but for its name, its place in the list and
	// xFullPathname: same file methods, same locking (pAppData selects it).
	den, unixNone := findVFS(t, vfsName), findVFS(t, "unix-none")
	den.FzName, den.FpNext, den.FxFullPathname = 0, 0, 0
	unixNone.FzName, unixNone.FpNext, unixNone.FxFullPathname = 0, 0, 0
	if den != unixNone {
		t.Fatalf("the den VFS differs from unix-none:\n%+v\n%+v", den, unixNone)
	}
}

func findVFS(t *testing.T, name string) lib.Tsqlite3_vfs {
	t.Helper()
	tls := libc.NewTLS()
	defer tls.Close()
	cname, err := libc.CString(name)
	if err != nil {
		t.Fatal(err)
	}
	defer libc.Xfree(tls, cname)
	p := lib.Xsqlite3_vfs_find(tls, cname)
	if p == 0 {
		t.Fatalf("no VFS %q", name)
	}
	return *(*lib.Tsqlite3_vfs)(cmem(p))
}

// The den VFS takes an absolute path as the database's full path, without
// resolving symbolic links (Den names the WAL path + "-wal" itself), and
// resolves a relative one as unix does.
func TestFullPathname(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "real"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "link", "x.sqlite")
	conn, err := openConn(path)
	if err != nil {
		t.Fatal(err)
	}
	defer closeConn(conn)
	if err := setup(conn, false); err != nil {
		t.Fatal(err)
	}
	tls := connTLSOf(conn)
	main, err := libc.CString("main")
	if err != nil {
		t.Fatal(err)
	}
	defer libc.Xfree(tls, main)
	if got := libc.GoString(lib.Xsqlite3_db_filename(tls, connHandleOf(conn), main)); got != path {
		t.Errorf("database file %q, want %q", got, path)
	}
	if _, err := os.Stat(filepath.Join(dir, "real", "x.sqlite-wal")); err != nil {
		t.Errorf("the WAL is not next to the database: %v", err)
	}

	out := libc.Xmalloc(tls, 4096)
	defer libc.Xfree(tls, out)
	t.Chdir(dir)
	rel, err := libc.CString("real/./y.sqlite")
	if err != nil {
		t.Fatal(err)
	}
	defer libc.Xfree(tls, rel)
	if rc := fullPathname(tls, 0, rel, 4096, out); rc != lib.SQLITE_OK {
		t.Fatalf("fullPathname of a relative path: %d", rc)
	}
	want, err := filepath.EvalSymlinks(dir) // unix resolves the working directory's links
	if err != nil {
		t.Fatal(err)
	}
	if got := libc.GoString(out); got != filepath.Join(want, "real", "y.sqlite") {
		t.Errorf("relative path resolved to %q, want %q", got, filepath.Join(want, "real", "y.sqlite"))
	}
}

// A connection opened while another is closing, at the moment SQLite has
// freed the closing one's sqlite3 object, keeps its entries in zombiezen's
// process-wide tables, although Close removes the entries of the address it
// freed only afterwards. (Without closeConn holding that address back, the
// new connection gets it — the free lists hand out the block freed last —
// and loses its entry: a SQL function finds no connection.)
func TestOpenWhileAnotherCloses(t *testing.T) {
	if !holdingWorks() {
		t.Skip("Den's memory methods are not installed; closes are serialized")
	}
	dir := t.TempDir()
	closing, err := openConn(filepath.Join(dir, "closing.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	freed := connHandleOf(closing)
	var opened *sqlite.Conn
	var openErr error
	var fired atomic.Bool
	hook := func(p uintptr) {
		// Called on the closing goroutine, inside sqlite3_close, before
		// zombiezen removes the closing connection's entries.
		if p == freed && fired.CompareAndSwap(false, true) {
			opened, openErr = openConn(filepath.Join(dir, "opened.sqlite"))
		}
	}
	afterFree.Store(&hook)
	err = closeConn(closing)
	afterFree.Store(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !fired.Load() {
		t.Fatal("SQLite did not free the connection through Den's memory methods")
	}
	if openErr != nil {
		t.Fatal(openErr)
	}
	defer closeConn(opened)
	if connHandleOf(opened) == freed {
		t.Error("a connection opened while another closed got its address")
	}
	err = opened.CreateFunction("finds_its_conn", &sqlite.FunctionImpl{
		Scalar: func(ctx sqlite.Context, _ []sqlite.Value) (sqlite.Value, error) {
			return sqlite.IntegerValue(int64(boolInt(ctx.Conn() == opened))), nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	err = sqlitex.ExecuteTransient(opened, "SELECT finds_its_conn()", &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error { found = stmt.ColumnBool(0); return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatal("the new connection lost its entry in zombiezen's connection table to the other's Close")
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// A closed connection's C stack (its thread state, with the blocks of the
// call depths it reached) serves the next connection opened, and the
// connection works on it.
func TestClosedConnectionStackIsReused(t *testing.T) {
	dir := t.TempDir()
	open := func(name string) *sqlite.Conn {
		t.Helper()
		conn, err := openConn(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := sqlitex.ExecuteScript(conn, "CREATE TABLE IF NOT EXISTS t (x); INSERT INTO t VALUES (1)", nil); err != nil {
			t.Fatal(err)
		}
		return conn
	}
	first := open("a.sqlite")
	used := connTLSOf(first)
	if err := closeConn(first); err != nil {
		t.Fatal(err)
	}
	second := open("b.sqlite")
	defer closeConn(second)
	if got := connTLSOf(second); got != used {
		t.Fatalf("the next connection runs on thread state %p, want the closed one's (%p)", got, used)
	}
	n, err := sqlitex.ResultInt(second.Prep("SELECT count(*) FROM t"))
	if err != nil || n != 1 {
		t.Fatalf("count = %d, %v; want 1", n, err)
	}
}
