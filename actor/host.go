package actor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/internal/reqlog"
)

// Config sets up a Host. Zero fields take the defaults shown.
type Config struct {
	Store       den.Store     // required: opens each object's database
	Committer   den.Committer // den.SyncCommitter{}: one fsync per writing turn
	IdleTimeout time.Duration // 10s: an object with no event for this long is evicted
	MaxLive     int           // 10,000: beyond it the least recently used idle object is evicted
	MaxQueue    int           // 1,000: events queued per object before callers get overload errors
	Logger      *slog.Logger  // slog.Default()
	// StorageIdleTimeout, if longer than IdleTimeout, keeps an evicted
	// object's database open until the object has had no event for this
	// long: its instance leaves at IdleTimeout (the next event constructs
	// it again, as after any eviction) but the next event need not open
	// the database again. Objects resting so count against MaxLive. Zero:
	// the database closes with the instance.
	StorageIdleTimeout time.Duration
	// Alarms is told of alarms before the turns that set them commit (see
	// den.AlarmScheduler); nil stores alarms without scheduling them.
	Alarms den.AlarmScheduler
	// TempDir holds the temporary copy of a database being imported
	// (Host.Import), os.TempDir() when empty.
	TempDir string
	// Observer is told of every turn and of objects entering and leaving
	// memory, for metrics and usage metering; nil observes nothing.
	Observer den.Observer
	// OnWiped is called on the object's goroutine after an object that
	// Wipe emptied has closed its database and before another instance of
	// it can open: it deletes what the object keeps outside its database
	// (its point-in-time history). Then the Store's Remove, if it has one,
	// deletes the database's files. Errors are logged.
	OnWiped func(class string, id den.ID) error
	// Hub keeps the objects' WebSockets (package hub); nil refuses them.
	Hub den.WebSocketHub
}

// Host is the node's registry of live objects and implements den.Dispatcher.
// Its methods are safe for concurrent use.
type Host struct {
	cfg     Config
	classes map[string]*den.Class
	log     *slog.Logger
	env     *den.Env

	ctx    context.Context // canceled by Close after the drain; parent of WaitUntil work
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup // actor goroutines, WaitUntil work and the janitor

	mu        sync.Mutex // protects following fields
	actors    map[key]*actor
	clock     uint64 // counts events enqueued; an actor's used is its last
	resting   int    // actors whose instance left and whose database is open
	protected int    // actors with protected set (evict.go)
	evicting  int    // actors with evicted set, still in actors (evict.go)
	retiring  map[key]chan struct{}
	opened    bool
	closing   bool
	closed    bool
	drained   chan struct{} // closed when closing and actors is empty
}

// New returns a Host for classes. It starts nothing.
func New(cfg Config, classes ...den.Class) *Host {
	if cfg.Committer == nil {
		cfg.Committer = den.SyncCommitter{}
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 10 * time.Second
	}
	if cfg.MaxLive <= 0 {
		cfg.MaxLive = 10_000
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = 1000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &Host{
		cfg:      cfg,
		classes:  map[string]*den.Class{},
		log:      cfg.Logger,
		actors:   map[key]*actor{},
		retiring: map[key]chan struct{}{},
		drained:  make(chan struct{}),
	}
	for i := range classes {
		h.classes[classes[i].Name] = &classes[i]
	}
	return h
}

// Open starts the host's janitor, which evicts idle objects. env is what
// every object's constructor receives.
func (h *Host) Open(env *den.Env) error {
	if h.cfg.Store == nil {
		return errors.New("actor: Config.Store is required")
	}
	for name, c := range h.classes {
		if c.New == nil {
			return den.Errorf(den.EINVALID, "class %q has no New function", name)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.opened {
		return errors.New("actor: host already open")
	}
	h.opened = true
	h.env = env
	h.ctx, h.cancel = context.WithCancelCause(context.Background())
	h.wg.Go(h.janitor)
	return nil
}

// Close drains the host: new events from outside are refused with a
// retryable error, queued and running turns finish (calls they make to other
// objects still go through), every database is committed and closed, and
// WaitUntil work is canceled and awaited. If ctx ends first, Close returns
// its error without waiting further. Close is idempotent.
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	if h.closed || !h.opened {
		h.closed = true
		h.mu.Unlock()
		return nil
	}
	h.closing = true
	for _, a := range h.actors {
		a.requestStop()
	}
	h.checkDrained()
	h.mu.Unlock()

	var err error
	select {
	case <-h.drained:
	case <-ctx.Done():
		err = context.Cause(ctx)
	}
	h.cancel(errors.New("host closed"))
	if err == nil {
		waited := make(chan struct{})
		go func() { h.wg.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-ctx.Done():
			err = fmt.Errorf("waiting for WaitUntil work: %w", context.Cause(ctx))
		}
	}
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	return err
}

// checkDrained closes h.drained once a closing host has no live objects.
// Call with h.mu held.
func (h *Host) checkDrained() {
	if h.closing && len(h.actors) == 0 {
		select {
		case <-h.drained:
		default:
			close(h.drained)
		}
	}
}

// Live returns the number of objects in memory with an instance.
func (h *Host) Live() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.actors) - h.resting
}

