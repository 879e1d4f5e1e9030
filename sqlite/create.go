package sqlite

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"zombiezen.com/go/sqlite/sqlitex"
)

// A new object's database is a copy of a template: an empty database already
// in WAL mode with Den's tables, built once per process. Creating it through
// SQLite instead would switch a fresh file to WAL under a rollback journal,
// which costs about ten fsyncs before the object runs its first turn; a
// copy costs none. Nothing about the copy is durable when Open returns:
// the database's first Sync fdatasyncs the file and fsyncs its directory and
// every directory Open created, before any write in it is acknowledged. A
// crash before that can leave an empty or zero-filled file, which no write
// was ever acknowledged from; Open then starts it again (see fresh).

// templateBytes returns the template database's contents, building it on the
// first call.
var templateBytes = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "den-template-")
	if err != nil {
		return nil, fmt.Errorf("build database template: %w", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "template.sqlite")
	conn, err := openConn(path)
	if err != nil {
		return nil, fmt.Errorf("build database template: %w", err)
	}
	err = setup(conn, false)
	if err == nil {
		err = sqlitex.ExecuteTransient(conn, "PRAGMA wal_checkpoint(TRUNCATE)", nil)
	}
	if cerr := closeConn(conn); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("build database template: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("build database template: %w", err)
	}
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() != 0 {
		return nil, errors.New("build database template: the WAL was not checkpointed")
	}
	return b, nil
})

// createFile creates the database file at path as a copy of the template,
// atomically: another Open of the same object sees no file or the whole
// template, never part of it. If replace is false and path exists, it leaves
// path alone and returns nil.
func createFile(path string, replace bool) error {
	tmpl, err := templateBytes()
	if err != nil {
		return err
	}
	tmp := fmt.Sprintf("%s.new-%016x", path, rand.Uint64())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(tmpl)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		if replace {
			err = os.Rename(tmp, path)
		} else if err = os.Link(tmp, path); errors.Is(err, fs.ErrExist) {
			err = nil // another Open created it first
		}
	}
	if rerr := os.Remove(tmp); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
		err = rerr
	}
	return err
}

// fresh reports whether the database file at path holds nothing that was
// ever acknowledged: it is empty or its first page is all zeros (what a
// crash leaves of a copied template that was never synced), and there is no
// WAL with frames in it. Such a file is replaced by the template. A durable
// database never has a zero header: its first Sync made the template's
// "SQLite format 3" header durable before anything was acknowledged.
func fresh(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	head := make([]byte, 4096)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return false, err
	}
	if !allZero(head[:n]) {
		return false, nil
	}
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
		return false, nil // frames without a header: leave it to SQLite to refuse
	}
	return true, nil
}

func allZero(b []byte) bool { return len(bytes.TrimLeft(b, "\x00")) == 0 }

// newDirs remembers the directories a Store created whose entries in their
// parents are not yet durable. Making them durable waits for the first Sync
// of a database under them, so creating an object costs no fsync of its own.
type newDirs struct {
	mu   sync.Mutex // protects following fields
	dirs map[string]bool
}

func (n *newDirs) add(dir string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.dirs == nil {
		n.dirs = make(map[string]bool)
	}
	n.dirs[dir] = true
}

// sync makes durable the entries of the new directories among dir and its
// ancestors, by fsyncing their parents. A directory stays remembered until its
// parent's fsync succeeds, so concurrent Syncs under it may each sync it:
// a database is never promised durable before its whole path is.
func (n *newDirs) sync(dir string, syncFile func(string) error) error {
	var todo []string
	n.mu.Lock()
	for d := dir; len(n.dirs) > 0; d = filepath.Dir(d) {
		if n.dirs[d] {
			todo = append(todo, d)
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	n.mu.Unlock()
	for _, d := range todo {
		if err := syncFile(filepath.Dir(d)); err != nil {
			return err
		}
		n.mu.Lock()
		delete(n.dirs, d)
		n.mu.Unlock()
	}
	return nil
}

// newFiles remembers the databases whose files' entries in their directory
// may not be durable: the databases a Store created, or opened without a
// WAL (SQLite then creates one), until their first Sync makes the entries
// durable. A session that ends before that leaves the database here, so the
// next session's first Sync does the work instead.
//
// Every other database that Open finds has files that came from before the
// Store (made durable once, by the settler) or from an earlier session that
// synced them. Its first Sync then needs no fsync of its directory: on a
// node that reopens objects all the time (alarms, objects evicted and
// called again) that fsync was half of the device flushes.
type newFiles struct {
	mu    sync.Mutex // protects paths
	paths map[string]bool
}

func (n *newFiles) add(path string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.paths == nil {
		n.paths = make(map[string]bool)
	}
	n.paths[path] = true
}

func (n *newFiles) has(path string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.paths[path]
}

func (n *newFiles) remove(path string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.paths, path)
}

// settler makes everything under a Store's directory durable once, before
// the first Sync that relies on it: files a crashed process left in the page
// cache, and files read-only tools created (ScanAlarms opens every database
// at start and SQLite creates missing WALs). One syncfs costs about as
// much as one directory fsync.
type settler struct {
	dir     string
	syncAll func(string) error
	done    atomic.Bool
	mu      sync.Mutex // held while syncing, so every caller waits for it
}

func (s *settler) settle() error {
	if s.done.Load() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done.Load() {
		return nil
	}
	if err := s.syncAll(s.dir); err != nil {
		return err
	}
	s.done.Store(true)
	return nil
}
