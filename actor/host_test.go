package actor_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/actor"
	"github.com/den-run/den/sqlite"
)

// world is a test app: one class, "Probe", whose instances report to it.
type world struct {
	host   *actor.Host
	env    *den.Env
	ns     *den.Namespace
	built  atomic.Int64 // constructions
	inside atomic.Int64 // turns running now, across all instances
	most   atomic.Int64 // the most turns ever running at once in one object
	gate   chan struct{}
	gated  chan string // a Wait turn reports its name here once it is running
}

type probe struct {
	w  *world
	st den.State
	n  int // in-memory only: lost on reset
}

func (p *probe) enter() func() {
	if n := p.w.inside.Add(1); n > p.w.most.Load() {
		p.w.most.Store(n)
	}
	return func() { p.w.inside.Add(-1) }
}

// Add adds n to the stored count and returns it.
func (p *probe) Add(ctx context.Context, n int) (int, error) {
	defer p.enter()()
	v, _, err := den.GetJSON[int](p.st.Storage(), "count")
	if err != nil {
		return 0, err
	}
	v += n
	p.n++
	return v, den.PutJSON(p.st.Storage(), "count", v)
}

// Count returns the stored count.
func (p *probe) Count(ctx context.Context) (int, error) {
	v, _, err := den.GetJSON[int](p.st.Storage(), "count")
	return v, err
}

// Memory returns the in-memory call count of this instance.
func (p *probe) Memory() int { return p.n }

// AddThenFail writes and then fails: the write must roll back.
func (p *probe) AddThenFail(ctx context.Context, n int) error {
	if _, err := p.Add(ctx, n); err != nil {
		return err
	}
	return den.Errorf(den.EINVALID, "refused on purpose")
}

// AddThenPanic writes and then panics.
func (p *probe) AddThenPanic(ctx context.Context, n int) error {
	p.Add(ctx, n)
	panic("boom")
}

// AddThenAbort writes and then aborts.
func (p *probe) AddThenAbort(ctx context.Context, n int) error {
	p.Add(ctx, n)
	p.st.Abort("test says so")
	return nil
}

