package sqlite

import (
	"errors"
	"io/fs"

	"github.com/den-run/den"
)

// Sync makes every committed write durable by fdatasyncing the WAL file. If
// there is no WAL file there is nothing to sync: only a checkpoint removes
// it, and that fsyncs the database file first. (Close keeps a small WAL for
// the next session.) The first Sync after Open also makes the files' names
// durable: for a database whose files are new (see newFiles) it fsyncs the
// directory, and fdatasyncs the database file and the directories Open
// created on its path if Open created it; for any other, the Store's
// settler has made them durable, once.
//
// Sync may be called from any goroutine, concurrently with the DB's other
// methods, and after Close. It returns an EINTERNAL error if a sync fails;
// the writes may then be lost, and the object must not release their outputs.
func (d *DB) Sync() error {
	seq := d.writeSeq.Load()
	if err := d.sync(); err != nil {
		return err
	}
	d.Synced(seq)
	return nil
}

// SyncToken returns a token for the writes committed so far, for Synced.
// Call it from the DB's owner, after a commit.
func (d *DB) SyncToken() uint64 { return d.writeSeq.Load() }

// Synced records that the writes of token are durable: a durability
// barrier that covered them succeeded. Any goroutine may call it.
func (d *DB) Synced(token uint64) {
	for {
		cur := d.durableSeq.Load()
		if token <= cur || d.durableSeq.CompareAndSwap(cur, token) {
			return
		}
	}
}

// unsynced reports whether writes were committed that no Sync or barrier
// is known to have made durable.
func (d *DB) unsynced() bool { return d.durableSeq.Load() < d.writeSeq.Load() }

func (d *DB) sync() error {
	if err := d.syncFile(d.wal); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return den.Errorf(den.EINTERNAL, "sync object db: %w", err)
	}
	if !d.dirSynced.Load() {
		if err := d.syncEntries(); err != nil {
			return den.Errorf(den.EINTERNAL, "sync object db: %w", err)
		}
		d.dirSynced.Store(true)
	}
	return nil
}

// syncEntries makes the database's files durable in their directories, the
// first time this session syncs.
func (d *DB) syncEntries() error {
	if d.created {
		if err := d.syncFile(d.path); err != nil {
			return err
		}
	}
	if !d.newEntries && d.settled != nil {
		return d.settled.settle()
	}
	if err := d.syncFile(d.dir); err != nil {
		return err
	}
	if d.dirs != nil {
		if err := d.dirs.sync(d.dir, d.syncFile); err != nil {
			return err
		}
	}
	if d.files != nil {
		d.files.remove(d.path)
	}
	return nil
}

// SyncedAll records that a sync of the whole filesystem (a barrier's
// syncfs) covered every write committed before token: the files' names are
// durable then too.
func (d *DB) SyncedAll(token uint64) {
	if !d.dirSynced.Load() && d.files != nil {
		d.files.remove(d.path)
	}
	if d.settled != nil {
		d.settled.done.Store(true) // that sync came after the Store began
	}
	d.dirSynced.Store(true)
	d.Synced(token)
}
