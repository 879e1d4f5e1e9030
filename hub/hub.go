package hub

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/den-run/den"
	"golang.org/x/sys/unix"
)

// Config sets up a Hub. Zero fields take the defaults shown.
type Config struct {
	Logger *slog.Logger // slog.Default()
	// MaxSendQueue is how many bytes may wait for one slow reader; past it
	// the socket is closed with 1008 (a lone larger message may still wait).
	MaxSendQueue int // 1 MiB
	// MaxMessage is the largest incoming message, den.MaxWebSocketMessage.
	MaxMessage int
	// CloseTimeout is how long a Close frame the runtime sent waits for the
	// peer's answer before the connection is cut.
	CloseTimeout time.Duration // 5s
	// ConnectTimeout is how long an accepted socket waits for its 101
	// response to be connected before it is dropped.
	ConnectTimeout time.Duration // 30s
	// RetryDelay is how long an event waits before it is offered again to
	// an object whose queue was full.
	RetryDelay time.Duration // 10ms
	// Writers is the number of goroutines writing to sockets.
	Writers int // GOMAXPROCS
	// DisableIOURing makes the writers send with send(2) and writev only.
	// By default each writer has an io_uring and sends many sockets' frames
	// (a broadcast's) with one io_uring_enter; where io_uring is not
	// available (an old kernel, a seccomp filter, io_uring_disabled) the
	// hub falls back to send(2) by itself.
	DisableIOURing bool
	// Observer is told of hibernatable sockets opening, closing,
	// hibernating and waking, and of messages delivered, for metrics and
	// usage; nil for none. It may be called with the hub's lock held, so it
	// must not call the hub.
	Observer den.WebSocketObserver
}

// Hub holds the node's accepted WebSockets; it implements den.WebSocketHub.
// New → Open → Close. Connections are parked in one epoll set: an idle
// socket has no goroutine and no buffer, only its record (a few hundred
// bytes) and its kernel socket.
type Hub struct {
	cfg Config
	log *slog.Logger
	d   den.WebSocketDeliverer

	epfd, evfd int // the epoll set and the eventfd that wakes the poller
	wg         sync.WaitGroup
	closed     atomic.Bool
	rings      int           // writers with an io_uring
	ringSends  atomic.Uint64 // sends made through the writers' rings

	mu     sync.Mutex // protects following fields
	groups map[gkey]*group
	opened bool
	nextID uint64

	fmu sync.Mutex // protects fds
	fds []*socket  // parked sockets by file descriptor

	wmu   sync.Mutex // protects following fields (the writers' queue)
	wcond *sync.Cond
	wq    []*socket
	wstop bool // the poller and the writers return

	timers timers
	enc    encoder // Send's frames

	evmu      sync.RWMutex // protects fdsClosed: held to write evfd, taken to close evfd and epfd
	fdsClosed bool
}

// gkey names one object.
type gkey struct {
	class string
	id    [32]byte
}

// group is one object's sockets and settings. Its fields are guarded by
// Hub.mu, except auto and timeout, which the poller reads without it.
type group struct {
	key     gkey
	ns      *den.Namespace
	id      den.ID
	sockets []*socket // not yet ended, in no order; socket.gidx is the index
	hib     int       // hibernatable sockets among them
	live    bool
	auto    atomic.Pointer[den.WebSocketRequestResponsePair]
	timeout atomic.Int64 // nanoseconds
}

// New returns a Hub. It starts nothing.
func New(cfg Config) *Hub {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxSendQueue <= 0 {
		cfg.MaxSendQueue = 1 << 20
	}
	if cfg.MaxMessage <= 0 {
		cfg.MaxMessage = den.MaxWebSocketMessage
	}
	if cfg.CloseTimeout <= 0 {
		cfg.CloseTimeout = 5 * time.Second
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 30 * time.Second
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = 10 * time.Millisecond
	}
	if cfg.Writers <= 0 {
		cfg.Writers = runtime.GOMAXPROCS(0)
	}
	h := &Hub{cfg: cfg, log: cfg.Logger, epfd: -1, evfd: -1, groups: map[gkey]*group{}}
	h.wcond = sync.NewCond(&h.wmu)
	return h
}

