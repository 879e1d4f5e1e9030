package sqlite

import (
	"context"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/internal/fsync"
	"golang.org/x/sys/unix"
)

// MaxClassBytes is the longest class name a Store accepts.
const MaxClassBytes = 128

// Options change how a Store touches the disk.
type Options struct {
	// SyncFile makes the file or directory at path durable. It is called
	// with a database's WAL file on every Sync, and with directories when
	// Open creates them or Sync runs first. It returns an error satisfying
	// errors.Is(err, fs.ErrNotExist) if path does not exist. The default
	// fdatasyncs files and fsyncs directories; tests inject faults here.
	SyncFile func(path string) error
	// MaxDatabaseBytes caps each object's database (PRAGMA
	// max_page_count): a write past it fails with an ELIMIT error and the
	// object resets. Zero means den.DefaultMaxDatabaseBytes (10 GB).
	MaxDatabaseBytes int64
	// ClassMaxDatabaseBytes overrides MaxDatabaseBytes for the classes it
	// names (a namespace's objects are of one class).
	ClassMaxDatabaseBytes map[string]int64
	// MaxStatementTime bounds one SQL statement of the object's own; past it
	// the statement is interrupted and the object reset (an ETIMEOUT error).
	// Zero means den.DefaultMaxSQLStatementTime (30 s).
	MaxStatementTime time.Duration
	// History, when set, returns the point-in-time history of each
	// database Open opens (pitr.Archive.Open, wired by serve): the DB then
	// checkpoints itself, archiving the WAL first (wal.go).
	// CheckpointBytes is the WAL size that triggers a checkpoint after a
	// commit, DefaultCheckpointBytes when zero.
	History         func(class string, id den.ID) Log
	CheckpointBytes int64
	// SyncAll makes every file and directory under dir durable. The first
	// Sync of a database that existed before the Store opened it calls it
	// once per Store (see settler). The default is one syncfs(2); tests
	// inject faults here.
	SyncAll func(dir string) error
}

// Store opens the databases of objects under one directory. Open is safe for
// concurrent use; each DB it returns is then owned by its caller.
type Store struct {
	dir      string
	syncFile func(string) error
	maxBytes int64            // every class's size cap but those in classMax
	classMax map[string]int64 // per-class size caps
	dirs     *newDirs         // directories created and not yet synced
	files    *newFiles        // databases whose files may not be durable in their directory
	settled  *settler         // everything made durable once, for files from before
	stmtTime time.Duration    // Options.MaxStatementTime
	history  func(class string, id den.ID) Log
	ckptSize int64
}

var _ den.Store = (*Store)(nil)

// NewStore returns a Store that keeps its databases under dir. It touches
// nothing on disk: Open creates directories as it needs them.
func NewStore(dir string) *Store { return NewStoreWithOptions(dir, Options{}) }

// NewStoreWithOptions is NewStore with opts.
func NewStoreWithOptions(dir string, opts Options) *Store {
	s := &Store{dir: dir, syncFile: opts.SyncFile, maxBytes: opts.MaxDatabaseBytes, classMax: maps.Clone(opts.ClassMaxDatabaseBytes), dirs: &newDirs{}, stmtTime: opts.MaxStatementTime,
		history: opts.History, ckptSize: opts.CheckpointBytes}
	if s.syncFile == nil {
		s.syncFile = fsync.Path
	}
	s.files = &newFiles{}
	s.settled = &settler{dir: dir, syncAll: opts.SyncAll}
	if s.settled.syncAll == nil {
		s.settled.syncAll = fsync.Filesystem
	}
	if s.maxBytes <= 0 {
		s.maxBytes = den.DefaultMaxDatabaseBytes
	}
	return s
}

// Path returns the file of object id of class:
// <dir>/<class>/<hex[0:2]>/<hex[2:4]>/<hex>.sqlite, where hex is id.String().
// Two levels of 256 directories keep each directory small with millions of
// objects. Path returns "" if class is not a valid class name or id is zero.
func (s *Store) Path(class string, id den.ID) string {
	if checkClass(class) != nil || id.IsZero() {
		return ""
	}
	hex := id.String()
	return filepath.Join(s.dir, class, hex[0:2], hex[2:4], hex+".sqlite")
}

// Exists reports whether the database of object id of class exists.
func (s *Store) Exists(class string, id den.ID) bool {
	p := s.Path(class, id)
	if p == "" {
		return false
	}
	_, err := os.Stat(p)
	return err == nil
}

