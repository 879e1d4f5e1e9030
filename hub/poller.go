package hub

import (
	"sync"
	"time"

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

// writeBatch is how many sockets a writer takes from the queue at once.
const writeBatch = 64

// write is a writer's goroutine: it takes sockets with output from the
// queue and writes what each takes without blocking. A socket whose buffer
// is full waits for the poller to see it writable.
func (h *Hub) write() {
	iov := make([][]byte, 0, 64)
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
		for i, s := range batch {
			s.mu.Lock()
			s.queued = false
			if s.fd >= 0 && !s.wantOut {
				s.flushLocked(iov)
				s.rearmLocked()
			}
			settle := s.unsettledLocked() // a lost peer ends the socket
			s.mu.Unlock()
			if settle {
				s.settle()
			}
			batch[i] = nil
		}
	}
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