// Open starts the poller and the writers. d runs socket events as turns.
func (h *Hub) Open(d den.WebSocketDeliverer) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.opened {
		return errors.New("hub: already open")
	}
	if d == nil {
		return errors.New("hub: Open needs a deliverer")
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return den.Errorf(den.EINTERNAL, "hub: epoll_create: %w", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return den.Errorf(den.EINTERNAL, "hub: eventfd: %w", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return den.Errorf(den.EINTERNAL, "hub: epoll_ctl: %w", err)
	}
	rings := h.openRings()
	h.d, h.epfd, h.evfd, h.opened, h.rings = d, epfd, evfd, true, len(rings)
	h.wg.Go(h.poll)
	for i := range h.cfg.Writers {
		var r *ring
		if i < len(rings) {
			r = rings[i]
		}
		h.wg.Go(func() { h.write(r) })
	}
	return nil
}

// openRings sets up one io_uring per writer, or none: if io_uring is
// turned off or unavailable, every writer uses send(2).
func (h *Hub) openRings() []*ring {
	if h.cfg.DisableIOURing {
		return nil
	}
	var rings []*ring
	for range h.cfg.Writers {
		r, err := newRing(writeBatch)
		if err != nil {
			level := slog.LevelWarn
			if errors.Is(err, errRingUnavailable) {
				level = slog.LevelInfo
			}
			h.log.Log(context.Background(), level, "websocket: writers send with send(2), not io_uring", "err", err)
			for _, r := range rings {
				r.close()
			}
			return nil
		}
		rings = append(rings, r)
	}
	return rings
}

// Close stops the poller and the writers, sends every connected socket a
// Close frame with 1001 (going away) and closes its connection. No events
// are delivered for those sockets. Close does not block on the network; ctx
// is for symmetry with the other parts. Close is idempotent.
func (h *Hub) Close(ctx context.Context) error {
	h.mu.Lock()
	if !h.opened || h.closed.Load() {
		h.closed.Store(true)
		h.mu.Unlock()
		return nil
	}
	h.closed.Store(true)
	h.mu.Unlock()
	// Stop the poller and the writers, then say goodbye on this goroutine:
	// each socket gets its Close frame with one non-blocking write, and
	// the kernel sends what it took before the FIN.
	h.wmu.Lock()
	h.wstop = true
	h.wcond.Broadcast()
	h.wmu.Unlock()
	h.wake()
	h.wg.Wait()

	h.mu.Lock()
	var all []*socket
	for _, g := range h.groups {
		all = append(all, g.sockets...)
	}
	h.groups = map[gkey]*group{}
	h.mu.Unlock()
	for _, s := range all {
		s.mu.Lock()
		s.goodbyeLocked(den.CloseGoingAway, "Durable Object runtime is shutting down")
		s.mu.Unlock()
	}
	// Sockets already out of their groups may still be flushing a Close.
	h.fmu.Lock()
	rest := slices.Clone(h.fds)
	h.fmu.Unlock()
	for _, s := range rest {
		if s != nil {
			s.mu.Lock()
			s.shutdownLocked()
			s.mu.Unlock()
		}
	}
	h.evmu.Lock()
	h.fdsClosed = true
	unix.Close(h.evfd)
	unix.Close(h.epfd)
	h.evmu.Unlock()
	return nil
}

// wake interrupts the poller's wait. After Close it does nothing: the
// eventfd's number may belong to another file by then.
func (h *Hub) wake() {
	h.evmu.RLock()
	defer h.evmu.RUnlock()
	if !h.fdsClosed && h.evfd >= 0 {
		one := [8]byte{1}
		unix.Write(h.evfd, one[:])
	}
}

func keyOf(ns *den.Namespace, id den.ID) gkey { return gkey{class: ns.Class(), id: id.Bytes()} }

// groupLocked returns the object's group, creating it. Call with h.mu held.
func (h *Hub) groupLocked(ns *den.Namespace, id den.ID) *group {
	k := keyOf(ns, id)
	g := h.groups[k]
	if g == nil {
		g = &group{key: k, ns: ns, id: id}
		h.groups[k] = g
	}
	return g
}

// dropLocked forgets g if it has no socket and its object is not live.
func (h *Hub) dropLocked(g *group) {
	if len(g.sockets) == 0 && !g.live && h.groups[g.key] == g {
		delete(h.groups, g.key)
	}
}

// Accept implements den.WebSocketHub.
func (h *Hub) Accept(ns *den.Namespace, id den.ID, r *http.Request, tags []string, hibernatable bool) (den.HubSocket, error) {
	if h.closed.Load() {
		return nil, &den.Error{Code: den.EUNAVAILABLE, Message: den.MsgShuttingDown, Retryable: true}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.opened {
		return nil, den.Errorf(den.EUNAVAILABLE, "the WebSocket hub is not running")
	}
	g := h.groupLocked(ns, id)
	g.live = true
	if hibernatable && g.hib >= den.MaxWebSocketsPerObject {
		return nil, den.Errorf(den.ELIMIT, "%s", den.MsgWebSocketTooMany)
	}
	h.nextID++
	s := &socket{h: h, g: g, id: h.nextID, tags: tags, hib: hibernatable, fd: -1, gidx: len(g.sockets), opened: time.Now(), remote: r.RemoteAddr}
	g.sockets = append(g.sockets, s)
	if hibernatable {
		g.hib++
	}
	if o := h.cfg.Observer; o != nil && hibernatable {
		o.WebSocketOpened(ns, id)
	}
	h.timers.add(h, s, timerConnect)
	return s, nil
}

// removeLocked takes s out of its group. Call with h.mu held.
func (h *Hub) removeLocked(s *socket) {
	g := s.g
	if s.gidx < 0 || s.gidx >= len(g.sockets) || g.sockets[s.gidx] != s {
		return
	}
	last := len(g.sockets) - 1
	g.sockets[s.gidx] = g.sockets[last]
	g.sockets[s.gidx].gidx = s.gidx
	g.sockets[last] = nil
	g.sockets = g.sockets[:last]
	s.gidx = -1
	if s.hib {
		g.hib--
	}
	if o := h.cfg.Observer; o != nil && s.hib {
		o.WebSocketClosed(g.ns, g.id, !g.live)
	}
	h.dropLocked(g)
}

// Sockets implements den.WebSocketHub.
func (h *Hub) Sockets(ns *den.Namespace, id den.ID, tag string) []den.HubSocket {
	h.mu.Lock()
	defer h.mu.Unlock()
	g := h.groups[keyOf(ns, id)]
	if g == nil {
		return nil
	}
	out := make([]den.HubSocket, 0, g.hib)
	for _, s := range g.sockets {
		if s.hib && (tag == "" || slices.Contains(s.tags, tag)) {
			out = append(out, s)
		}
	}
	return out
}

// SetAutoResponse implements den.WebSocketHub.
func (h *Hub) SetAutoResponse(ns *den.Namespace, id den.ID, pair *den.WebSocketRequestResponsePair) {
	h.mu.Lock()
	defer h.mu.Unlock()
	g := h.groupLocked(ns, id)
	g.live = true
	if pair != nil {
		p := *pair
		pair = &p
	}
	g.auto.Store(pair)
}

// AutoResponse implements den.WebSocketHub.
func (h *Hub) AutoResponse(ns *den.Namespace, id den.ID) *den.WebSocketRequestResponsePair {
	h.mu.Lock()
	defer h.mu.Unlock()
	if g := h.groups[keyOf(ns, id)]; g != nil {
		if p := g.auto.Load(); p != nil {
			c := *p
			return &c
		}
	}
	return nil
}

// SetEventTimeout implements den.WebSocketHub.
func (h *Hub) SetEventTimeout(ns *den.Namespace, id den.ID, d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	g := h.groupLocked(ns, id)
	g.live = true
	g.timeout.Store(int64(d))
}

// EventTimeout implements den.WebSocketHub.
func (h *Hub) EventTimeout(ns *den.Namespace, id den.ID) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if g := h.groups[keyOf(ns, id)]; g != nil {
		return time.Duration(g.timeout.Load())
	}
	return 0
}

// Live implements den.WebSocketHub.
func (h *Hub) Live(ns *den.Namespace, id den.ID, live bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	g := h.groups[keyOf(ns, id)]
	if g == nil {
		return
	}
	if o := h.cfg.Observer; o != nil && g.live != live && g.hib > 0 {
		if live {
			o.WebSocketsWoken(ns, id, g.hib)
		} else {
			o.WebSocketsHibernated(ns, id, g.hib)
		}
	}
	g.live = live
	h.dropLocked(g)
}

// Reset implements den.WebSocketHub: every socket of the object gets a
// Close frame with 1011 and is cut; the settings are forgotten.
func (h *Hub) Reset(ns *den.Namespace, id den.ID) {
	h.closeObject(ns, id, den.CloseInternal, "Durable Object reset")
}

// CloseObject closes every socket of the object, hibernatable or not, with
// 1001 (going away) and reason, and forgets its settings: for an object
// being deleted.
func (h *Hub) CloseObject(ns *den.Namespace, id den.ID, reason string) {
	h.closeObject(ns, id, den.CloseGoingAway, reason)
}

func (h *Hub) closeObject(ns *den.Namespace, id den.ID, code int, reason string) {
	h.mu.Lock()
	g := h.groups[keyOf(ns, id)]
	if g == nil {
		h.mu.Unlock()
		return
	}
	all := append([]*socket(nil), g.sockets...)
	g.auto.Store(nil)
	g.timeout.Store(0)
	h.mu.Unlock()
	for _, s := range all {
		s.closeFor(code, reason)
	}
}

// SocketInfo describes one socket for operators.
type SocketInfo struct {
	Tags         []string
	Hibernatable bool
	Hibernated   bool // hibernatable, and its object is out of memory
	Opened       time.Time
	Remote       string // the peer's address
}

// List describes every socket of the object, hibernatable or not.
func (h *Hub) List(ns *den.Namespace, id den.ID) []SocketInfo {
	h.mu.Lock()
	defer h.mu.Unlock()
	g := h.groups[keyOf(ns, id)]
	if g == nil {
		return nil
	}
	out := make([]SocketInfo, 0, len(g.sockets))
	for _, s := range g.sockets {
		out = append(out, SocketInfo{Tags: s.tags, Hibernatable: s.hib, Hibernated: s.hib && !g.live, Opened: s.opened, Remote: s.remote})
	}
	return out
}

// Stats are counts for tests, benchmarks and metrics.
type Stats struct {
	Objects int // objects with sockets or settings
	Sockets int // sockets not yet ended
	// Rings is how many writers send through an io_uring (0 when it is
	// turned off or unavailable), RingSends how many sends they made so.
	Rings     int
	RingSends uint64
}

// Stats returns the hub's counts.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := Stats{Objects: len(h.groups), Rings: h.rings, RingSends: h.ringSends.Load()}
	for _, g := range h.groups {
		st.Sockets += len(g.sockets)
	}
	return st
}

var _ den.WebSocketHub = (*Hub)(nil)
