//go:build unix

package serve

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// wantOpenFiles is the open-file limit serve asks for: room for about half
// a million live objects or WebSockets.
const wantOpenFiles = 1 << 20

// openFileLimit returns the most files this process may have open, or 0 if
// it cannot tell. (Go raises the soft limit to the hard one at start.)
func openFileLimit() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || r.Cur > 1<<30 {
		return 0
	}
	return int(r.Cur)
}

// raiseOpenFileLimit raises the hard and soft open-file limits towards
// wantOpenFiles, within the kernel's fs.nr_open, when the process may (as
// root, or with CAP_SYS_RESOURCE); otherwise it leaves them. Every live
// object holds two files and every WebSocket one, so the usual 1,024 or
// 20,000 caps a node long before memory does. It returns the limits before
// and after.
func raiseOpenFileLimit() (before, after int) {
	before = openFileLimit()
	want := uint64(wantOpenFiles)
	if b, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && n < want {
			want = n
		}
	}
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || r.Cur >= want {
		return before, before
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: max(want, r.Max)}); err != nil {
		return before, before // not allowed: keep the limit we were given
	}
	return before, openFileLimit()
}
