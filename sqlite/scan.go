package sqlite

import (
	"context"
	"io/fs"
	"path/filepath"

	"github.com/den-run/den"
)

// ScanObjects calls fn for every object database under the Store's
// directory with its class, ID and the size of its database file, without
// opening it. Files that do not look like object databases
// are skipped. If fn returns an error, ScanObjects stops and returns it.
func (s *Store) ScanObjects(ctx context.Context, fn func(class string, id [32]byte, bytes int64) error) error {
	return s.walk(ctx, "scan objects", func(class, path string, id [32]byte, e fs.DirEntry) error {
		size := int64(0)
		if fi, err := e.Info(); err == nil {
			size = fi.Size()
		}
		return fn(class, id, size)
	})
}

// walk calls fn for every file under the Store's directory that looks like
// an object database, class by class; errors are prefixed with op.
func (s *Store) walk(ctx context.Context, op string, fn func(class, path string, id [32]byte, e fs.DirEntry) error) error {
	classes, err := readDirNames(s.dir)
	if err != nil {
		return den.Errorf(den.EINTERNAL, "%s: %w", op, err)
	}
	for _, class := range classes {
		if checkClass(class) != nil {
			continue
		}
		err := filepath.WalkDir(filepath.Join(s.dir, class), func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if ctx.Err() != nil {
				return ctxError(ctx)
			}
			id, ok := idFromFile(e)
			if !ok {
				return nil
			}
			return fn(class, path, id, e)
		})
		if err != nil {
			return den.Errorf(den.ErrorCode(err), "%s: %w", op, err)
		}
	}
	return nil
}
