//go:build !linux

// Package fsync makes a file or a directory durable by its path.
package fsync

import (
	"os"
	"syscall"
)

// Path opens path read-only and syncs it. Outside Linux that is a full
// fsync (F_FULLFSYNC on macOS), which is slower than fdatasync but as safe.
func Path(path string) (err error) {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	return f.Sync()
}

// Filesystem makes every file on the filesystem that holds dir durable as
// far as this system allows: there is no syncfs(2) outside Linux, so it
// calls sync(2), which some systems (macOS) return from before the writes
// it starts are done. Den's durability contract is stated for Linux.
func Filesystem(dir string) error {
	if _, err := os.Stat(dir); err != nil {
		return err
	}
	syscall.Sync()
	return nil
}
