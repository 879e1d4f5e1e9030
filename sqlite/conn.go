package sqlite

import (
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

// openConn opens path and registers the busy timeout under connTables.
func openConn(path string) (*sqlite.Conn, error) {
	connTables.Lock()
	defer connTables.Unlock()
	conn, err := sqlite.OpenConn(path, sqlite.OpenReadWrite|sqlite.OpenCreate)
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
