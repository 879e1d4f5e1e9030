package sqlite

import (
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"unsafe"

	"modernc.org/libc"
	lib "modernc.org/sqlite/lib"
	"zombiezen.com/go/sqlite"
)

// Den registers its authorizer with SQLite itself rather than through
// zombiezen's Conn.SetAuthorizer. zombiezen (v1.4.2) keys its authorizers by
// the sqlite3 pointer and forgets a connection's after sqlite3_close has
// freed that pointer, so with many connections opening and closing at once
// a new connection at the same address loses its authorizer and the next
// statement it compiles crashes the process (a nil Authorizer). Den keys
// authorizers by a number of its own and unregisters before closing. The
// C callback also hands Den the function name of an SQLITE_FUNCTION action,
// which zombiezen's Action does not expose.

// authorizers maps the key passed to SQLite as the callback's argument to
// the connection's sandbox. The callback runs for every action of every
// statement SQLite compiles, on every connection at once, so it reads
// without a lock: a key is a slot in chunks that never move, each slot an
// atomic pointer. A global RWMutex here made a convoy: with thousands of
// activations a second, a reader preempted in the callback stalled every
// open and close behind it (docs/ALARMS.md, "One more lock").
//
// A slot is reused only after its connection has cleared its authorizer
// (unregister), so SQLite never calls with a key that names another
// connection's sandbox.
var authorizers struct {
	mu     sync.Mutex // protects free, used and chunk creation
	free   []uintptr  // keys unregistered, to reuse
	used   uintptr    // keys handed out, from 1
	chunks [authChunks]atomic.Pointer[[authChunk]atomic.Pointer[sandbox]]
}

const (
	authChunk  = 1024
	authChunks = 4096 // 4M connections open at once
)

// registerAuth gives sb a key.
func registerAuth(sb *sandbox) (uintptr, error) {
	a := &authorizers
	a.mu.Lock()
	defer a.mu.Unlock()
	var key uintptr
	if n := len(a.free); n > 0 {
		key, a.free = a.free[n-1], a.free[:n-1]
	} else {
		if a.used == authChunk*authChunks {
			return 0, fmt.Errorf("too many open databases: at most %d at once", authChunk*authChunks)
		}
		a.used++
		key = a.used
	}
	if c := &a.chunks[(key-1)/authChunk]; c.Load() == nil {
		c.Store(new([authChunk]atomic.Pointer[sandbox]))
	}
	authSlot(key).Store(sb)
	return key, nil
}

// authSlot returns registered key's slot.
func authSlot(key uintptr) *atomic.Pointer[sandbox] {
	return &authorizers.chunks[(key-1)/authChunk].Load()[(key-1)%authChunk]
}

// forgetAuth frees key, once SQLite no longer calls with it.
func forgetAuth(key uintptr) {
	a := &authorizers
	authSlot(key).Store(nil)
	a.mu.Lock()
	a.free = append(a.free, key)
	a.mu.Unlock()
}

// lookupAuth returns key's sandbox, or nil.
func lookupAuth(key uintptr) *sandbox {
	if key == 0 || key > authChunk*authChunks {
		return nil
	}
	c := authorizers.chunks[(key-1)/authChunk].Load()
	if c == nil {
		return nil
	}
	return c[(key-1)%authChunk].Load()
}

// action is one action SQLite asks the authorizer about: the C arguments,
// read as zombiezen's Action reads them
// (https://sqlite.org/c3ref/c_alter_table.html).
type action struct {
	op                       sqlite.OpType
	arg1, arg2, db, accessor string
}

// setAuthorizer makes sb conn's authorizer. Call unregister before closing
// conn.
func setAuthorizer(conn *sqlite.Conn, sb *sandbox) (unregister func(), err error) {
	key, err := registerAuth(sb)
	if err != nil {
		return nil, err
	}
	tls, db := connTLSOf(conn), connHandleOf(conn)
	if rc := sqlite.ResultCode(lib.Xsqlite3_set_authorizer(tls, db, authCallback, key)); !rc.IsSuccess() {
		forgetAuth(key)
		return nil, rc.ToError()
	}
	return func() {
		lib.Xsqlite3_set_authorizer(tls, db, 0, 0)
		forgetAuth(key)
	}, nil
}

