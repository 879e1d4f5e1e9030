package actor_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/den-run/den"
	"github.com/den-run/den/actor"
	"github.com/den-run/den/commit"
	"github.com/den-run/den/sqlite"
)

// TestInjectedFsyncFailureResetsAndFailsHeldReplies drives the real parts —
// the shared barrier over real databases — with fsync errors injected
// through the filesystem seam: no reply is acknowledged that a crash could
// lose, the object resets, and it serves again once the disk recovers.
func TestInjectedFsyncFailureResetsAndFailsHeldReplies(t *testing.T) {
	var broken atomic.Bool
	syncFile := func(path string) error {
		if broken.Load() && strings.HasSuffix(path, "-wal") {
			return errors.New("injected EIO")
		}
		f, err := os.Open(path)
		if err != nil {
			return err // fs.ErrNotExist is fine: nothing to sync
		}
		defer f.Close()
		return f.Sync()
	}
	dir := t.TempDir()
	c := commit.New(commit.Config{Mode: commit.FDataSync})
	if err := c.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	w := newWorld(t, actor.Config{Store: sqlite.NewStoreWithOptions(dir, sqlite.Options{SyncFile: syncFile}), Committer: c})
	ctx := context.Background()
	if got := call[int](t, w, "f", "Add", 1); got != 1 {
		t.Fatalf("Add = %d", got)
	}
	broken.Store(true)
	_, err := den.Call[int](ctx, w.ns.GetByName("f"), "Add", 1)
	var de *den.Error
	if !errors.As(err, &de) || !de.Reset || !de.Retryable || !strings.Contains(de.Message, "injected EIO") {
		t.Fatalf("write during a failing fsync: %#v", err)
	}
	broken.Store(false)
	// The object was reset and serves again; its reset instance re-opened
	// the database.
	if _, err := den.Call[int](ctx, w.ns.GetByName("f"), "Add", 1); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if b := w.built.Load(); b != 2 {
		t.Fatalf("constructions = %d, want 2 (one reset)", b)
	}
	// The failed handle was closed by the reset: the committer forgot it.
	if n := c.Stats().Remembered; n != 0 {
		t.Fatalf("committer still remembers %d failed databases after the reset closed them", n)
	}
}
