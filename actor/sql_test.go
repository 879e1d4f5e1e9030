package actor_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/actor"
	"github.com/den-run/den/sqlite"
)

// ledger is an object that keeps entries in a SQL table and a count in KV.
type ledger struct {
	st  den.State
	env *den.Env
	mem int // in-memory only: lost on reset
}

func newLedger(st den.State, env *den.Env) (any, error) {
	err := st.BlockConcurrencyWhile(context.Background(), func(ctx context.Context) error {
		_, err := st.Storage().SQL().Exec("CREATE TABLE IF NOT EXISTS entries (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL, data BLOB)")
		return err
	})
	return &ledger{st: st, env: env}, err
}

func (l *ledger) sql() den.SQL { return l.st.Storage().SQL() }

// Add inserts an entry and counts it in KV, in one turn.
func (l *ledger) Add(ctx context.Context, amount int) (int64, error) {
	l.mem++
	id, err := den.ScanOne[int64](l.sql().Exec("INSERT INTO entries (amount) VALUES (?) RETURNING id", amount))
	if err != nil {
		return 0, err
	}
	n, _, err := den.GetJSON[int](l.st.Storage(), "count")
	if err != nil {
		return 0, err
	}
	return id, den.PutJSON(l.st.Storage(), "count", n+1)
}

// AddThenFail writes to both APIs, then fails.
func (l *ledger) AddThenFail(ctx context.Context, amount int) error {
	if _, err := l.Add(ctx, amount); err != nil {
		return err
	}
	return errors.New("changed my mind")
}

// InTransaction writes to both APIs inside Storage.Transaction.
func (l *ledger) InTransaction(ctx context.Context, fail bool) error {
	err := l.st.Storage().Transaction(func() error {
		if _, err := l.Add(ctx, 100); err != nil {
			return err
		}
		if fail {
			return errors.New("roll back")
		}
		return nil
	})
	if fail && err != nil && err.Error() == "roll back" {
		return nil
	}
	return err
}

type totals struct {
	Entries, Sum int64
	Count        int
}

// Totals reads both APIs.
func (l *ledger) Totals(ctx context.Context) (totals, error) {
	var t totals
	r, err := den.ScanOne[den.Row](l.sql().Exec("SELECT count(*), coalesce(sum(amount), 0) FROM entries"))
	if err != nil {
		return t, err
	}
	if err := r.Scan(&t.Entries, &t.Sum); err != nil {
		return t, err
	}
	t.Count, _, err = den.GetJSON[int](l.st.Storage(), "count")
	return t, err
}

// Refused runs a statement the sandbox refuses, then carries on writing.
func (l *ledger) Refused(ctx context.Context) (string, error) {
	_, err := l.sql().Exec("SELECT * FROM _cf_KV")
	if err == nil {
		return "", errors.New("_cf_KV was readable")
	}
	if _, err := l.Add(ctx, 1); err != nil {
		return "", err
	}
	return err.Error(), nil
}

// Fill inserts a blob of n bytes.
func (l *ledger) Fill(ctx context.Context, n int) error {
	_, err := l.sql().Exec("INSERT INTO entries (amount, data) VALUES (0, zeroblob(?))", n)
	return err
}

// FillQuietly inserts a blob of n bytes and ignores any error.
func (l *ledger) FillQuietly(ctx context.Context, n int) error {
	l.sql().Exec("INSERT INTO entries (amount, data) VALUES (0, zeroblob(?))", n)
	return nil
}

// Clear deletes every entry.
func (l *ledger) Clear(ctx context.Context) error {
	_, err := l.sql().Exec("DELETE FROM entries")
	return err
}

func (l *ledger) Memory() int { return l.mem }

// Size returns the database size.
func (l *ledger) Size(ctx context.Context) (int64, error) { return l.sql().DatabaseSize() }

// CursorAcrossCall reads a row, calls another object, and reads on.
func (l *ledger) CursorAcrossCall(ctx context.Context, other string) (string, error) {
	c, err := l.sql().Exec("SELECT id FROM entries")
	if err != nil {
		return "", err
	}
	if !c.Next() {
		return "", errors.New("no first row")
	}
	if _, err := den.Call[int64](ctx, l.env.Namespace("LEDGER").GetByName(other), "Add", 1); err != nil {
		return "", err
	}
	if c.Next() {
		return "", errors.New("the cursor survived the call")
	}
	if c.Err() == nil {
		return "", errors.New("no error")
	}
	return c.Err().Error(), nil
}

const ledgerQuota = 256 << 10

// newLedgerHost returns a host of ledgers whose databases are capped at
// ledgerQuota.
func newLedgerHost(tb testing.TB) (*actor.Host, *den.Namespace) {
	tb.Helper()
	store := sqlite.NewStoreWithOptions(tb.TempDir(), sqlite.Options{ClassMaxDatabaseBytes: map[string]int64{"Ledger": ledgerQuota}})
	h := actor.New(actor.Config{Store: store, Logger: slog.New(slog.DiscardHandler)}, den.Class{Name: "Ledger", New: newLedger})
	key, err := den.NewKey(nil)
	if err != nil {
		tb.Fatal(err)
	}
	ns := den.NewNamespace("LEDGER", "Ledger", key, h)
	if err := h.Open(den.NewEnv([]*den.Namespace{ns}, nil)); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			tb.Errorf("close host: %v", err)
		}
	})
	return h, ns
}

func ledgerCall[R any](tb testing.TB, ns *den.Namespace, name, method string, args ...any) R {
	tb.Helper()
	r, err := den.Call[R](context.Background(), ns.GetByName(name), method, args...)
	if err != nil {
		tb.Fatalf("%s.%s: %v", name, method, err)
	}
	return r
}

