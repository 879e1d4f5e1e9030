package sqlite

import (
	"net/url"
	"path/filepath"
	"sync"

	"zombiezen.com/go/sqlite"
)

// connTables serializes opening and closing connections. zombiezen (v1.4.2)
// keeps process-wide tables keyed by the C connection's address (busy
// handlers, its connection table) and Conn.Close frees the connection before
// it removes the entries, so a connection opened at that moment at the same
// address could have its entries removed by the other's Close. Holding this
// lock across OpenConn with its registrations, and across Close, closes that
// window. Opens and closes are milliseconds, against microseconds of lock.
var connTables sync.Mutex

// openConn opens the object database at path with the "unix-none" VFS and
// registers the busy timeout under connTables.
//
// unix-none takes no POSIX locks, and so keeps no entry in SQLite's
// process-wide list of open inodes, which the default "unix" VFS searches
// linearly on every open: with ten thousand live objects (twenty thousand
// open files) that search took a quarter of the CPU of a workload that
// activates objects. The locks guard nothing here: an object's database is
// opened by one connection at a time in this process (the host opens each
// object once; exports, imports and restores open other files), serve
// holds a lock on the whole data directory against other processes, and
// locking_mode=EXCLUSIVE keeps the WAL index in the connection's memory, so
// no -shm file is needed.
func openConn(path string) (*sqlite.Conn, error) {
	abs, err := filepath.Abs(path) // a relative path would read as the URI's authority
	if err != nil {
		return nil, err
	}
	connTables.Lock()
	defer connTables.Unlock()
	uri := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: "vfs=unix-none"}
	conn, err := sqlite.OpenConn(uri.String(), sqlite.OpenReadWrite|sqlite.OpenCreate|sqlite.OpenURI)
	if err != nil {
		return nil, err
	}
	conn.SetBusyTimeout(BusyTimeout)
	return conn, nil
}

// closeConn closes conn under connTables.
func closeConn(conn *sqlite.Conn) error {
	connTables.Lock()
	defer connTables.Unlock()
	return conn.Close()
}
