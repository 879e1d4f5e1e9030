//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package serve

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"

	"github.com/den-run/den"
)

// lockDir takes an exclusive lock on the data directory, so two processes
// never serve the same objects (each would think it owns them). The kernel
// drops the lock when the process dies, however it dies.
func lockDir(dir string) (unlock func() error, err error) {
	path := filepath.Join(dir, "lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, den.Errorf(den.EINTERNAL, "lock data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, den.Errorf(den.EUNAVAILABLE, "data directory %s is in use by another Den server: stop it or choose another --data", dir)
		}
		return nil, den.Errorf(den.EINTERNAL, "lock data directory: %w", err)
	}
	return f.Close, nil // closing the file releases the lock
}
