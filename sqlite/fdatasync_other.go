//go:build !linux

package sqlite

import "os"

// fdatasync flushes f. Outside Linux it is a full fsync (F_FULLFSYNC on
// macOS), which is slower but as safe.
func fdatasync(f *os.File) error { return f.Sync() }
