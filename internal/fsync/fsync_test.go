package fsync

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// Path syncs a file and a directory, and reports a missing path as
// fs.ErrNotExist (Sync then knows there is no WAL to sync).
func TestPath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{file, dir} {
		if err := Path(p); err != nil {
			t.Errorf("Path(%s): %v", filepath.Base(p), err)
		}
	}
	err := Path(filepath.Join(dir, "missing"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Path of a missing file: %v, want fs.ErrNotExist", err)
	}
}

// Filesystem syncs the filesystem holding a directory, and reports a
// missing one as fs.ErrNotExist.
func TestFilesystem(t *testing.T) {
	dir := t.TempDir()
	if err := Filesystem(dir); err != nil {
		t.Errorf("Filesystem: %v", err)
	}
	if err := Filesystem(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Filesystem of a missing directory: %v, want fs.ErrNotExist", err)
	}
}
