package sqlite

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/den-run/den"
)

// Between Leave and Enter the connection runs on a thread state of its own
// and its C stack is in the pool: the next Enter (of this object or any
// other) takes it back, and the data reads the same through every state.
func TestLeaveLendsTheConnectionsStack(t *testing.T) {
	s := NewStore(t.TempDir())
	open := func(name string) *DB {
		t.Helper()
		db, err := s.Open(context.Background(), "C", den.Key{3}.IDFromName(name))
		if err != nil {
			t.Fatal(err)
		}
		return db.(*DB)
	}
	a, b := open("a"), open("b")
	defer a.Close()
	defer b.Close()
	if err := a.Put("k", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	stack := connTLSOf(a.conn)
	a.Leave()
	if got := connTLSOf(a.conn); got == stack || got != a.home || a.sql.tls != got {
		t.Fatalf("after Leave the connection runs on %p (its stack %p, home %p, raw calls on %p); want home", got, stack, a.home, a.sql.tls)
	}
	a.Leave() // a second Leave changes nothing
	b.Leave()
	b.Enter() // takes a state from the pool, perhaps a's
	b.Leave()
	a.Enter()
	if got := connTLSOf(a.conn); got == a.home || a.sql.tls != got {
		t.Fatalf("after Enter the connection runs on %p, its home (%p), or raw calls on another (%p)", got, a.home, a.sql.tls)
	}
	if v, ok, err := a.Get("k"); err != nil || !ok || string(v) != "v1" {
		t.Fatalf("Get after Enter = %q, %v, %v", v, ok, err)
	}
	a.Leave()
	// Calls without Enter still work, on the connection's own state.
	if err := a.Put("k", []byte("v2")); err != nil {
		t.Fatal(err)
	}
	if v, _, err := a.Get("k"); err != nil || string(v) != "v2" {
		t.Fatalf("Get without Enter = %q, %v", v, err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a.Enter() // on a closed DB: nothing
	a.Leave()
}

// Objects entering, working and leaving on many goroutines at once never
// share a C stack (run with -race; modernc's state is not safe for two
// goroutines at once, so sharing would corrupt it).
func TestLentStacksAreNeverShared(t *testing.T) {
	s := NewStore(t.TempDir())
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			db, err := s.Open(context.Background(), "C", den.Key{3}.IDFromName(fmt.Sprint("g", g)))
			if err != nil {
				t.Error(err)
				return
			}
			d := db.(*DB)
			defer d.Close()
			for i := range 200 {
				d.Leave()
				d.Enter()
				if err := d.Put(fmt.Sprint("k", i%10), []byte(fmt.Sprint(i))); err != nil {
					t.Error(err)
					return
				}
				if _, err := d.List(den.ListOptions{Prefix: "k"}); err != nil {
					t.Error(err)
					return
				}
			}
			if v, _, err := d.Get("k9"); err != nil || string(v) != "199" {
				t.Errorf("goroutine %d: k9 = %q, %v", g, v, err)
			}
		})
	}
	wg.Wait()
}
