package pitr

import (
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// walFile is an object's WAL opened for reading through plain system calls.
// A live object's history opens its WAL after every commit and closes it
// again (descriptors count against the process's limit), and an os.File
// costs a poller registration, a finalizer and a stat more: 6% of the CPU
// of the round-robin benchmark went to opening WALs that way.
type walFile struct {
	fd       int
	path     string
	borrowed bool // the descriptor is SQLite's (Log.UseWAL): Close leaves it open
}

// openWALFile opens the WAL at path; a missing file is an error matching
// fs.ErrNotExist.
func openWALFile(path string) (*walFile, error) {
	fd, err := openRaw(path, unix.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	return &walFile{fd: fd, path: path}, nil
}

// ReadAt implements io.ReaderAt.
func (w *walFile) ReadAt(p []byte, off int64) (int, error) {
	done := 0
	for done < len(p) {
		n, err := unix.Pread(w.fd, p[done:], off+int64(done))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return done, &os.PathError{Op: "read", Path: w.path, Err: err}
		}
		if n == 0 {
			return done, io.EOF
		}
		done += n
	}
	return done, nil
}

// stat returns the WAL's size and modification time.
func (w *walFile) stat() (int64, time.Time, error) {
	var st unix.Stat_t
	if err := unix.Fstat(w.fd, &st); err != nil {
		return 0, time.Time{}, &os.PathError{Op: "stat", Path: w.path, Err: err}
	}
	return st.Size, time.Unix(st.Mtim.Unix()), nil
}

// Close closes the file. A nil walFile does nothing.
func (w *walFile) Close() error {
	if w == nil || w.fd < 0 {
		return nil
	}
	if w.borrowed {
		w.fd = -1
		return nil
	}
	err := unix.Close(w.fd)
	w.fd = -1
	if err != nil {
		return &os.PathError{Op: "close", Path: w.path, Err: err}
	}
	return nil
}
