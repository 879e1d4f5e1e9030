package sqlite

import (
	"errors"
	"fmt"
	"reflect"
	"unsafe"

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

// setConnTLS makes t conn's thread state and returns the one it had. No
// C call may be running on conn.
func setConnTLS(conn *sqlite.Conn, t *libc.TLS) (old *libc.TLS) {
	p := (**libc.TLS)(unsafe.Add(unsafe.Pointer(conn), connTLSOffset))
	old, *p = *p, t
	return old
}

// connTLSOffset is the offset of conn's thread state in sqlite.Conn, for
// setConnTLS, which runs twice per event (stack.go).
var connTLSOffset = func() uintptr {
	if connTLS < 0 {
		return 0 // rawOK is false: no database opens
	}
	return reflect.TypeFor[sqlite.Conn]().Field(connTLS).Offset
}()

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

// setForeignKeys turns on foreign key enforcement, as PRAGMA foreign_keys=ON
// does (SQLITE_DBCONFIG_ENABLE_FKEY), without parsing a statement.
func setForeignKeys(conn *sqlite.Conn) error {
	return dbConfig(conn, lib.SQLITE_DBCONFIG_ENABLE_FKEY, "enable foreign keys")
}

// execRaw runs the statements of sql, a C string, with sqlite3_exec: no
// zombiezen statement for each, for SQL that returns no rows.
func execRaw(conn *sqlite.Conn, sql uintptr) error {
	tls, db := connTLSOf(conn), connHandleOf(conn)
	if rc := lib.Xsqlite3_exec(tls, db, sql, 0, 0, 0); rc != lib.SQLITE_OK {
		return rawError(tls, db, sql)
	}
	return nil
}

// tableExists reports whether the main schema has a table (or view) named
// table, a C string, reading the schema if it is not loaded yet
// (sqlite3_table_column_metadata with no column).
func tableExists(conn *sqlite.Conn, table uintptr) (bool, error) {
	tls, db := connTLSOf(conn), connHandleOf(conn)
	switch rc := lib.Xsqlite3_table_column_metadata(tls, db, mainDB, table, 0, 0, 0, 0, 0, 0); rc {
	case lib.SQLITE_OK:
		return true, nil
	case lib.SQLITE_ERROR: // no such table
		return false, nil
	default:
		code := sqlite.ResultCode(lib.Xsqlite3_extended_errcode(tls, db))
		return false, fmt.Errorf("look up table %s: %w", libc.GoString(table), code.ToError())
	}
}

// mainDB is "main" as a C string.
var mainDB = staticCString("main")

// staticCString returns s as a C string that lives as long as the process.
func staticCString(s string) uintptr {
	p, err := libc.CString(s)
	if err != nil {
		panic("sqlite: " + err.Error())
	}
	return p
}

// hasRow reports whether the query sql, a C string, returns a row. It
// prepares, steps and finalizes the statement itself: no zombiezen
// statement, no Go allocation.
func hasRow(conn *sqlite.Conn, sql uintptr) (bool, error) {
	tls, db := connTLSOf(conn), connHandleOf(conn)
	pp := tls.Alloc(8)
	defer tls.Free(8)
	if rc := lib.Xsqlite3_prepare_v2(tls, db, sql, -1, pp, 0); rc != lib.SQLITE_OK {
		return false, rawError(tls, db, sql)
	}
	stmt := *(*uintptr)(cmem(pp))
	rc := lib.Xsqlite3_step(tls, stmt)
	lib.Xsqlite3_finalize(tls, stmt)
	switch rc {
	case lib.SQLITE_ROW:
		return true, nil
	case lib.SQLITE_DONE:
		return false, nil
	default:
		return false, rawError(tls, db, sql)
	}
}

// rawError returns the error of the last call on db, about sql.
func rawError(tls *libc.TLS, db, sql uintptr) error {
	code := sqlite.ResultCode(lib.Xsqlite3_extended_errcode(tls, db))
	return fmt.Errorf("%s: %s: %w", libc.GoString(sql), libc.GoString(lib.Xsqlite3_errmsg(tls, db)), code.ToError())
}

// walDescriptor returns the file descriptor SQLite reads and writes the
// WAL through (SQLITE_FCNTL_JOURNAL_POINTER; the unix VFS's unixFile holds
// it), or false if there is none. It stays valid until the connection
// closes; the caller must not close it.
func walDescriptor(conn *sqlite.Conn) (int, bool) {
	tls, db := connTLSOf(conn), connHandleOf(conn)
	pp := tls.Alloc(8)
	defer tls.Free(8)
	*(*uintptr)(cmem(pp)) = 0
	if rc := lib.Xsqlite3_file_control(tls, db, mainDB, lib.SQLITE_FCNTL_JOURNAL_POINTER, pp); rc != lib.SQLITE_OK {
		return -1, false
	}
	f := *(*uintptr)(cmem(pp))
	if f == 0 || *(*uintptr)(cmem(f)) == 0 { // no file, or not open (no methods)
		return -1, false
	}
	fd := int((*lib.TunixFile)(cmem(f)).Fh)
	return fd, fd >= 0
}

// deferredViolations reports whether the open transaction has foreign key
// violations that SQLite will check at COMMIT (SQLITE_DBSTATUS_DEFERRED_FKS).
func deferredViolations(conn *sqlite.Conn) bool {
	tls, db := connTLSOf(conn), connHandleOf(conn)
	p := tls.Alloc(8)
	defer tls.Free(8)
	*(*[2]int32)(cmem(p)) = [2]int32{}
	lib.Xsqlite3_db_status(tls, db, lib.SQLITE_DBSTATUS_DEFERRED_FKS, p, p+4, 0)
	return (*(*[2]int32)(cmem(p)))[0] > 0
}
