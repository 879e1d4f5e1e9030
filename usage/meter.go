package usage

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/den-run/den"
	"zombiezen.com/go/sqlite"
)

// Defaults of Config.
const (
	DefaultFlushEvery = time.Second
	DefaultRetention  = 90 * 24 * time.Hour
)

// Config configures a Meter. Zero fields take the defaults shown.
type Config struct {
	Path       string        // required: the SQLite file, such as <data>/usage.sqlite
	FlushEvery time.Duration // DefaultFlushEvery: how often observations are written
	Retention  time.Duration // DefaultRetention: hourly usage older than this is deleted
	// Scan lists every object database that exists: its class, ID and
	// size on disk. Open calls it to fill a catalog that is new (or whose
	// last fill was interrupted); nil means there is nothing to fill from.
	Scan   func(ctx context.Context, add func(class string, id [32]byte, bytes int64) error) error
	Now    func() time.Time // time.Now
	Logger *slog.Logger     // slog.Default()
}

type objKey struct {
	class string
	id    [32]byte
}

type useKey struct {
	objKey
	hour int64 // unix seconds of the hour's start
}

// counts is one object's usage in one hour, in raw units.
type counts struct {
	http, rpc, alarms, messages int64
	busy, hibernated            int64 // nanoseconds
	rowsRead, rowsWritten       int64
}

// catUpdate is what changed in an object's catalog row since the last pass.
type catUpdate struct {
	name  string
	bytes int64 // -1: unknown
	last  int64 // unix ns of its last turn; 0: none
	gone  bool  // its database no longer exists: delete the row
}

// sockets are one object's hibernatable WebSockets.
type sockets struct {
	active, hibernated int
	since              int64 // unix ns from which hibernated time is not yet counted
}

// Meter gathers usage and catalog updates in memory and writes them to its
// file from one goroutine; it implements den.Observer and
// den.WebSocketObserver. Its methods are safe for concurrent use.
type Meter struct {
	cfg Config
	log *slog.Logger

	ctx    context.Context // canceled by Close
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup // the writer
	reqs   chan *request

	wr       *sqlite.Conn // owned by the writer goroutine (by Open before it starts)
	lastHour int64        // the hour of the writer's last pass; owned by the writer

	rmu sync.Mutex   // protects rd
	rd  *sqlite.Conn // reads: catalog pages and reports

	mu      sync.Mutex // protects following fields
	use     map[useKey]*counts
	cat     map[objKey]*catUpdate
	socks   map[objKey]*sockets
	objects map[string]int64 // catalog rows by class
	stored  map[string]int64 // catalog bytes by class
	opened  bool
	closed  bool
}

// request asks the writer to write now, and to delete an object's row.
type request struct {
	forget *objKey
	err    error
	done   chan struct{}
}

var (
	_ den.Observer          = (*Meter)(nil)
	_ den.WebSocketObserver = (*Meter)(nil)
)

// New returns a Meter with cfg. It touches nothing: Open does.
func New(cfg Config) *Meter {
	if cfg.FlushEvery <= 0 {
		cfg.FlushEvery = DefaultFlushEvery
	}
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Meter{
		cfg: cfg, log: cfg.Logger, reqs: make(chan *request),
		use: map[useKey]*counts{}, cat: map[objKey]*catUpdate{}, socks: map[objKey]*sockets{},
		objects: map[string]int64{}, stored: map[string]int64{},
	}
}

// Open opens (creating if needed) the file, fills the catalog with
// Config.Scan if it is new, and starts the writer.
func (m *Meter) Open(ctx context.Context) (err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.opened {
		return den.Errorf(den.EINVALID, "usage: already opened")
	}
	m.opened = true
	if m.wr, err = openConn(m.cfg.Path); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			m.wr.Close()
			if m.rd != nil {
				m.rd.Close()
			}
		}
	}()
	if err := setup(m.wr); err != nil {
		return den.Errorf(den.EINTERNAL, "open usage: %w", err)
	}
	if err := m.fill(ctx); err != nil {
		return err
	}
	if m.objects, m.stored, err = totals(m.wr); err != nil {
		return den.Errorf(den.EINTERNAL, "open usage: %w", err)
	}
	rd, err := openConn(m.cfg.Path)
	if err != nil {
		return err
	}
	m.rmu.Lock()
	m.rd = rd
	m.rmu.Unlock()
	m.ctx, m.cancel = context.WithCancelCause(context.Background())
	m.wg.Go(m.writer)
	return nil
}

