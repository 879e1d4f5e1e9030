// Package fsync makes a file or a directory durable by its path.
package fsync

import (
	"os"

	"golang.org/x/sys/unix"
)

// Path opens path read-only and fdatasyncs it, or fsyncs it if it is a
// directory; a missing path is an error that matches fs.ErrNotExist. fdatasync flushes a
// file's data and only the metadata needed to read it back, which is all
// a WAL file needs and cheaper than fsync.
//
// It uses the system calls directly: an os.File costs a poller
// registration, a finalizer and more (15 µs against 4 µs for open and
// close here), and a durability barrier calls this for every database it
// covers.
func Path(path string) error {
	fd, err := retry(func() (int, error) { return unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0) })
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &os.PathError{Op: "stat", Path: path, Err: err}
	}
	op, sync := "fdatasync", unix.Fdatasync
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		op, sync = "fsync", unix.Fsync
	}
	if _, err := retry(func() (int, error) { return 0, sync(fd) }); err != nil {
		return &os.PathError{Op: op, Path: path, Err: err}
	}
	return nil
}

// retry calls f again while it fails with EINTR.
func retry(f func() (int, error)) (int, error) {
	for {
		n, err := f()
		if err != unix.EINTR {
			return n, err
		}
	}
}

// Filesystem makes every file and directory on the filesystem that holds
// dir durable, with one syncfs(2). A missing dir is an error that matches
// fs.ErrNotExist.
func Filesystem(dir string) error {
	fd, err := retry(func() (int, error) {
		return unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	})
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	if _, err := retry(func() (int, error) { return 0, unix.Syncfs(fd) }); err != nil {
		return &os.PathError{Op: "syncfs", Path: dir, Err: err}
	}
	return nil
}
