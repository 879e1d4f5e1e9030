package sqlite_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/den-run/den"
	"github.com/den-run/den/sqlite"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const class = "Counter"

// testID returns the ID of the object named name under a fixed key.
func testID(name string) den.ID { return den.Key{1}.IDFromName(name) }

// mustOpen opens object name of class in s, closing it when the test ends.
func mustOpen(tb testing.TB, s *sqlite.Store, name string) den.Database {
	tb.Helper()
	db, err := s.Open(context.Background(), class, testID(name))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// mustDB opens a fresh database in a temporary directory.
func mustDB(tb testing.TB) den.Database {
	tb.Helper()
	return mustOpen(tb, sqlite.NewStore(tb.TempDir()), "test")
}

// wantCode fails the test unless err is a *den.Error with code.
func wantCode(tb testing.TB, err error, code string) *den.Error {
	tb.Helper()
	if err == nil {
		tb.Fatalf("got no error, want %s", code)
	}
	e, ok := errors.AsType[*den.Error](err)
	if !ok {
		tb.Fatalf("got %T %v, want *den.Error %s", err, err, code)
	}
	if e.Code != code {
		tb.Fatalf("got code %s (%v), want %s", e.Code, err, code)
	}
	return e
}

// must fails the test if err is not nil.
func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// mustGet returns the value of key, failing the test on an error.
func mustGet(tb testing.TB, db den.KV, key string) (string, bool) {
	tb.Helper()
	v, ok, err := db.Get(key)
	if err != nil {
		tb.Fatal(err)
	}
	return string(v), ok
}

// keys returns the keys of entries.
func keys(entries []den.Entry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Key
	}
	return out
}

// wantKeys fails the test unless db holds exactly the keys in want,
// comma-separated, in order.
func wantKeys(tb testing.TB, db den.KV, want string) {
	tb.Helper()
	all, err := db.List(den.ListOptions{})
	must(tb, err)
	if got := strings.Join(keys(all), ","); got != want {
		tb.Errorf("keys = %s, want %s", got, want)
	}
}

// fill puts key → "v:"+key for every key.
func fill(tb testing.TB, db den.KV, keys ...string) {
	tb.Helper()
	for _, k := range keys {
		must(tb, db.Put(k, []byte("v:"+k)))
	}
}
