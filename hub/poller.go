package hub

import (
	"sync"
	"time"
	"unsafe"

	"github.com/den-run/den"
	"golang.org/x/sys/unix"
)

// poll is the poller's goroutine: it waits on the epoll set, reads the
// sockets that have input (one buffer, shared by all of them), answers
// control frames and auto-responses, queues events, and runs the timers.
func (h *Hub) poll() {
	events := make([]unix.EpollEvent, 512)
	buf := make([]byte, 64<<10)
	iov := make([][]byte, 0, 64)
	for {
		wait := h.timers.wait(time.Now())
		n, err := unix.EpollWait(h.epfd, events, wait)
		if err != nil && err != unix.EINTR {
			h.log.Error("websocket poller stopped", "err", err)
			return
		}
		for i := range max(n, 0) {
			fd := int(events[i].Fd)
			if fd == h.evfd {
				var b [8]byte
				unix.Read(h.evfd, b[:])
				continue
			}
			if s := h.lookup(fd); s != nil {
				s.ready(fd, events[i].Events, buf, iov)
			}
		}
		h.wmu.Lock()
		stop := h.wstop
		h.wmu.Unlock()
		if stop {
			return
		}
		h.timers.fire(time.Now())
	}
}

// attach parks a connected socket in the epoll set.
func (h *Hub) attach(s *socket, fd int, early []byte) error {
	s.mu.Lock()
	if s.state != connecting || h.closed.Load() {
		s.state = closed
		s.mu.Unlock()
		unix.Close(fd)
		s.settle()
		return &den.Error{Code: den.EUNAVAILABLE, Message: "WebSocket closed before its handshake finished", Retryable: true}
	}
	h.fmu.Lock()
	for fd >= len(h.fds) {
		h.fds = append(h.fds, make([]*socket, max(1024, len(h.fds)))...)
	}
	h.fds[fd] = s
	h.fmu.Unlock()
	s.fd, s.state = fd, open
	if err := unix.EpollCtl(h.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLONESHOT, Fd: int32(fd)}); err != nil {
		s.lostLocked()
		s.mu.Unlock()
		s.settle()
		return den.Errorf(den.EINTERNAL, "park WebSocket: epoll_ctl: %w", err)
	}
	if len(early) > 0 {
		s.consumeLocked(early)
	}
	s.kickLocked()
	s.rearmLocked()
	s.mu.Unlock()
	s.settle()
	return nil
}

// lookup returns the socket parked as fd, or nil.
func (h *Hub) lookup(fd int) *socket {
	h.fmu.Lock()
	defer h.fmu.Unlock()
	if fd < len(h.fds) {
		return h.fds[fd]
	}
	return nil
}

// forget clears fd's slot if s holds it. Called with s.mu held.
func (h *Hub) forget(s *socket, fd int) {
	h.fmu.Lock()
	defer h.fmu.Unlock()
	if fd < len(h.fds) && h.fds[fd] == s {
		h.fds[fd] = nil
	}
}

// enqueueWriter hands s to the writers. Called with s.mu held.
// It wakes a writer only when the queue was empty, and another once a
// batch is waiting: a broadcast of thousands of sends wakes two writers,
// not one per send.
func (h *Hub) enqueueWriter(s *socket) {
	h.wmu.Lock()
	n := len(h.wq)
	h.wq = append(h.wq, s)
	h.wmu.Unlock()
	if n == 0 || n == writeBatch {
		h.wcond.Signal()
	}
}

// writeBatch is how many sockets a writer takes from the queue at once. A
// writer with an io_uring sends to all of them with one system call and
// holds their locks meanwhile (under a millisecond); 256 or 1,024 per
// system call were no cheaper (bench/results/2026-11-27-ws3.md).
const writeBatch = 64

