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
