package sqlite

import (
	"errors"
	"fmt"
	"reflect"

	"modernc.org/libc"
	lib "modernc.org/sqlite/lib"
	"zombiezen.com/go/sqlite"
)

// zombiezen.com/go/sqlite does not expose three C functions the SQL API
// needs: sqlite3_column_name (its ColumnName collapses duplicate names and
// is not refreshed when SQLite recompiles a statement), sqlite3_stmt_readonly
// and sqlite3_stmt_status; and its Conn.SetDefensive corrupts memory (v1.4.2
// passes sqlite3_db_config one variadic argument where SQLite reads two and
// writes through the second). This file reads the C handles it keeps in
// unexported fields, by reflection, and calls modernc's functions with them,
// on the connection's own goroutine as zombiezen does. The fields are looked
// up once; if a new version of zombiezen lacks them, opening a database
// fails with errRawHandles rather than misbehave, and the tests say so.

var (
	stmtHandle = fieldIndex[sqlite.Stmt]("stmt", reflect.Uintptr)
	stmtConn   = fieldIndex[sqlite.Stmt]("conn", reflect.Pointer)
	connTLS    = fieldIndex[sqlite.Conn]("tls", reflect.Pointer)
	connHandle = fieldIndex[sqlite.Conn]("conn", reflect.Uintptr)
)

var errRawHandles = errors.New("sqlite: cannot reach the C handles of this version of zombiezen.com/go/sqlite")

// rawOK reports whether the handles can be read.
func rawOK() bool { return stmtHandle >= 0 && stmtConn >= 0 && connTLS >= 0 && connHandle >= 0 }

func fieldIndex[T any](name string, kind reflect.Kind) int {
	f, ok := reflect.TypeFor[T]().FieldByName(name)
	if !ok || f.Type.Kind() != kind || len(f.Index) != 1 {
		return -1
	}
	return f.Index[0]
}

// connTLSOf returns conn's thread state, which every C call on it takes.
func connTLSOf(conn *sqlite.Conn) *libc.TLS {
	return (*libc.TLS)(reflect.ValueOf(conn).Elem().Field(connTLS).UnsafePointer())
}

// handleOf returns stmt's sqlite3_stmt pointer; it never changes.
func handleOf(stmt *sqlite.Stmt) uintptr {
	return uintptr(reflect.ValueOf(stmt).Elem().Field(stmtHandle).Uint())
}

// setDefensive turns on SQLite's defensive mode (SQLITE_DBCONFIG_DEFENSIVE):
// no writable_schema, no writes to shadow tables or sqlite_dbpage, nothing
// that lets ordinary SQL corrupt the file.
func setDefensive(conn *sqlite.Conn) error {
	return dbConfig(conn, lib.SQLITE_DBCONFIG_DEFENSIVE, "set defensive")
}

// setNoCheckpointOnClose keeps the WAL file, unchanged, when the connection
// closes (SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE): closing then costs no
// checkpoint, no fsync of the database file and no unlink, and the next
// open reuses the file. DB.Close checkpoints a large WAL itself.
func setNoCheckpointOnClose(conn *sqlite.Conn) error {
	return dbConfig(conn, lib.SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, "keep wal on close")
}

// dbConfig turns on the boolean sqlite3_db_config option op.
func dbConfig(conn *sqlite.Conn, op int32, what string) error {
	tls, db := connTLSOf(conn), connHandleOf(conn)
	va := libc.NewVaList(int32(1), uintptr(0)) // on, and no pointer to report the setting through
	if va == 0 {
		return fmt.Errorf("sqlite: %s: cannot allocate memory", what)
	}
	defer libc.Xfree(tls, va)
	if rc := sqlite.ResultCode(lib.Xsqlite3_db_config(tls, db, op, va)); !rc.IsSuccess() {
		return fmt.Errorf("sqlite: %s: %w", what, rc.ToError())
	}
	return nil
}

// columnNames returns the names of the result columns of statement p,
// duplicates kept.
func columnNames(tls *libc.TLS, p uintptr) []string {
	n := int(lib.Xsqlite3_column_count(tls, p))
	if n == 0 {
		return nil
	}
	names := make([]string, n)
	for i := range names {
		names[i] = libc.GoString(lib.Xsqlite3_column_name(tls, p, int32(i)))
	}
	return names
}

// readonly reports whether statement p makes no direct change to the
// database.
func readonly(tls *libc.TLS, p uintptr) bool { return lib.Xsqlite3_stmt_readonly(tls, p) != 0 }

// reprepares returns how many times SQLite recompiled statement p after a
// schema change.
func reprepares(tls *libc.TLS, p uintptr) int32 {
	return lib.Xsqlite3_stmt_status(tls, p, lib.SQLITE_STMTSTATUS_REPREPARE, 0)
}
