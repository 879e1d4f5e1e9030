// Package rawconn takes a TCP connection's descriptor away from Go's
// runtime poller, for code that polls descriptors itself (the WebSocket hub,
// the WebSocket benchmarks).
package rawconn

import (
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrNotTCP is Detach's error for a connection with no descriptor of its
// own (TLS terminated in the process, a pipe).
var ErrNotTCP = errors.New("the connection is not a plain TCP connection")

// Detach duplicates c's descriptor (close-on-exec), sets it blocking or not,
// closes c and returns the duplicate, which the caller owns.
func Detach(c net.Conn, nonblock bool) (int, error) {
	defer c.Close()
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1, ErrNotTCP
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(f uintptr) { fd, derr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, derr
	}
	if err := unix.SetNonblock(fd, nonblock); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}