// Resting returns the number of objects whose instance was evicted and
// whose database is still open (Config.StorageIdleTimeout).
func (h *Host) Resting() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.resting
}

// setResting marks a as resting or not, keeping h.resting. Only a's
// goroutine sets it; the host reads it under h.mu.
func (h *Host) setResting(a *actor, resting bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.markResting(a, resting)
}

// markResting is setResting with h.mu held.
func (h *Host) markResting(a *actor, resting bool) {
	if a.resting.Swap(resting) != resting {
		if resting {
			h.resting++
			h.unprotect(a) // idle for IdleTimeout: it earns its place again
		} else {
			h.resting--
		}
	}
}

// Fetch delivers req to the object's ServeHTTP.
func (h *Host) Fetch(ctx context.Context, ns *den.Namespace, id den.ID, req *http.Request) (*http.Response, error) {
	r := h.deliver(ctx, ns, id, &event{ctx: ctx, id: id, kind: den.EventFetch, req: req})
	return r.resp, r.err
}

// Call calls method on the object with serialized args.
func (h *Host) Call(ctx context.Context, ns *den.Namespace, id den.ID, method string, args []byte) ([]byte, error) {
	if den.IsReservedMethod(method) {
		return nil, den.Errorf(den.EINVALID, "'%s' is a reserved method and cannot be called over RPC.", method)
	}
	r := h.deliver(ctx, ns, id, &event{ctx: ctx, id: id, kind: den.EventCall, method: method, args: args})
	return r.data, r.err
}

// Run delivers fn to the object as a turn: it runs on the object's
// goroutine, serialized with its other events, inside the turn's implicit
// transaction (an error rolls it back), and its result is released through
// the output gate. fn receives the live instance, constructed if needed; with
// bare, the instance is not constructed and obj is whatever is live (maybe
// nil) — for operators' tools that only need storage. Run is how the
// runtime's own events (alarms, operator queries) reach objects.
func (h *Host) Run(ctx context.Context, ns *den.Namespace, id den.ID, bare bool, fn func(ctx context.Context, obj any, st den.State) ([]byte, error)) ([]byte, error) {
	return h.run(ctx, ns, id, bare, den.EventInternal, fn)
}

// run is Run for an event of kind.
func (h *Host) run(ctx context.Context, ns *den.Namespace, id den.ID, bare bool, kind den.EventKind, fn func(ctx context.Context, obj any, st den.State) ([]byte, error)) ([]byte, error) {
	r := h.deliver(ctx, ns, id, &event{ctx: ctx, id: id, kind: kind, run: fn, bare: bare})
	return r.data, r.err
}