func TestSQLAndKVShareTheTurn(t *testing.T) {
	_, ns := newLedgerHost(t)
	if id := ledgerCall[int64](t, ns, "a", "Add", 5); id != 1 {
		t.Errorf("first id %d", id)
	}
	_, err := den.Call[any](context.Background(), ns.GetByName("a"), "AddThenFail", 7)
	if err == nil || !den.IsRemote(err) {
		t.Fatalf("AddThenFail: %v", err)
	}
	if got := ledgerCall[totals](t, ns, "a", "Totals"); got != (totals{1, 5, 1}) {
		t.Errorf("after a failed turn: %+v, want its SQL and KV writes rolled back", got)
	}
	if m := ledgerCall[int](t, ns, "a", "Memory"); m != 2 {
		t.Errorf("memory %d: a failed turn reset the object", m)
	}
	if err := ledgerCall[error](t, ns, "a", "InTransaction", true); err != nil {
		t.Fatal(err)
	}
	if got := ledgerCall[totals](t, ns, "a", "Totals"); got != (totals{1, 5, 1}) {
		t.Errorf("after a rolled-back Transaction: %+v", got)
	}
	ledgerCall[any](t, ns, "a", "InTransaction", false)
	if got := ledgerCall[totals](t, ns, "a", "Totals"); got != (totals{2, 105, 2}) {
		t.Errorf("after a Transaction: %+v", got)
	}
}

func TestSQLRefusalKeepsTheObject(t *testing.T) {
	_, ns := newLedgerHost(t)
	ledgerCall[int64](t, ns, "a", "Add", 1)
	msg := ledgerCall[string](t, ns, "a", "Refused")
	if !strings.Contains(msg, "access to _cf_KV.key is prohibited") {
		t.Errorf("refusal: %s", msg)
	}
	if m := ledgerCall[int](t, ns, "a", "Memory"); m != 2 {
		t.Errorf("memory %d: the refusal reset the object", m)
	}
	if got := ledgerCall[totals](t, ns, "a", "Totals"); got != (totals{2, 2, 2}) {
		t.Errorf("totals %+v: the turn did not go on after the refusal", got)
	}
}

func TestSQLQuotaResetsTheObject(t *testing.T) {
	_, ns := newLedgerHost(t)
	ctx := context.Background()
	stub := ns.GetByName("q")
	ledgerCall[int64](t, ns, "q", "Add", 1)
	ledgerCall[any](t, ns, "q", "Fill", 100_000)
	before := ledgerCall[totals](t, ns, "q", "Totals")

	// A write past the cap fails, names the cap, and resets the object.
	_, err := den.Call[any](ctx, stub, "Fill", 200_000)
	e, ok := errors.AsType[*den.Error](err)
	if !ok || e.Code != den.ELIMIT || !e.Reset || !strings.Contains(e.Message, "256 KiB (262144 bytes)") {
		t.Fatalf("Fill past the cap: %#v", err)
	}
	if m := ledgerCall[int](t, ns, "q", "Memory"); m != 0 {
		t.Errorf("memory %d: the object was not reset", m)
	}
	// Reads work and see the state before the failed turn.
	if got := ledgerCall[totals](t, ns, "q", "Totals"); got != before {
		t.Errorf("totals %+v, want %+v", got, before)
	}
	// Swallowing the error does not commit the turn's other writes.
	if _, err := den.Call[any](ctx, stub, "FillQuietly", 200_000); err == nil {
		t.Error("a turn that swallowed the quota error succeeded")
	}
	if got := ledgerCall[totals](t, ns, "q", "Totals"); got != before {
		t.Errorf("totals %+v after a swallowed error, want %+v", got, before)
	}
	// Deleting makes room again.
	ledgerCall[any](t, ns, "q", "Clear")
	ledgerCall[any](t, ns, "q", "Fill", 200_000)
	if n := ledgerCall[int64](t, ns, "q", "Size"); n <= 200_000 || n > ledgerQuota {
		t.Errorf("size %d", n)
	}
}

func TestSQLCursorEndsAtAnOutgoingCall(t *testing.T) {
	_, ns := newLedgerHost(t)
	ledgerCall[int64](t, ns, "a", "Add", 1)
	ledgerCall[int64](t, ns, "a", "Add", 2)
	msg := ledgerCall[string](t, ns, "a", "CursorAcrossCall", "b")
	if !strings.Contains(msg, "turn that opened it committed") {
		t.Errorf("cursor error: %s", msg)
	}
}

func TestRunSQLBare(t *testing.T) {
	h, ns := newLedgerHost(t)
	ctx := context.Background()
	id := ns.IDFromName("r")
	ledgerCall[int64](t, ns, "r", "Add", 3)
	run := func(q string) ([]byte, error) {
		return h.Run(ctx, ns, id, true, func(ctx context.Context, obj any, st den.State) ([]byte, error) {
			n, err := den.ScanOne[string](st.Storage().SQL().Exec(q))
			return []byte(n), err
		})
	}
	if got, err := run("SELECT group_concat(amount) FROM entries"); err != nil || string(got) != "3" {
		t.Errorf("bare read: %q %v", got, err)
	}
	// A failed operator turn rolls its writes back.
	if _, err := h.Run(ctx, ns, id, true, func(ctx context.Context, obj any, st den.State) ([]byte, error) {
		if _, err := st.Storage().SQL().Exec("DELETE FROM entries"); err != nil {
			return nil, err
		}
		return nil, errors.New("undo")
	}); err == nil || err.Error() != "undo" {
		t.Fatalf("the failing operator turn: %v", err)
	}
	if got := ledgerCall[totals](t, ns, "r", "Totals"); got != (totals{1, 3, 1}) {
		t.Errorf("totals %+v after a failed operator turn", got)
	}
}
