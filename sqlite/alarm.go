package sqlite

import (
	"context"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"sort"
	"strings"
	"time"

	"zombiezen.com/go/sqlite"
)

// The alarm is row 1 of _cf_METADATA, its value the time in nanoseconds since
// the Unix epoch, as workerd's sqlite-metadata.c++ stores it. workerd writes a
// NULL value for "no alarm"; Den deletes the row instead (so that a database
// holding nothing else can be removed) and reads either as no alarm.
const (
	sqlGetAlarm    = "SELECT value FROM _cf_METADATA WHERE key = 1"
	sqlSetAlarm    = "INSERT INTO _cf_METADATA VALUES(1, ?) ON CONFLICT DO UPDATE SET value = excluded.value"
	sqlDeleteAlarm = "DELETE FROM _cf_METADATA WHERE key = 1"
)

// GetAlarm returns the stored alarm time and whether one is set.
func (d *DB) GetAlarm() (time.Time, bool, error) {
	if d.err != nil {
		return time.Time{}, false, d.err
	}
	t, ok, err := d.getAlarm()
	if err != nil {
		return time.Time{}, false, d.fail("get alarm", err)
	}
	return t, ok, nil
}

func (d *DB) getAlarm() (time.Time, bool, error) {
	stmt, err := d.conn.Prepare(sqlGetAlarm)
	if err != nil {
		return time.Time{}, false, err
	}
	row, err := stmt.Step()
	if err != nil || !row {
		return time.Time{}, false, err
	}
	null := stmt.ColumnType(0) == sqlite.TypeNull
	ns := stmt.ColumnInt64(0)
	if err := stmt.Reset(); err != nil {
		return time.Time{}, false, err
	}
	if null {
		return time.Time{}, false, nil
	}
	return time.Unix(0, ns), true, nil
}

// SetAlarm stores t as the alarm, as it is: the caller validates it (see
// den.CheckAlarmTime). It is a write of the turn.
func (d *DB) SetAlarm(t time.Time) error {
	if d.err != nil {
		return d.err
	}
	stmt, err := d.conn.Prepare(sqlSetAlarm)
	if err != nil {
		return d.fail("set alarm", err)
	}
	stmt.BindInt64(1, t.UnixNano())
	if _, err := stmt.Step(); err != nil {
		return d.fail("set alarm", err)
	}
	d.dirty = true
	return nil
}

// DeleteAlarm deletes the stored alarm, if any. It is a write of the turn if
// there was one.
func (d *DB) DeleteAlarm() error {
	if d.err != nil {
		return d.err
	}
	if err := d.exec(sqlDeleteAlarm); err != nil {
		return d.fail("delete alarm", err)
	}
	d.dirty = d.dirty || d.conn.Changes() > 0
	return nil
}

// ScanAlarms reads the alarm of every object database under the Store's
// directory and calls fn for each object that has one, with err nil; for a
// database it could not read, it calls fn with the error (and a zero time).
// If fn returns an error, ScanAlarms stops and returns it. Files that do not
// look like object databases are skipped.
//
// It opens each database as the runtime does, so it must not run while a
// host serves the same directory: it rebuilds the node's alarm schedule at
// start, before objects run.
func (s *Store) ScanAlarms(ctx context.Context, fn func(class string, id [32]byte, at time.Time, err error) error) error {
	return s.walk(ctx, "scan alarms", func(class, path string, id [32]byte, _ fs.DirEntry) error {
		at, has, err := readAlarm(ctx, path, s.syncFile)
		if err == nil && !has {
			return nil
		}
		return fn(class, id, at, err)
	})
}

// readAlarm opens the database at path, reads its alarm and closes it.
func readAlarm(ctx context.Context, path string, syncFile func(string) error) (time.Time, bool, error) {
	d, err := openDB(ctx, path, syncFile, false)
	if err != nil {
		return time.Time{}, false, err
	}
	at, ok, err := d.GetAlarm()
	if cerr := d.closeWithoutCheckpoint(); err == nil && cerr != nil {
		err = cerr
	}
	return at, ok, err
}

// idFromFile returns the ID an object database file is named for.
func idFromFile(e fs.DirEntry) (id [32]byte, ok bool) {
	name, found := strings.CutSuffix(e.Name(), ".sqlite")
	if e.IsDir() || !found || len(name) != 64 {
		return id, false
	}
	if _, err := hex.Decode(id[:], []byte(name)); err != nil || name != strings.ToLower(name) {
		return id, false
	}
	return id, true
}

// readDirNames returns the names in dir, sorted; none if dir does not exist.
func readDirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	sort.Strings(names)
	return names, err
}
