//go:build !linux

// Package fsync makes a file or a directory durable by its path.
package fsync

import "os"

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
