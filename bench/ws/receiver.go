package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// receiver reads a broadcast on many client sockets with one epoll loop on
// the calling goroutine: non-blocking reads into one buffer, and just enough
// of each frame's header to count whole messages. It costs the client one
// epoll_wait share and one read per message, not a goroutine wake-up per
// socket, so the server is measured rather than this process.
//
// A receiver is used by one goroutine at a time.
type receiver struct {
	epfd    int
	fds     []int
	streams []stream
	buf     []byte
	events  []unix.EpollEvent

	target    int   // messages each socket must have for the round to end
	remaining int   // sockets still short of target
	done      int64 // CLOCK_MONOTONIC ns when remaining reached 0
	err       error // the first socket that broke the round
}

// stream is where one socket's input is: in a frame header or in its payload.
type stream struct {
	hdr     [14]byte
	hn      uint8 // header bytes held
	payload bool  // hdr is complete; need payload bytes remain
	need    uint64
	got     int // whole data messages received
}

// newReceiver parks fds (connected, non-blocking sockets) in a new epoll set.
// The receiver owns them from then on: Close closes them.
func newReceiver(fds []int) (*receiver, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create: %w", err)
	}
	r := &receiver{epfd: epfd, fds: fds, streams: make([]stream, len(fds)),
		buf: make([]byte, 64<<10), events: make([]unix.EpollEvent, 512)}
	for i, fd := range fds {
		// The event carries the socket's index, not its descriptor.
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(i)}); err != nil {
			r.Close()
			return nil, fmt.Errorf("epoll_ctl: %w", err)
		}
	}
	return r, nil
}

// Close closes the epoll set and every socket.
func (r *receiver) Close() {
	for _, fd := range r.fds {
		unix.Close(fd)
	}
	unix.Close(r.epfd)
}

// await reads until every socket has received target whole data messages
// since the receiver was made, and returns when (CLOCK_MONOTONIC ns) the
// last socket's message was complete. A socket that closes, or receives
// more than target, fails the round.
func (r *receiver) await(target int, deadline time.Time) (int64, error) {
	r.target, r.remaining, r.done, r.err = target, 0, 0, nil
	for i := range r.streams {
		if r.streams[i].got < target {
			r.remaining++
		}
	}
	for r.remaining > 0 && r.err == nil {
		wait := time.Until(deadline)
		if wait <= 0 {
			return 0, fmt.Errorf("%d of %d sockets still waited for message %d at the deadline", r.remaining, len(r.fds), target)
		}
		n, err := unix.EpollWait(r.epfd, r.events, int(wait/time.Millisecond)+1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("epoll_wait: %w", err)
		}
		for _, ev := range r.events[:n] {
			i := int(ev.Fd)
			// Level-triggered: one read per event; what a full buffer
			// leaves behind is reported again by the next wait.
			m, err := unix.Read(r.fds[i], r.buf)
			switch {
			case err == unix.EAGAIN || err == unix.EINTR:
			case err != nil:
				r.fail(fmt.Errorf("socket %d: read: %w", i, err))
			case m == 0:
				r.fail(fmt.Errorf("socket %d: closed by the server", i))
			default:
				r.consume(i, r.buf[:m])
			}
		}
	}
	if r.err != nil {
		return 0, r.err
	}
	return r.done, nil
}

func (r *receiver) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// consume advances socket i's stream over b, counting each data message
// when its final frame is complete.
func (r *receiver) consume(i int, b []byte) {
	st := &r.streams[i]
	for len(b) > 0 {
		if st.payload {
			k := uint64(len(b))
			if k > st.need {
				k = st.need
			}
			b, st.need = b[k:], st.need-k
			if st.need == 0 {
				r.complete(i)
			}
			continue
		}
		st.hdr[st.hn] = b[0]
		st.hn++
		b = b[1:]
		size, ok := headerSize(st.hdr[:st.hn])
		if !ok || int(st.hn) < size {
			continue
		}
		switch l := st.hdr[1] & 0x7f; l {
		case 126:
			st.need = uint64(binary.BigEndian.Uint16(st.hdr[2:4]))
		case 127:
			st.need = binary.BigEndian.Uint64(st.hdr[2:10])
		default:
			st.need = uint64(l)
		}
		st.payload = true
		if st.need == 0 {
			r.complete(i)
		}
	}
}

// headerSize returns the size of the frame header that h begins, once h
// holds enough of it to tell.
func headerSize(h []byte) (int, bool) {
	if len(h) < 2 {
		return 0, false
	}
	size := 2
	switch h[1] & 0x7f {
	case 126:
		size = 4
	case 127:
		size = 10
	}
	if h[1]&0x80 != 0 {
		size += 4 // masked (servers do not mask, but the size is the size)
	}
	return size, true
}

// complete ends socket i's current frame.
func (r *receiver) complete(i int) {
	st := &r.streams[i]
	fin, op := st.hdr[0]&0x80 != 0, st.hdr[0]&0x0f
	st.hn, st.payload = 0, false
	switch {
	case op == 0x8:
		r.fail(fmt.Errorf("socket %d: a Close frame from the server", i))
		return
	case op >= 0x8 || !fin:
		return // ping, pong, or a fragment before the last
	}
	st.got++
	switch {
	case st.got == r.target:
		r.remaining--
		if r.remaining == 0 {
			r.done = monotonic()
		}
	case st.got > r.target:
		r.fail(fmt.Errorf("socket %d: %d messages, expected %d", i, st.got, r.target))
	}
}

// monotonic returns CLOCK_MONOTONIC in nanoseconds: the same clock in every
// process on the machine, so a server's first write and this client's last
// read can be subtracted.
func monotonic() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic(errors.New("clock_gettime(CLOCK_MONOTONIC) failed"))
	}
	return ts.Nano()
}
