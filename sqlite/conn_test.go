package sqlite

import (
	"os"
	"path/filepath"
	"testing"

	"modernc.org/libc"
	lib "modernc.org/sqlite/lib"
)

// Object databases open with the unix-none VFS, whatever their path holds.
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
	if err := setup(conn); err != nil {
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
	err = setup(rel)
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
	if got := libc.GoString(name); got != "unix-none" {
		t.Fatalf("VFS %q, want unix-none", got)
	}
}
