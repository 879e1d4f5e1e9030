package pitr

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/internal/fsync"
)

// DefaultRetention is how long history is kept: Cloudflare's 30 days.
const DefaultRetention = 30 * 24 * time.Hour

// Options change how an Archive keeps history. Zero fields take defaults.
type Options struct {
	// Retention is how far back bookmarks reach, DefaultRetention when
	// zero. ClassRetention overrides it for the classes it names (a
	// namespace's objects are of one class).
	Retention      time.Duration
	ClassRetention map[string]time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// SyncFile makes a file or directory durable (fdatasync, or fsync for
	// a directory); tests inject faults here. The default opens path and
	// syncs it.
	SyncFile func(path string) error
}

// Archive keeps the history of every object's database under one
// directory. Its methods are safe for concurrent use; each [Log] it opens
// belongs to its caller.
type Archive struct {
	dir      string
	ret      time.Duration
	classRet map[string]time.Duration
	now      func() time.Time
	syncFile func(string) error
	lazy     intactPairs // lazy first pairs known whole (lazy.go)
}

// New returns an Archive keeping histories under dir. It touches nothing on
// disk until a history is written.
func New(dir string, opts Options) *Archive {
	a := &Archive{dir: dir, ret: opts.Retention, classRet: maps.Clone(opts.ClassRetention), now: opts.Now, syncFile: opts.SyncFile}
	if a.ret <= 0 {
		a.ret = DefaultRetention
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.syncFile == nil {
		a.syncFile = fsync.Path
	}
	return a
}

// Retention returns how long the history of objects of class is kept.
func (a *Archive) Retention(class string) time.Duration {
	if r, ok := a.classRet[class]; ok && r > 0 {
		return r
	}
	return a.ret
}

// Dir returns the directory holding the history of object id of class.
func (a *Archive) Dir(class string, id den.ID) string {
	hex := id.String()
	return filepath.Join(a.dir, class, hex[0:2], hex[2:4], hex)
}

// Open returns the history of object id of class, to be attached to its
// database with [Log.Attach]. It does no I/O.
func (a *Archive) Open(class string, id den.ID) *Log {
	return &Log{a: a, class: class, id: id, dir: a.Dir(class, id), ret: a.Retention(class)}
}

// Delete removes the whole history of object id of class, and any restore
// staged for it. The object's database must not be open. Deleting a history
// that does not exist is not an error.
func (a *Archive) Delete(class string, id den.ID) error {
	dir := a.Dir(class, id)
	a.forgetIntact(dir)
	if err := os.RemoveAll(dir); err != nil {
		return den.Errorf(den.EINTERNAL, "delete history: %w", err)
	}
	// Remove the fan-out directories left empty; errors only mean they
	// are not empty.
	for d := filepath.Dir(dir); d != a.dir && len(d) > len(a.dir); d = filepath.Dir(d) {
		if os.Remove(d) != nil {
			break
		}
	}
	return nil
}

// Exists reports whether object id of class has a history.
func (a *Archive) Exists(class string, id den.ID) bool {
	bases, err := listPairs(a.Dir(class, id))
	return err == nil && len(bases) > 0
}

// mkdirs creates dir and its missing parents, syncing the parent of each.
func (a *Archive) mkdirs(dir string) error { return a.mkdirsSync(dir, true) }

// mkdirsSync is mkdirs, syncing the parents only if sync is true. It tries
// to create dir first: usually only the object's own directory is missing,
// and one mkdir costs less than a stat of each level.
func (a *Archive) mkdirsSync(dir string, sync bool) error {
	err := os.Mkdir(dir, 0o700)
	if errors.Is(err, fs.ErrNotExist) {
		parent := filepath.Dir(dir)
		if parent == dir {
			return err
		}
		if err := a.mkdirsSync(parent, sync); err != nil {
			return err
		}
		err = os.Mkdir(dir, 0o700)
	}
	switch {
	case errors.Is(err, fs.ErrExist):
		return nil
	case err != nil:
		return err
	case sync:
		return a.syncFile(filepath.Dir(dir))
	}
	return nil
}
