package sqlite

import (
	"context"
	"fmt"
	"testing"

	"github.com/den-run/den"
	"modernc.org/libc"
	lib "modernc.org/sqlite/lib"
)

// TestListCompilesOnce checks that List's statements are compiled once per
// connection: a statement that SQLite recompiles at every step (a bound
// LIMIT with a two-sided range does that) costs a parse on every call.
func TestListCompilesOnce(t *testing.T) {
	s := NewStore(t.TempDir())
	db, err := s.Open(context.Background(), "C", den.Key{}.IDFromName("x"))
	if err != nil {
		t.Fatal(err)
	}
	d := db.(*DB)
	defer d.Close()
	if err := d.Begin(); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := d.Put(fmt.Sprintf("p:%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	for _, opts := range []den.ListOptions{
		{Prefix: "p:", Limit: 1},
		{Prefix: "p:", Limit: 2, Reverse: true},
		{Start: "p:1", End: "p:4"},
		{Start: "p:1", End: "p:4", Reverse: true},
		{Start: "p:2", Limit: 2},
		{Start: "p:2", Reverse: true},
	} {
		for range 3 {
			if _, err := d.List(opts); err != nil {
				t.Fatal(err)
			}
		}
	}
	tls, h := connTLSOf(d.conn), connHandleOf(d.conn)
	for p := lib.Xsqlite3_next_stmt(tls, h, 0); p != 0; p = lib.Xsqlite3_next_stmt(tls, h, p) {
		if n := reprepares(tls, p); n != 0 {
			t.Errorf("%q was compiled again %d times", libc.GoString(lib.Xsqlite3_sql(tls, p)), n)
		}
	}
}