// Wait blocks its turn until the world's gate opens.
func (p *probe) Wait(ctx context.Context, name string) (string, error) {
	defer p.enter()()
	p.w.gated <- name
	select {
	case <-p.w.gate:
		return name, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Relay calls method on the object named to, passing along the rest of the path.
func (p *probe) Relay(ctx context.Context, path []string) (string, error) {
	defer p.enter()()
	if len(path) == 0 {
		return p.st.ID().Name(), nil
	}
	got, err := den.Call[string](ctx, p.w.ns.GetByName(path[0]), "Relay", path[1:])
	if err != nil {
		return "", err
	}
	return p.st.ID().Name() + ">" + got, nil
}

// AddUnconfirmed writes without holding the output gate.
func (p *probe) AddUnconfirmed(ctx context.Context, n int) (int, error) {
	v, _, err := den.GetJSON[int](p.st.Storage(), "count")
	if err != nil {
		return 0, err
	}
	return v + n, den.PutJSON(p.st.Storage().Unconfirmed(), "count", v+n)
}

// AddSynced writes, waits until the write is durable, then reads it back.
func (p *probe) AddSynced(ctx context.Context, n int) (int, error) {
	if _, err := p.Add(ctx, n); err != nil {
		return 0, err
	}
	if err := p.st.Storage().Sync(ctx); err != nil {
		return 0, err
	}
	return p.Count(ctx)
}

// RelayWait calls Wait on the object named to.
func (p *probe) RelayWait(ctx context.Context, to string) (string, error) {
	return den.Call[string](ctx, p.w.ns.GetByName(to), "Wait", to)
}

// AddAndRelay writes, then calls another object: the write is durable
// before the call leaves.
func (p *probe) AddAndRelay(ctx context.Context, to string) (string, error) {
	if _, err := p.Add(ctx, 1); err != nil {
		return "", err
	}
	return den.Call[string](ctx, p.w.ns.GetByName(to), "Relay", []string{})
}

// Block runs fn-like work under BlockConcurrencyWhile and fails if told to.
func (p *probe) Block(ctx context.Context, fail bool) error {
	return p.st.BlockConcurrencyWhile(ctx, func(ctx context.Context) error {
		if fail {
			return errors.New("migration failed")
		}
		return nil
	})
}

// Nest nests BlockConcurrencyWhile depth times.
func (p *probe) Nest(ctx context.Context, depth int) error {
	var nest func(ctx context.Context, d int) error
	nest = func(ctx context.Context, d int) error {
		if d == 0 {
			return nil
		}
		return p.st.BlockConcurrencyWhile(ctx, func(ctx context.Context) error { return nest(ctx, d-1) })
	}
	return nest(ctx, depth)
}

// Slow blocks concurrency for d, ignoring its context.
func (p *probe) Slow(ctx context.Context, d time.Duration) error {
	return p.st.BlockConcurrencyWhile(ctx, func(context.Context) error {
		time.Sleep(d)
		return nil
	})
}

// Linger keeps the object alive with WaitUntil until the gate opens.
func (p *probe) Linger(ctx context.Context) error {
	p.st.WaitUntil(func(ctx context.Context) {
		select {
		case <-p.w.gate:
		case <-ctx.Done():
		}
	})
	return nil
}

func (p *probe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n, err := p.Add(r.Context(), 1)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	w.Header().Set("X-Probe", "yes")
	fmt.Fprint(w, n)
}

// newWorld opens a host over a fresh data directory.
func newWorld(tb testing.TB, cfg actor.Config) *world {
	tb.Helper()
	w := &world{gate: make(chan struct{}), gated: make(chan string, 100)}
	if cfg.Store == nil {
		cfg.Store = sqlite.NewStore(tb.TempDir())
	}
	class := den.Class{Name: "Probe", New: func(st den.State, env *den.Env) (any, error) {
		w.built.Add(1)
		return &probe{w: w, st: st}, nil
	}}
	w.host = actor.New(cfg, class)
	key, err := den.NewKey(nil)
	if err != nil {
		tb.Fatal(err)
	}
	w.ns = den.NewNamespace("PROBE", "Probe", key, w.host)
	w.env = den.NewEnv([]*den.Namespace{w.ns}, nil)
	if err := w.host.Open(w.env); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		select {
		case <-w.gate:
		default:
			close(w.gate)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := w.host.Close(ctx); err != nil {
			tb.Errorf("close host: %v", err)
		}
	})
	return w
}

func call[R any](tb testing.TB, w *world, name, method string, args ...any) R {
	tb.Helper()
	r, err := den.Call[R](context.Background(), w.ns.GetByName(name), method, args...)
	if err != nil {
		tb.Fatalf("%s.%s: %v", name, method, err)
	}
	return r
}

func TestTurnsRunOneAtATime(t *testing.T) {
	w := newWorld(t, actor.Config{})
	const n = 200
	var wg sync.WaitGroup
	seen := make([]atomic.Bool, n+1)
	for range 8 {
		wg.Go(func() {
			for range n / 8 {
				v, err := den.Call[int](context.Background(), w.ns.GetByName("one"), "Add", 1)
				if err != nil {
					t.Error(err)
					return
				}
				if seen[v].Swap(true) {
					t.Errorf("value %d returned twice", v)
				}
			}
		})
	}
	wg.Wait()
	if got := call[int](t, w, "one", "Count"); got != n {
		t.Fatalf("count = %d, want %d", got, n)
	}
	if most := w.most.Load(); most != 1 {
		t.Fatalf("%d turns ran at once in one object", most)
	}
	if b := w.built.Load(); b != 1 {
		t.Fatalf("constructed %d times, want 1", b)
	}
}

func TestFetchThroughStub(t *testing.T) {
	w := newWorld(t, actor.Config{})
	for want := 1; want <= 3; want++ {
		req, _ := http.NewRequest("POST", "http://do/anything", strings.NewReader("body"))
		resp, err := w.ns.GetByName("f").Fetch(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(b) != strconv.Itoa(want) || resp.Header.Get("X-Probe") != "yes" {
			t.Fatalf("response %d %q %v", resp.StatusCode, b, resp.Header)
		}
	}
}

func TestRPCErrors(t *testing.T) {
	w := newWorld(t, actor.Config{})
	stub := w.ns.GetByName("e")
	ctx := context.Background()
	_, err := stub.Call(ctx, "ServeHTTP")
	if err == nil || err.Error() != "'ServeHTTP' is a reserved method and cannot be called over RPC." {
		t.Errorf("reserved: %v", err)
	}
	_, err = stub.Call(ctx, "fetch")
	if err == nil || !strings.Contains(err.Error(), "reserved method") {
		t.Errorf("reserved js name: %v", err)
	}
	_, err = stub.Call(ctx, "Nope")
	if err == nil || err.Error() != `The RPC receiver does not implement the method "Nope".` || den.ErrorCode(err) != den.ENOTFOUND {
		t.Errorf("unknown: %v", err)
	}
	_, err = stub.Call(ctx, "Add")
	if err == nil || !strings.Contains(err.Error(), "takes 1 arguments, but 0 were provided") {
		t.Errorf("arity: %v", err)
	}
	_, err = stub.Call(ctx, "Add", "x")
	if den.ErrorCode(err) != den.EINVALID {
		t.Errorf("bad argument type: %v", err)
	}
	_, err = stub.Call(ctx, "enter")
	if den.ErrorCode(err) != den.ENOTFOUND {
		t.Errorf("unexported: %v", err)
	}
	// A method's own error is remote, keeps its code, and rolls back the turn.
	err = errors.New("unset")
	_, err = stub.Call(ctx, "AddThenFail", 5)
	if !den.IsRemote(err) || den.ErrorCode(err) != den.EINVALID || err.Error() != "refused on purpose" {
		t.Errorf("remote error: %#v", err)
	}
	var de *den.Error
	if errors.As(err, &de); de == nil || de.ObjectID != stub.ID().String() {
		t.Errorf("error lacks the object ID: %#v", err)
	}
	if got := call[int](t, w, "e", "Count"); got != 0 {
		t.Fatalf("failed turn left count %d", got)
	}
	// Foreign IDs fail on the stub.
	key, _ := den.NewKey(nil)
	other := key.IDFromName("e")
	if _, err := w.ns.Get(other).Call(ctx, "Count"); !errors.Is(err, den.ErrForeignID) {
		t.Errorf("foreign ID: %v", err)
	}
}

func TestPanicResetsOnlyThatObject(t *testing.T) {
	w := newWorld(t, actor.Config{})
	call[int](t, w, "p", "Add", 1)
	call[int](t, w, "q", "Add", 1)
	if call[int](t, w, "p", "Memory") != 1 {
		t.Fatal("memory not kept between turns")
	}
	_, err := w.ns.GetByName("p").Call(context.Background(), "AddThenPanic", 10)
	var de *den.Error
	if !errors.As(err, &de) || !de.Reset || !de.Remote || !strings.Contains(de.Message, "boom") {
		t.Fatalf("panic error: %#v", err)
	}
	if got := call[int](t, w, "p", "Count"); got != 1 {
		t.Fatalf("panicking turn's write survived: count %d", got)
	}
	if call[int](t, w, "p", "Memory") != 0 {
		t.Fatal("instance was not reset")
	}
	if call[int](t, w, "q", "Memory") != 1 {
		t.Fatal("another object was reset")
	}
	if b := w.built.Load(); b != 3 {
		t.Fatalf("constructions = %d, want 3", b)
	}
}

func TestAbort(t *testing.T) {
	w := newWorld(t, actor.Config{})
	_, err := w.ns.GetByName("a").Call(context.Background(), "AddThenAbort", 1)
	if err == nil || !strings.HasPrefix(err.Error(), den.MsgAbort) || !strings.Contains(err.Error(), "test says so") {
		t.Fatalf("abort error: %v", err)
	}
	if got := call[int](t, w, "a", "Count"); got != 0 {
		t.Fatalf("aborted turn's write survived: %d", got)
	}
}

func TestOverloadedQueue(t *testing.T) {
	w := newWorld(t, actor.Config{MaxQueue: 2})
	ctx := context.Background()
	stub := w.ns.GetByName("busy")
	errs := make(chan error, 10)
	go func() { _, err := stub.Call(ctx, "Wait", "first"); errs <- err }()
	<-w.gated // the object is now inside a turn
	// The queue holds 2: of 3 more calls, exactly one is refused at once.
	for range 3 {
		go func() { _, err := stub.Call(ctx, "Count"); errs <- err }()
	}
	err := <-errs
	if !den.IsOverloaded(err) || err.Error() != den.MsgOverloadedQueue || den.HTTPStatus(err) != 503 {
		t.Fatalf("want overload, got %v", err)
	}
	close(w.gate)
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestReentrantCallChain(t *testing.T) {
	w := newWorld(t, actor.Config{})
	// A→B→A completes: A waits for B while B calls back into A.
	got := call[string](t, w, "A", "Relay", []string{"B", "A", "C"})
	if got != "A>B>A>C" {
		t.Fatalf("relay = %q", got)
	}
	// A call to self re-enters too.
	if got := call[string](t, w, "S", "Relay", []string{"S"}); got != "S>S" {
		t.Fatalf("self relay = %q", got)
	}
}

func TestUnrelatedEventsWaitDuringAnOutgoingCall(t *testing.T) {
	w := newWorld(t, actor.Config{})
	ctx := context.Background()
	relay := make(chan error, 1)
	go func() {
		_, err := den.Call[string](ctx, w.ns.GetByName("A"), "RelayWait", "B")
		relay <- err
	}()
	if got := <-w.gated; got != "B" {
		t.Fatalf("gated %q", got)
	}
	// A is waiting for B in its turn. An unrelated call to A must wait.
	unrelated := make(chan error, 1)
	go func() {
		_, err := den.Call[int](ctx, w.ns.GetByName("A"), "Add", 1)
		unrelated <- err
	}()
	select {
	case err := <-unrelated:
		t.Fatalf("an unrelated call ran while A waited in a call chain (err %v)", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(w.gate)
	if err := <-relay; err != nil {
		t.Fatal(err)
	}
	if err := <-unrelated; err != nil {
		t.Fatal(err)
	}
}

func TestRunDeliversRuntimeEvents(t *testing.T) {
	w := newWorld(t, actor.Config{})
	ctx := context.Background()
	id := w.ns.IDFromName("r")
	// A bare turn uses storage without constructing the instance.
	_, err := w.host.Run(ctx, w.ns, id, true, func(ctx context.Context, obj any, st den.State) ([]byte, error) {
		if obj != nil {
			t.Error("bare turn got an instance")
		}
		return nil, den.PutJSON(st.Storage(), "count", 41)
	})
	if err != nil {
		t.Fatal(err)
	}
	if w.built.Load() != 0 {
		t.Fatal("a bare turn constructed the object")
	}
	out, err := w.host.Run(ctx, w.ns, id, false, func(ctx context.Context, obj any, st den.State) ([]byte, error) {
		n, err := obj.(*probe).Add(ctx, 1)
		return []byte(strconv.Itoa(n)), err
	})
	if err != nil || string(out) != "42" {
		t.Fatalf("Run = %q, %v", out, err)
	}
	// An error rolls the turn back and reaches the caller as remote.
	_, err = w.host.Run(ctx, w.ns, id, true, func(ctx context.Context, obj any, st den.State) ([]byte, error) {
		st.Storage().Put("count", []byte("0"))
		return nil, errors.New("nope")
	})
	if !den.IsRemote(err) || call[int](t, w, "r", "Count") != 42 {
		t.Fatalf("failed run: %v, count %d", err, call[int](t, w, "r", "Count"))
	}
}
