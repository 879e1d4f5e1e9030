package hub

import (
	"bytes"
	"errors"
	"testing"

	"github.com/den-run/den"
	"golang.org/x/sys/unix"
)

// events records what a hub would deliver to objects.
type events []den.WebSocketEvent

func (e *events) DeliverWebSocket(_ *den.Namespace, _ den.ID, ev den.WebSocketEvent, done func(error)) error {
	*e = append(*e, ev)
	return nil
}

// ringWriter returns a writer with a ring of its own, and the events its
// sockets' ends would deliver.
func ringWriter(t *testing.T) (*writer, *events) {
	t.Helper()
	r, err := newRing(8)
	if errors.Is(err, errRingUnavailable) {
		t.Skipf("io_uring: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	ev := &events{}
	h := New(Config{})
	h.d = ev
	if h.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(h.epfd) })
	w := newWriter(h, r)
	t.Cleanup(w.close)
	return w, ev
}

// pair is a non-blocking stream socket with a small send buffer, held by a
// socket record of w's hub, and its peer.
func pair(t *testing.T, w *writer) (*socket, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[1]) })
	if err := unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_SNDBUF, 4096); err != nil {
		t.Fatal(err)
	}
	if err := unix.EpollCtl(w.h.epfd, unix.EPOLL_CTL_ADD, fds[0], &unix.EpollEvent{Events: unix.EPOLLONESHOT, Fd: int32(fds[0])}); err != nil {
		t.Fatal(err)
	}
	s := &socket{h: w.h, g: &group{}, fd: fds[0], state: open, gidx: -1}
	t.Cleanup(func() {
		s.mu.Lock()
		s.shutdownLocked()
		s.mu.Unlock()
	})
	return s, fds[1]
}

// queue appends frames to s's output as Send does, without waking a
// writer.
func queue(s *socket, frames ...outFrame) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range frames {
		s.out = append(s.out, f)
		s.outBytes += f.size()
	}
}

// drain reads from peer until it has n bytes, letting w flush s whenever
// the peer's buffer is empty.
func drain(t *testing.T, w *writer, s *socket, peer, n int) []byte {
	t.Helper()
	var got []byte
	buf := make([]byte, 64<<10)
	for len(got) < n {
		m, err := unix.Read(peer, buf)
		if err == unix.EAGAIN {
			s.mu.Lock()
			s.wantOut = false // as the poller does on EPOLLOUT
			s.mu.Unlock()
			w.flush([]*socket{s})
			continue
		}
		if err != nil || m == 0 {
			t.Fatalf("read: %d, %v", m, err)
		}
		got = append(got, buf[:m]...)
	}
	return got
}

// TestRingShortSendKeepsTheRest: a frame larger than the socket's buffer
// is sent in part; the rest stays queued, the socket waits for EPOLLOUT
// (a writer that gets it meanwhile leaves it alone), and once the peer
// reads, the rest goes out: the bytes are the frame's.
func TestRingShortSendKeepsTheRest(t *testing.T) {
	w, _ := ringWriter(t)
	s, peer := pair(t, w)
	frame := bytes.Repeat([]byte("0123456789abcdef"), 64<<10)
	queue(s, outFrame{data: frame})
	w.flush([]*socket{s})
	s.mu.Lock()
	off, wantOut, frames, outBytes := s.off, s.wantOut, len(s.out), s.outBytes
	s.mu.Unlock()
	if off <= 0 || off >= len(frame) || !wantOut || frames != 1 || outBytes != len(frame) {
		t.Fatalf("after a short send: off %d, wantOut %v, %d frames, outBytes %d", off, wantOut, frames, outBytes)
	}
	sends := w.h.ringSends.Load()
	w.flush([]*socket{s})
	if w.h.ringSends.Load() != sends {
		t.Fatal("a socket waiting for EPOLLOUT was written")
	}
	if got := drain(t, w, s, peer, len(frame)); !bytes.Equal(got, frame) {
		t.Fatal("the peer read other bytes than the frame's")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out != nil || s.off != 0 || s.outBytes != 0 {
		t.Fatalf("after the last send: %d frames, off %d, outBytes %d", len(s.out), s.off, s.outBytes)
	}
}

// TestRingSendsQueuedFramesInOrder: many queued frames, split into header
// and payload or built whole, more than one sendmsg takes, arrive in
// order; a Close frame queued last closes the connection once written.
func TestRingSendsQueuedFramesInOrder(t *testing.T) {
	w, _ := ringWriter(t)
	s, peer := pair(t, w)
	var want []byte
	for i := range 40 {
		var f outFrame
		data := bytes.Repeat([]byte{byte('a' + i%26)}, 100+i*1000)
		if i%3 == 0 {
			f = w.h.enc.frame(1, data[:100])
		} else {
			f = outFrame{data: data}
			f.hlen = uint8(header(&f.hdr, 2, len(data)))
		}
		queue(s, f)
		want = append(append(want, f.hdr[:f.hlen]...), f.data...)
	}
	s.mu.Lock()
	s.closeAfterFlush = true
	s.mu.Unlock()
	w.flush([]*socket{s})
	if got := drain(t, w, s, peer, len(want)); !bytes.Equal(got, want) {
		t.Fatal("the peer read the frames out of order or incomplete")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fd != -1 || s.state != closed {
		t.Fatalf("after the flush: fd %d, state %d; want the connection closed", s.fd, s.state)
	}
}

// TestRingSendToAVanishedPeerLosesTheSocket: EPIPE ends the socket with
// 1006, as send(2)'s does.
func TestRingSendToAVanishedPeerLosesTheSocket(t *testing.T) {
	w, ev := ringWriter(t)
	s, peer := pair(t, w)
	unix.Shutdown(peer, unix.SHUT_RDWR)
	queue(s, outFrame{data: []byte{0x81, 1, 'x'}})
	w.flush([]*socket{s})
	s.mu.Lock()
	fd, st := s.fd, s.state
	s.mu.Unlock()
	if fd != -1 || st != closed || len(*ev) != 1 || (*ev)[0].Code != den.CloseAbnormal {
		t.Fatalf("fd %d, state %d, events %+v", fd, st, *ev)
	}
	if w.h.ringSends.Load() != 1 {
		t.Fatalf("%d sends through the ring, want 1", w.h.ringSends.Load())
	}
}

// TestFailedRingFallsBackToSend: when io_uring_enter fails, the sends it
// did not take are written with send(2) and the writer drops the ring.
func TestFailedRingFallsBackToSend(t *testing.T) {
	w, _ := ringWriter(t)
	s, peer := pair(t, w)
	frame := []byte{0x81, 2, 'h', 'i'}
	queue(s, outFrame{data: frame})
	r := w.r
	fd := r.fd
	r.fd = -1 // io_uring_enter fails with EBADF
	defer func() { r.fd = fd; r.close() }()
	w.flush([]*socket{s})
	if w.r != nil {
		t.Fatal("the writer kept a failed ring")
	}
	if n := w.h.ringSends.Load(); n != 0 {
		t.Fatalf("%d sends counted through the ring, which made none", n)
	}
	buf := make([]byte, 16)
	if n, err := unix.Read(peer, buf); err != nil || !bytes.Equal(buf[:n], frame) {
		t.Fatalf("peer read %q, %v", buf[:n], err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out != nil || s.wantOut || s.fd < 0 {
		t.Fatalf("after the fallback: %d frames, wantOut %v, fd %d", len(s.out), s.wantOut, s.fd)
	}
}