// write is a writer's goroutine: it takes sockets with output from the
// queue and writes what each takes without blocking. A socket whose buffer
// is full waits for the poller to see it writable. With a ring (nil for
// none) the writer owns it and closes it on return.
func (h *Hub) write(r *ring) {
	w := newWriter(h, r)
	defer w.close()
	batch := make([]*socket, 0, writeBatch)
	for {
		h.wmu.Lock()
		for len(h.wq) == 0 && !h.wstop {
			h.wcond.Wait()
		}
		if h.wstop {
			h.wmu.Unlock()
			return
		}
		n := min(len(h.wq), cap(batch))
		batch = append(batch[:0], h.wq[:n]...)
		clear(h.wq[:n])
		h.wq = h.wq[n:]
		if len(h.wq) == 0 {
			h.wq = nil
		}
		h.wmu.Unlock()
		w.flush(batch)
		clear(batch)
	}
}

// writer is one writer goroutine's state.
type writer struct {
	h      *Hub
	r      *ring // nil: send(2) and writev only
	iov    [][]byte
	sent   []*socket // sockets with a send in r; their locks are held until it completes
	want   []int     // the bytes of each send, by index in sent
	res    []int32   // the sends' results, by index in sent
	settle []*socket // sockets to settle once no socket's lock is held
	// A send of several buffers is a sendmsg: its header and iovecs, by
	// index in sent, stay here until it completes.
	msgs   []unix.Msghdr
	iovecs []unix.Iovec
}

// newWriter returns a writer that sends through r (nil for none), which
// it then owns.
func newWriter(h *Hub, r *ring) *writer {
	w := &writer{h: h, r: r, iov: make([][]byte, 0, 64)}
	if r != nil {
		w.res = make([]int32, 0, writeBatch)
		w.msgs = make([]unix.Msghdr, writeBatch)
		w.iovecs = make([]unix.Iovec, writeBatch*(ringIov+1))
	}
	return w
}

// close closes the writer's ring.
func (w *writer) close() {
	if w.r != nil {
		w.r.close()
		w.r = nil
	}
}

// ringIov is how many buffers one socket's send through the ring takes at
// most (about 4 frames: output beyond it is written once they are sent).
const ringIov = 8

// noResult marks a send in the ring whose result never came.
const noResult = int32(-1 << 31)

// flush writes each socket's output. With a ring, each socket's send goes
// into it, the socket's lock held until the send has completed, and all
// go into the kernel together; without, each is written at once. Sockets
// are settled with no socket's lock held: Hub.mu is never taken with one.
func (w *writer) flush(batch []*socket) {
	for _, s := range batch {
		s.mu.Lock()
		s.queued = false
		if s.fd >= 0 && !s.wantOut {
			if w.r != nil && len(s.out) > 0 {
				w.queueLocked(s)
				continue
			}
			s.flushLocked(w.iov)
			s.rearmLocked()
		}
		settle := s.unsettledLocked() // a lost peer ends the socket
		s.mu.Unlock()
		switch {
		case settle && len(w.sent) == 0:
			s.settle()
		case settle:
			w.settle = append(w.settle, s)
		}
	}
	if len(w.sent) > 0 {
		w.submit()
	}
	for i, s := range w.settle {
		s.settle()
		w.settle[i] = nil
	}
	w.settle = w.settle[:0]
}

// queueLocked puts a send of s's output (up to ringIov buffers) into the
// ring. s stays locked until submit.
func (w *writer) queueLocked(s *socket) {
	i := len(w.sent)
	bufs := s.outBuffersLocked(w.iov[:0], ringIov)
	want := 0
	if len(bufs) == 1 {
		w.r.send(s.fd, bufs[0], uint64(i))
		want = len(bufs[0])
	} else {
		iov := w.iovecs[i*(ringIov+1) : (i+1)*(ringIov+1)]
		for j, b := range bufs {
			iov[j].Base = unsafe.SliceData(b)
			iov[j].SetLen(len(b))
			want += len(b)
		}
		m := &w.msgs[i]
		*m = unix.Msghdr{Iov: &iov[0]}
		m.SetIovlen(len(bufs))
		w.r.sendmsg(s.fd, m, uint64(i))
	}
	clear(bufs)
	w.sent = append(w.sent, s)
	w.want = append(w.want, want)
}

