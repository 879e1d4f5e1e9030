package hub

import "golang.org/x/sys/unix"

// FailRingSetup makes io_uring_setup fail with errno until restore is
// called, as in a container whose seccomp filter forbids it (EPERM) or on a
// kernel without it (ENOSYS).
func FailRingSetup(errno unix.Errno) (restore func()) {
	old := ringSetupCall
	ringSetupCall = func(uint32, *ringParams) (uintptr, unix.Errno) { return 0, errno }
	return func() { ringSetupCall = old }
}