var authCallback = cFuncPointer(authTrampoline)

// authTrampoline is the C authorizer callback. An unknown key, which
// cannot happen, is denied.
func authTrampoline(tls *libc.TLS, key uintptr, op int32, arg1, arg2, db, accessor uintptr) int32 {
	sb := lookupAuth(key)
	if sb == nil {
		return int32(sqlite.AuthResultDeny)
	}
	if !sb.user { // Den's own statement: no need to read the arguments
		return int32(sqlite.AuthResultOK)
	}
	return int32(sb.authorize(action{
		op:       sqlite.OpType(op),
		arg1:     libc.GoString(arg1),
		arg2:     libc.GoString(arg2),
		db:       libc.GoString(db),
		accessor: libc.GoString(accessor),
	}))
}

// cFuncPointer returns a C function pointer for the Go function f, as
// modernc's transpiled C calls it (zombiezen's own helper, unexported).
func cFuncPointer[T any](f T) uintptr {
	return *(*uintptr)(unsafe.Pointer(&struct{ f T }{f}))
}

// connHandleOf returns conn's sqlite3 pointer.
func connHandleOf(conn *sqlite.Conn) uintptr {
	return uintptr(reflect.ValueOf(conn).Elem().Field(connHandle).Uint())
}

// Database is the schema the action affects, or "".
func (a action) Database() string {
	switch a.op {
	case sqlite.OpDetach, sqlite.OpAlterTable:
		return a.arg1
	}
	return a.db
}

// Table is the table the action affects, or "".
func (a action) Table() string {
	switch a.op {
	case sqlite.OpCreateTable, sqlite.OpCreateTempTable, sqlite.OpDelete, sqlite.OpDropTable,
		sqlite.OpDropTempTable, sqlite.OpInsert, sqlite.OpRead, sqlite.OpUpdate, sqlite.OpAnalyze,
		sqlite.OpCreateVTable, sqlite.OpDropVTable:
		return a.arg1
	case sqlite.OpCreateIndex, sqlite.OpCreateTempIndex, sqlite.OpCreateTempTrigger,
		sqlite.OpCreateTrigger, sqlite.OpDropIndex, sqlite.OpDropTempIndex, sqlite.OpDropTempTrigger,
		sqlite.OpDropTrigger, sqlite.OpAlterTable:
		return a.arg2
	}
	return ""
}

// Index is the index the action affects, or "".
func (a action) Index() string {
	switch a.op {
	case sqlite.OpCreateIndex, sqlite.OpCreateTempIndex, sqlite.OpDropIndex, sqlite.OpDropTempIndex, sqlite.OpReindex:
		return a.arg1
	}
	return ""
}

// Trigger is the trigger the action affects, or "".
func (a action) Trigger() string {
	switch a.op {
	case sqlite.OpCreateTempTrigger, sqlite.OpCreateTrigger, sqlite.OpDropTempTrigger, sqlite.OpDropTrigger:
		return a.arg1
	}
	return ""
}

// View is the view the action affects, or "".
func (a action) View() string {
	switch a.op {
	case sqlite.OpCreateTempView, sqlite.OpCreateView, sqlite.OpDropTempView, sqlite.OpDropView:
		return a.arg1
	}
	return ""
}

// Column is the column read or updated, or "".
func (a action) Column() string {
	switch a.op {
	case sqlite.OpRead, sqlite.OpUpdate:
		return a.arg2
	}
	return ""
}

// Module is the module of a virtual table created or dropped, or "".
func (a action) Module() string {
	switch a.op {
	case sqlite.OpCreateVTable, sqlite.OpDropVTable:
		return a.arg2
	}
	return ""
}

// Pragma and PragmaArg are a PRAGMA's name and argument, or "".
func (a action) Pragma() string {
	if a.op != sqlite.OpPragma {
		return ""
	}
	return a.arg1
}

func (a action) PragmaArg() string {
	if a.op != sqlite.OpPragma {
		return ""
	}
	return a.arg2
}
