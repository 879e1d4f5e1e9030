package main

import (
	"bytes"
	"errors"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSendAll sends a frame through an io_uring to more sockets than one
// batch holds and reads it back from each peer; a closed peer's error is
// reported.
func TestSendAll(t *testing.T) {
	// The ring is SINGLE_ISSUER: only the thread that made it may enter
	// it (EEXIST otherwise), as in the floor, whose sender locks its thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r, err := newRing(4)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		t.Skipf("io_uring unavailable: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	var fds, peers []int
	for range 10 {
		p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
		fds, peers = append(fds, p[0]), append(peers, p[1])
	}
	frame := []byte{0x81, 2, 'h', 'i'}
	if err := sendAll(r, fds, 4, frame); err != nil {
		t.Fatal(err)
	}
	for i, p := range peers {
		buf := make([]byte, 16)
		n, err := unix.Read(p, buf)
		if err != nil || !bytes.Equal(buf[:n], frame) {
			t.Fatalf("socket %d: read %q, %v; want %q", i, buf[:n], err, frame)
		}
	}
	unix.Shutdown(peers[7], unix.SHUT_RDWR)
	if err := sendAll(r, fds, 4, frame); !errors.Is(err, unix.EPIPE) {
		t.Fatalf("send to a shut-down peer: %v, want EPIPE", err)
	}
}
