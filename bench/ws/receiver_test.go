package main

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// pairs returns n connected socket pairs: the receiver's ends (non-blocking)
// and the ends to write to.
func pairs(t *testing.T, n int) (recv, send []int) {
	t.Helper()
	for range n {
		p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.SetNonblock(p[0], true); err != nil {
			t.Fatal(err)
		}
		recv, send = append(recv, p[0]), append(send, p[1])
		t.Cleanup(func() { unix.Close(p[1]) })
	}
	return recv, send
}

func mustReceiver(t *testing.T, fds []int) *receiver {
	t.Helper()
	r, err := newReceiver(fds)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

func write(t *testing.T, fd int, b []byte) {
	t.Helper()
	if n, err := unix.Write(fd, b); err != nil || n != len(b) {
		t.Fatalf("write: %d %v", n, err)
	}
}

// pending reports whether await(target) would still be waiting after a
// short deadline.
func pending(r *receiver, target int) bool {
	_, err := r.await(target, time.Now().Add(20*time.Millisecond))
	return err != nil && strings.Contains(err.Error(), "at the deadline")
}

// TestReceiverSplitFrames counts a message split across reads once, when
// its last byte arrives, whatever the split: in the header, in a 16-bit
// length, in the payload.
func TestReceiverSplitFrames(t *testing.T) {
	long := make([]byte, 300)
	frames := [][]byte{
		{0x81, 2, 'h', 'i'},
		append([]byte{0x82, 126, 1, 44}, long...), // 300 bytes: a 16-bit length
		{0x81, 0}, // empty
	}
	for _, f := range frames {
		for cut := 1; cut < len(f); cut++ {
			recv, send := pairs(t, 1)
			r := mustReceiver(t, recv)
			write(t, send[0], f[:cut])
			if !pending(r, 1) {
				t.Fatalf("frame % x cut at %d: counted before it was complete", f[:min(len(f), 4)], cut)
			}
			write(t, send[0], f[cut:])
			if _, err := r.await(1, time.Now().Add(5*time.Second)); err != nil {
				t.Fatalf("frame % x cut at %d: %v", f[:min(len(f), 4)], cut, err)
			}
			if r.streams[0].got != 1 {
				t.Fatalf("cut at %d: %d messages, want 1", cut, r.streams[0].got)
			}
		}
	}
}

// TestReceiverRounds waits for every socket, counts fragmented messages
// once, skips pings, and fails on a surplus message or a Close.
func TestReceiverRounds(t *testing.T) {
	recv, send := pairs(t, 3)
	r := mustReceiver(t, recv)
	msg := []byte{0x81, 1, 'x'}
	write(t, send[0], msg)
	write(t, send[1], msg)
	if !pending(r, 1) {
		t.Fatal("the round ended with a socket short of its message")
	}
	// The third: a ping, then a message in two fragments.
	write(t, send[2], []byte{0x89, 0, 0x01, 1, 'a', 0x80, 1, 'b'})
	t0 := monotonic()
	done, err := r.await(1, time.Now().Add(5*time.Second))
	if err != nil || done < t0 {
		t.Fatalf("round 1: %d (began %d), %v", done, t0, err)
	}
	// Two messages in one read for socket 0: more than round 2 wants.
	write(t, send[0], append(append([]byte{}, msg...), msg...))
	write(t, send[1], msg)
	write(t, send[2], msg)
	if _, err := r.await(2, time.Now().Add(5*time.Second)); err == nil || !strings.Contains(err.Error(), "socket 0: 3 messages") {
		t.Fatalf("a surplus message: %v", err)
	}

	recv, send = pairs(t, 1)
	r = mustReceiver(t, recv)
	write(t, send[0], []byte{0x88, 2, 0x03, 0xe8})
	if _, err := r.await(1, time.Now().Add(5*time.Second)); err == nil || !strings.Contains(err.Error(), "Close") {
		t.Fatalf("a Close frame: %v", err)
	}
	unix.Close(send[0])
	if _, err := r.await(1, time.Now().Add(5*time.Second)); err == nil {
		t.Fatal("a closed socket passed")
	}
}