// Open opens the database of object id of class, creating it (and its
// directories) if needed; a new database and its directories become durable
// at its first Sync. It returns an EINVALID
// error for a bad class name or the zero ID, ECANCELED or ETIMEOUT if ctx ends
// first, and EINTERNAL for a storage failure. Open may be called from many
// goroutines at once. Two DBs of one object work but contend for its locks;
// the runtime opens each object once.
func (s *Store) Open(ctx context.Context, class string, id den.ID) (den.Database, error) {
	if err := checkClass(class); err != nil {
		return nil, err
	}
	if id.IsZero() {
		return nil, den.Errorf(den.EINVALID, "open object db: the zero ID names no object")
	}
	if ctx.Err() != nil {
		return nil, ctxError(ctx)
	}
	path := s.Path(class, id)
	// Whether the WAL exists decides two things for this session (see
	// newFiles): a WAL that Open's SQLite creates needs its directory
	// synced, and needs no sync of its first header.
	walErr := unix.Access(path+"-wal", unix.F_OK)
	fi, err := os.Stat(path)
	created := false
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := s.mkdirs(filepath.Dir(path)); err != nil {
			return nil, den.Errorf(den.EINTERNAL, "open object db: %w", err)
		}
		if err := createFile(path, false); err != nil {
			return nil, den.Errorf(den.EINTERNAL, "open object db: create: %w", err)
		}
		created = true
	case err != nil:
		return nil, den.Errorf(den.EINTERNAL, "open object db: %w", err)
	case fi.Size() == 0:
		// A crash before the first Sync of a new database: nothing in it
		// was acknowledged.
		if err := createFile(path, true); err != nil {
			return nil, den.Errorf(den.EINTERNAL, "open object db: create: %w", err)
		}
		created = true
	}
	noWAL := errors.Is(walErr, unix.ENOENT)
	d, err := openDB(ctx, path, s.syncFile, noWAL)
	if err != nil && !created {
		if ok, ferr := fresh(path); ferr == nil && ok {
			if err := createFile(path, true); err != nil {
				return nil, den.Errorf(den.EINTERNAL, "open object db: create: %w", err)
			}
			created = true
			d, err = openDB(ctx, path, s.syncFile, noWAL)
		}
	}
	if err != nil {
		return nil, err
	}
	pending := s.files.has(path)
	d.created = created || pending
	d.newEntries = created || pending || walErr != nil
	d.dirs, d.files, d.settled = s.dirs, s.files, s.settled
	if d.newEntries {
		s.files.add(path)
	}
	if s.stmtTime > 0 {
		d.sql.timeLimit = s.stmtTime
	}
	if err := d.setMaxSize(s.MaxDatabaseBytes(class)); err != nil {
		d.Close()
		return nil, sqlError("open object db: size cap", err)
	}
	if s.history != nil { // point-in-time history (wal.go)
		if err := d.attachHistory(s.history(class, id), s.ckptSize); err != nil {
			d.Close()
			return nil, err
		}
	}
	return d, nil
}

// Remove deletes the files of object id's database, which must be closed.
// It is not an error if there are none.
func (s *Store) Remove(class string, id den.ID) error {
	p := s.Path(class, id)
	if p == "" {
		return den.Errorf(den.EINVALID, "remove object db: invalid class %q or zero ID", class)
	}
	for _, f := range []string{p + "-wal", p + "-shm", p} {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return den.Errorf(den.EINTERNAL, "remove object db: %w", err)
		}
	}
	s.files.remove(p)
	return nil
}

// MaxDatabaseBytes returns the size cap of the databases of class.
func (s *Store) MaxDatabaseBytes(class string) int64 {
	if n, ok := s.classMax[class]; ok && n > 0 {
		return n
	}
	return s.maxBytes
}

// mkdirs creates dir and its missing parents with mode 0700. Their entries
// are made durable by the first Sync of a database under them (newDirs).
func (s *Store) mkdirs(dir string) error {
	var missing []string
	for d := dir; ; {
		_, err := os.Stat(d)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, d)
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	for i := len(missing) - 1; i >= 0; i-- {
		d := missing[i]
		// Remember d even if another goroutine won the race to create
		// it: its Sync may not have run yet.
		s.dirs.add(d)
		if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	return nil
}

// checkClass returns an EINVALID error unless class is a safe path
// component: a letter, then letters, digits, '_' or '-', at most
// MaxClassBytes in all.
func checkClass(class string) error {
	ok := class != "" && len(class) <= MaxClassBytes && isLetter(class[0])
	for i := 1; ok && i < len(class); i++ {
		c := class[i]
		ok = isLetter(c) || '0' <= c && c <= '9' || c == '_' || c == '-'
	}
	if !ok {
		return den.Errorf(den.EINVALID, "Invalid Durable Object class name %q: use letters, digits, '_' and '-', start with a letter, and at most %d characters.", class, MaxClassBytes)
	}
	return nil
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// ctxError returns the error for an Open that ctx ended.
func ctxError(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return den.Errorf(den.ETIMEOUT, "open object db: %w", context.Cause(ctx))
	}
	return den.Errorf(den.ECANCELED, "open object db: %w", context.Cause(ctx))
}