// Close writes what is pending, stops the writer and closes the file.
// Observations after Close are dropped. Close is idempotent.
func (m *Meter) Close() error {
	m.mu.Lock()
	if m.closed || !m.opened || m.cancel == nil {
		m.closed = true
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	m.cancel(errors.New("usage closed"))
	m.wg.Wait()
	m.rmu.Lock()
	defer m.rmu.Unlock()
	err := m.rd.Close()
	if werr := m.wr.Close(); err == nil {
		err = werr
	}
	if err != nil {
		return den.Errorf(den.EINTERNAL, "close usage: %w", err)
	}
	return nil
}

// Flush writes everything observed so far and returns once it is in the
// file, so a report or a catalog page made after it sees it.
func (m *Meter) Flush(ctx context.Context) error { return m.do(ctx, &request{}) }

// Forget deletes object id of class from the catalog (its usage history
// stays): for an object being deleted.
func (m *Meter) Forget(ctx context.Context, class string, id [32]byte) error {
	k := objKey{class, id}
	m.mu.Lock()
	delete(m.cat, k)
	delete(m.socks, k)
	m.mu.Unlock()
	return m.do(ctx, &request{forget: &k})
}

func (m *Meter) do(ctx context.Context, r *request) error {
	if m.ctx == nil {
		return den.Errorf(den.EUNAVAILABLE, "usage is not open")
	}
	r.done = make(chan struct{})
	select {
	case m.reqs <- r:
	case <-m.ctx.Done():
		return den.Errorf(den.EUNAVAILABLE, "usage is closed")
	case <-ctx.Done():
		return den.Errorf(den.ECANCELED, "usage: %v", context.Cause(ctx))
	}
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return den.Errorf(den.ECANCELED, "usage: %v", context.Cause(ctx))
	}
}

// writer writes every FlushEvery, when asked, and once more at Close.
func (m *Meter) writer() {
	tick := time.NewTicker(m.cfg.FlushEvery)
	defer tick.Stop()
	for {
		select {
		case <-m.ctx.Done():
			if err := m.write(nil); err != nil {
				m.log.Error("write usage", "err", err)
			}
			return
		case <-tick.C:
			if err := m.write(nil); err != nil {
				m.log.Error("write usage", "err", err)
			}
		case r := <-m.reqs:
			r.err = m.write(r.forget)
			close(r.done)
		}
	}
}

func hourOf(t time.Time) int64 {
	s := t.Unix()
	return s - s%secondsPerHour
}

// countsFor returns k's counts in the current hour. Call with m.mu held.
func (m *Meter) countsFor(k objKey, now time.Time) *counts {
	uk := useKey{k, hourOf(now)}
	c := m.use[uk]
	if c == nil {
		c = &counts{}
		m.use[uk] = c
	}
	return c
}

// catFor returns k's pending catalog update. Call with m.mu held.
func (m *Meter) catFor(k objKey) *catUpdate {
	c := m.cat[k]
	if c == nil {
		c = &catUpdate{bytes: -1}
		m.cat[k] = c
	}
	return c
}

// Turn adds a turn's usage; see den.Observer. Internal turns are not billed.
func (m *Meter) Turn(s den.TurnStats) {
	now := m.cfg.Now()
	k := objKey{s.Namespace.Class(), s.ID.Bytes()}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	if s.Kind != den.EventInternal {
		c := m.countsFor(k, now)
		switch s.Kind {
		case den.EventFetch:
			c.http++
		case den.EventCall:
			c.rpc++
		case den.EventAlarm:
			c.alarms++
		}
		c.busy += int64(s.Busy)
		c.rowsRead += s.RowsRead
		c.rowsWritten += s.RowsWritten
	}
	u := m.catFor(k)
	u.gone = false
	if u.name == "" {
		u.name = s.ID.Name()
	}
	u.last = now.UnixNano()
	if s.Bytes >= 0 {
		u.bytes = s.Bytes
	}
}

