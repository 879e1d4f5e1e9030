package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// FS is the file system Migrate changes. Tests inject failures through it;
// [OS] is the real one. Every method that changes something is durable when
// it returns: Migrate calls SyncDir after renames and removals, and
// WriteFile is atomic.
type FS interface {
	Stat(name string) (fs.FileInfo, error)
	ReadFile(name string) ([]byte, error)
	// WriteFile replaces name with data atomically: a synced temporary
	// file renamed into place, then the directory synced.
	WriteFile(name string, data []byte) error
	Rename(oldpath, newpath string) error
	// Remove removes a file or empty directory; a missing one is no error.
	Remove(name string) error
	// RemoveAll removes a tree; a missing one is no error.
	RemoveAll(path string) error
	MkdirAll(path string) error
	// SyncDir makes the directory's entries durable.
	SyncDir(dir string) error
}

// OS is the operating system's file system.
var OS FS = osFS{}

type osFS struct{}

func (osFS) Stat(name string) (fs.FileInfo, error)    { return os.Stat(name) }
func (osFS) ReadFile(name string) ([]byte, error)     { return os.ReadFile(name) }
func (osFS) Rename(oldpath, newpath string) error     { return os.Rename(oldpath, newpath) }
func (osFS) RemoveAll(path string) error              { return os.RemoveAll(path) }
func (osFS) MkdirAll(path string) error               { return os.MkdirAll(path, 0o700) }
func (osFS) SyncDir(dir string) error                 { return syncDir(dir) }
func (osFS) WriteFile(name string, data []byte) error { return writeFile(name, data) }

func (osFS) Remove(name string) error {
	if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func writeFile(name string, data []byte) error {
	dir := filepath.Dir(name)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(name)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// exists reports whether name exists.
func exists(fsys FS, name string) (bool, error) {
	_, err := fsys.Stat(name)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, err
}
