package rawconn

import (
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// A detached descriptor is the connection: bytes written to it arrive at
// the peer, and its blocking mode is the one asked for.
func TestDetach(t *testing.T) {
	for _, nonblock := range []bool{true, false} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		peer, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer peer.Close()
		fd, err := Detach(c, nonblock)
		if err != nil {
			t.Fatal(err)
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := flags&unix.O_NONBLOCK != 0; got != nonblock {
			t.Errorf("nonblock %v: descriptor non-blocking %v", nonblock, got)
		}
		if _, err := unix.Write(fd, []byte("hi")); err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
		b := make([]byte, 2)
		if _, err := peer.Read(b); err != nil || string(b) != "hi" {
			t.Fatalf("peer read %q, %v", b, err)
		}
	}
	a, b := net.Pipe()
	defer b.Close()
	if _, err := Detach(a, true); err != ErrNotTCP {
		t.Fatalf("pipe: %v", err)
	}
}