// submit sends what is in the ring and finishes each socket's send. If the
// ring fails, the writer goes on without it.
func (w *writer) submit() {
	w.res = w.res[:len(w.sent)]
	for i := range w.res {
		w.res[i] = noResult
	}
	err := w.r.submit(func(tag uint64, res int32) { w.res[tag] = res })
	if err != nil {
		w.h.log.Warn("websocket: io_uring failed; this writer sends with send(2) from now on", "err", err)
		w.r.close()
		w.r = nil
	}
	made := 0
	for i, s := range w.sent {
		res := w.res[i]
		if res == noResult {
			res = -int32(unix.EIO) // submitted, its fate unknown: the stream cannot go on
		}
		if res != resNotSent {
			made++
		}
		s.sentLocked(res, w.want[i], w.iov)
		s.rearmLocked()
		settle := s.unsettledLocked()
		s.mu.Unlock()
		if settle {
			w.settle = append(w.settle, s)
		}
		w.sent[i] = nil
	}
	w.h.ringSends.Add(uint64(made))
	clear(w.iovecs[:len(w.sent)*(ringIov+1)]) // the frames may go
	w.sent, w.want = w.sent[:0], w.want[:0]
}

// timerKind says what a timer does when it fires.
type timerKind uint8

const (
	timerConnect timerKind = iota // drop a socket whose 101 was never connected
	timerClose                    // cut a connection whose peer did not answer a Close
	timerRetry                    // offer an event again to an overloaded object
)

// timers are the hub's deadlines. Each kind has one fixed delay, so each
// queue is in deadline order and needs no heap. A fired timer acts only if
// its socket still needs it.
type timers struct {
	mu sync.Mutex // protects following fields
	q  [3][]timer
}

type timer struct {
	at time.Time
	s  *socket
}

func (h *Hub) delay(k timerKind) time.Duration {
	switch k {
	case timerConnect:
		return h.cfg.ConnectTimeout
	case timerClose:
		return h.cfg.CloseTimeout
	}
	return h.cfg.RetryDelay
}

// add sets a timer of kind k for s and wakes the poller if it is the
// earliest. It may be called with s.mu held.
func (t *timers) add(h *Hub, s *socket, k timerKind) {
	at := time.Now().Add(h.delay(k))
	t.mu.Lock()
	earliest := true
	for _, q := range t.q {
		if len(q) > 0 && q[0].at.Before(at) {
			earliest = false
		}
	}
	t.q[k] = append(t.q[k], timer{at: at, s: s})
	t.mu.Unlock()
	if earliest {
		h.wake()
	}
}

// wait returns the poller's epoll timeout in milliseconds: until the
// earliest timer, or -1 for none.
func (t *timers) wait(now time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	wait := -1
	for _, q := range t.q {
		if len(q) == 0 {
			continue
		}
		ms := int((q[0].at.Sub(now) + time.Millisecond - 1) / time.Millisecond)
		ms = max(ms, 0)
		if wait < 0 || ms < wait {
			wait = ms
		}
	}
	return wait
}

// fire runs the timers due at now.
func (t *timers) fire(now time.Time) {
	for k := range t.q {
		for {
			t.mu.Lock()
			q := t.q[k]
			if len(q) == 0 || q[0].at.After(now) {
				t.mu.Unlock()
				break
			}
			s := q[0].s
			q[0] = timer{}
			t.q[k] = q[1:]
			if len(t.q[k]) == 0 {
				t.q[k] = nil
			}
			t.mu.Unlock()
			s.timeout(timerKind(k))
		}
	}
}

// timeout acts on a fired timer.
func (s *socket) timeout(k timerKind) {
	switch k {
	case timerConnect:
		s.mu.Lock()
		waiting := s.state == pending
		s.mu.Unlock()
		if waiting {
			s.abandon()
		}
	case timerClose:
		s.mu.Lock()
		if s.state == open && s.closeSent {
			s.lostLocked() // the peer never answered our Close
		}
		s.mu.Unlock()
		s.settle()
	case timerRetry:
		s.mu.Lock()
		s.inflight = false
		s.mu.Unlock()
		s.pump()
	}
}