// Refused does nothing: an event that never ran is not billed.
func (m *Meter) Refused(ns *den.Namespace, id den.ID, kind den.EventKind, code string) {}

// Idle adds the object's last busy time; see den.Observer.
func (m *Meter) Idle(ns *den.Namespace, id den.ID, busy time.Duration) {
	if busy <= 0 {
		return
	}
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.countsFor(objKey{ns.Class(), id.Bytes()}, now).busy += int64(busy)
	}
}

// Left records the object's size, or deletes its catalog row if its
// database is gone; see den.Observer.
func (m *Meter) Left(ns *den.Namespace, id den.ID, bytes int64, stored bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	u := m.catFor(objKey{ns.Class(), id.Bytes()})
	if !stored {
		u.gone = true
		return
	}
	if bytes >= 0 {
		u.bytes = bytes
	}
}

// socketsFor returns k's sockets, counting its hibernated time up to now.
// Call with m.mu held.
func (m *Meter) socketsFor(k objKey, now time.Time) *sockets {
	s := m.socks[k]
	if s == nil {
		s = &sockets{since: now.UnixNano()}
		m.socks[k] = s
	}
	m.accrue(k, s, now)
	return s
}

// accrue counts k's hibernated time up to now. Call with m.mu held.
func (m *Meter) accrue(k objKey, s *sockets, now time.Time) {
	t := now.UnixNano()
	if s.hibernated > 0 && t > s.since {
		m.countsFor(k, now).hibernated += t - s.since
	}
	s.since = t
}

// settle drops k's sockets record once it has none. Call with m.mu held.
func (m *Meter) settle(k objKey, s *sockets) {
	if s.active <= 0 && s.hibernated <= 0 {
		delete(m.socks, k)
	}
}

// WebSocketOpened counts a socket; see den.WebSocketObserver.
func (m *Meter) WebSocketOpened(ns *den.Namespace, id den.ID) {
	m.sockets(ns, id, func(s *sockets) { s.active++ })
}

// WebSocketMessage bills an incoming message (20 make a request); see
// den.WebSocketObserver.
func (m *Meter) WebSocketMessage(ns *den.Namespace, id den.ID) {
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.countsFor(objKey{ns.Class(), id.Bytes()}, now).messages++
	}
}

// WebSocketClosed uncounts a socket; see den.WebSocketObserver.
func (m *Meter) WebSocketClosed(ns *den.Namespace, id den.ID, hibernated bool) {
	m.sockets(ns, id, func(s *sockets) {
		if hibernated {
			s.hibernated = max(s.hibernated-1, 0)
		} else {
			s.active = max(s.active-1, 0)
		}
	})
}

// WebSocketsHibernated starts counting the object's time out of memory with
// sockets connected (not billed: what hibernation saves); see
// den.WebSocketObserver.
func (m *Meter) WebSocketsHibernated(ns *den.Namespace, id den.ID, n int) {
	m.sockets(ns, id, func(s *sockets) {
		s.active = max(s.active-n, 0)
		s.hibernated += n
	})
}

// WebSocketsWoken moves sockets back to active; see den.WebSocketObserver.
func (m *Meter) WebSocketsWoken(ns *den.Namespace, id den.ID, n int) {
	m.sockets(ns, id, func(s *sockets) {
		s.hibernated = max(s.hibernated-n, 0)
		s.active += n
	})
}

func (m *Meter) sockets(ns *den.Namespace, id den.ID, f func(*sockets)) {
	now := m.cfg.Now()
	k := objKey{ns.Class(), id.Bytes()}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	s := m.socketsFor(k, now)
	f(s)
	m.settle(k, s)
}

// WebSockets returns the object's sockets: active (its instance is in
// memory) and hibernated.
func (m *Meter) WebSockets(class string, id [32]byte) (active, hibernated int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.socks[objKey{class, id}]; s != nil {
		return s.active, s.hibernated
	}
	return 0, 0
}

// Count returns the number of objects of class in the catalog, as of the
// last write.
func (m *Meter) Count(class string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.objects[class]
}

// StoredBytes returns the bytes the objects of each class hold, as of the
// last write.
func (m *Meter) StoredBytes() map[string]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]int64, len(m.stored))
	for c, n := range m.stored {
		out[c] = n
	}
	return out
}