// deliver queues ev for the object and waits for its result. A caller inside
// a turn waits on its own goroutine, letting in events of its call chain.
func (h *Host) deliver(ctx context.Context, ns *den.Namespace, id den.ID, ev *event) result {
	class := h.classes[ns.Class()]
	if class == nil {
		return result{err: den.Errorf(den.ENOTFOUND, "no class %q is registered on this host", ns.Class())}
	}
	if err := ctx.Err(); err != nil {
		return result{err: canceled(ctx)}
	}
	t := turnFrom(ctx)
	if t != nil && t.a.h == h {
		ev.chain = t.chainFor()
		t.a.ensureReentry() // before the call leaves: its chain may come back
	}
	if t == nil {
		if info := reqlog.From(ctx); info != nil {
			info.Reached(ns.Binding(), id.Bytes())
		}
	}
	ev.reply = make(chan result, 1)
	k := key{class: class.Name, id: id.Bytes()}

	if t != nil {
		// An outgoing call is a yield point: the writes so far commit and
		// become durable before the call leaves (the output gate).
		if err := t.a.yield(t); err != nil {
			return result{err: err}
		}
	}
	if err := h.enqueue(k, ns, class, ev); err != nil {
		if o := h.cfg.Observer; o != nil {
			o.Refused(ns, id, ev.kind, den.ErrorCode(err))
		}
		if t != nil {
			t.a.resume(t)
		}
		return result{err: err}
	}
	if t != nil {
		r := t.a.await(ctx, t, ev)
		if err := t.a.resume(t); err != nil && r.err == nil {
			r = result{err: err}
		}
		return r
	}
	select {
	case r := <-ev.reply:
		return r
	case <-ctx.Done():
		return result{err: canceled(ctx)}
	}
}

// enqueue finds or creates the live object for k and puts ev in its mailbox,
// or in its re-entry queue when the object is waiting in ev's call chain.
func (h *Host) enqueue(k key, ns *den.Namespace, class *den.Class, ev *event) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.opened || h.closed || (h.closing && ev.chain == nil) {
		return &den.Error{Code: den.EUNAVAILABLE, Message: den.MsgShuttingDown, Retryable: true}
	}
	a := h.actors[k]
	if a == nil {
		a = newActor(h, k, ns, class, ev.id)
		a.prev = h.retiring[k]
		h.actors[k] = a
		a.used = h.clock
		h.clock++
		h.evictOverCap(a)
		h.wg.Go(a.run)
		if h.closing {
			a.requestStop()
		}
	} else {
		a.used = h.clock
		h.clock++
		h.protect(a)
	}
	if !a.put(ev) {
		return &den.Error{Code: den.EOVERLOADED, Message: den.MsgOverloadedQueue, Overloaded: true, ObjectID: ev.id.String()}
	}
	a.pending.Add(1)
	return nil
}

// put queues ev in a's mailbox, or in its re-entry queue when a waits in
// ev's call chain, and reports whether there was room. Called with h.mu
// held.
func (a *actor) put(ev *event) bool {
	if inChain(ev.chain, a.key) && a.reentry != nil { // nil: it never called out, so it is in no chain
		select {
		case a.reentry <- ev:
			return true
		default:
			return false
		}
	}
	return a.mailbox.put(ev)
}

// janitor evicts objects idle for longer than the idle timeout: their
// instances, and their databases after StorageIdleTimeout.
func (h *Host) janitor() {
	period := max(h.cfg.IdleTimeout/4, time.Millisecond)
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case now := <-tick.C:
			rest := now.Add(-h.cfg.IdleTimeout).UnixNano()
			stop := now.Add(-max(h.cfg.IdleTimeout, h.cfg.StorageIdleTimeout)).UnixNano()
			h.mu.Lock()
			for _, a := range h.actors {
				if !a.idle() {
					continue
				}
				switch last := a.lastActive.Load(); {
				case last <= stop:
					a.requestStop()
				case last <= rest && !a.resting.Load():
					a.requestRest()
				}
			}
			h.mu.Unlock()
		}
	}
}

// remove takes a leaving actor out of the registry if it may leave: nothing
// is queued for it and nothing keeps it alive. It reports whether it did.
func (h *Host) remove(a *actor) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if a.pending.Load() != 0 || a.flushing.Load() != 0 || (a.keepalive.Load() != 0 && !h.closing) {
		return false // the last test keeps held outputs in order across instances
	}
	if h.actors[a.key] == a {
		delete(h.actors, a.key)
		h.markResting(a, false)
		h.unprotect(a)
		h.unevict(a)
	}
	h.retiring[a.key] = a.done
	h.checkDrained()
	return true
}

// forget drops the record of a retired actor once its database is closed.
func (h *Host) forget(a *actor) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.retiring[a.key] == a.done {
		delete(h.retiring, a.key)
	}
}

func (h *Host) now() int64 { return time.Now().UnixNano() }

func canceled(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return den.Errorf(den.ETIMEOUT, "waiting for the Durable Object: %v", context.Cause(ctx))
	}
	return den.Errorf(den.ECANCELED, "the caller went away: %v", context.Cause(ctx))
}
