package sqlite

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"sync"
	"unsafe"

	"modernc.org/libc"

	lib "modernc.org/sqlite/lib"
	"zombiezen.com/go/sqlite"
)

// Connections open and close concurrently, without a process-wide lock.
//
// zombiezen (v1.4.2) keeps process-wide tables keyed by the C connection's
// address (its connection table, busy handlers, authorizers), and
// Conn.Close frees the sqlite3 object (sqlite3_close) before it removes the
// address from them. A connection opened in between at the same address
// would have its fresh entries removed by the other's Close: a SQL function
// or virtual table of it would then find no connection, a busy handler none
// to call. Den used to hold one mutex across every OpenConn and Close, which
// made activations and evictions wait for each other.
//
// closeConn instead keeps the address from being reused until Close has
// returned: the sqlite3 object is allocated through Den's own memory methods
// (malloc.go), and closeConn tells them to hold that block back when SQLite
// frees it, and releases it after Close. An open meanwhile gets another
// address, so the entries Close removes are only its own. Opens need nothing:
// two live connections never share an address, and zombiezen guards its
// tables with their own locks. Connections opened elsewhere (the alarm index,
// the usage meter) live for the whole process and close at shutdown.
//
// If Den's memory methods could not be installed (SQLite was initialized
// before this package's init), nothing can be held back, and opens and
// closes fall back to serializing on connTables. openConnFlags (restore.go)
// takes it around its OpenConn too.
var connTables sync.Mutex

// holdingWorks reports whether closeConn can hold addresses back.
func holdingWorks() bool { return configMalloc == lib.SQLITE_OK }

// openConn opens the object database at path with the "den" VFS (unix-none
// with a cheaper xFullPathname, below) and sets its busy timeout.
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
	if !holdingWorks() {
		connTables.Lock()
		defer connTables.Unlock()
	}
	vfs := "vfs=" + vfsName
	if err := registerVFS(); err != nil {
		vfs = "vfs=unix-none"
	}
	uri := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: vfs}
	conn, err := sqlite.OpenConn(uri.String(), sqlite.OpenReadWrite|sqlite.OpenCreate|sqlite.OpenURI)
	if err != nil {
		return nil, err
	}
	if t := cStacks.take(); t != nil {
		setConnTLS(conn, t).Close() // the stack the open itself used
	}
	conn.SetBusyTimeout(BusyTimeout)
	return conn, nil
}

// cStacks keeps the C stacks (modernc's thread states) of closed
// connections for the next ones.
//
// modernc runs C code on a stack of its own per thread state, one block
// per call depth, each allocated from its allocator when first reached and
// freed when the state is closed; zombiezen gives every connection a new
// state and closes it with the connection. An activation therefore
// allocated a C stack block by block (the parser's frame alone is 2.5 KB)
// and an eviction freed it, and with thousands of connections opening and
// closing, modernc unmapped the emptied pages and mapped fresh ones, which
// the parser then faulted in: about a tenth of the CPU of delivering
// alarms to 10,000 evicted objects. A connection now takes a kept state
// after it opens, and gives its state back when it closes.
var cStacks tlsPool

// tlsPoolMax is how many thread states cStacks keeps; beyond it, a closing
// connection's state is freed.
const tlsPoolMax = 256

// tlsPool is a stack of idle thread states.
type tlsPool struct {
	mu   sync.Mutex // protects free
	free []*libc.TLS
}

// take returns an idle thread state, or nil if there is none.
func (p *tlsPool) take() *libc.TLS {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) == 0 {
		return nil
	}
	t := p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	return t
}

// keep keeps t, a state no C call is running on, or frees it if the pool
// is full (or t's stack is not empty, which would be a bug).
func (p *tlsPool) keep(t *libc.TLS) {
	p.mu.Lock()
	if len(p.free) < tlsPoolMax && t.StackSlots() == 0 {
		p.free = append(p.free, t)
		t = nil
	}
	p.mu.Unlock()
	if t != nil {
		t.Close()
	}
}

// closeConn closes conn, holding its address back from reuse until
// zombiezen has forgotten it (see above).
func closeConn(conn *sqlite.Conn) error {
	// Keep the connection's C stack: Close frees the state it finds, so it
	// gets a new one, on which the close itself runs. No other goroutine
	// uses the state once the interrupt (the only one) is stopped.
	conn.SetInterrupt(nil)
	defer cStacks.keep(setConnTLS(conn, libc.NewTLS()))
	if !holdingWorks() {
		connTables.Lock()
		defer connTables.Unlock()
		return conn.Close()
	}
	h := connHandleOf(conn)
	holdBlock(h)
	defer unholdBlock(h)
	return conn.Close()
}

// vfsName is the VFS object databases open with: SQLite's unix-none, but
// for xFullPathname. unix's xFullPathname resolves symbolic links by
// lstat()ing every component of the path, on every open: seven system calls
// for an object's database, a tenth of an activation's CPU. Den's own code
// names the database's files by the path it was given (it syncs path +
// "-wal", removes path), so the link SQLite would resolve must not exist
// anyway; openConn hands it a clean absolute path, which fullPathname takes
// as it is.
const vfsName = "den"

// registerVFS registers vfsName once; it returns the error of that first
// call.
var registerVFS = sync.OnceValue(func() error {
	tls := libc.NewTLS()
	defer tls.Close()
	base, err := libc.CString("unix-none")
	if err != nil {
		return err
	}
	defer libc.Xfree(tls, base)
	orig := lib.Xsqlite3_vfs_find(tls, base)
	if orig == 0 {
		return errors.New("sqlite: no unix-none VFS")
	}
	// SQLite keeps the pointer: the struct and its name stay allocated for
	// the life of the process, outside Go's heap.
	p := libc.Xmalloc(tls, uint64(unsafe.Sizeof(lib.Tsqlite3_vfs{})))
	name, err := libc.CString(vfsName)
	if p == 0 || err != nil {
		return errors.New("sqlite: register VFS: out of memory")
	}
	vfs := (*lib.Tsqlite3_vfs)(cmem(p))
	*vfs = *(*lib.Tsqlite3_vfs)(cmem(orig))
	unixFullPathname = vfs.FxFullPathname
	vfs.FpNext, vfs.FzName, vfs.FxFullPathname = 0, name, cFunc(fullPathname)
	if rc := lib.Xsqlite3_vfs_register(tls, p, 0); rc != lib.SQLITE_OK {
		return fmt.Errorf("sqlite: register VFS: %w", sqlite.ResultCode(rc).ToError())
	}
	return nil
})

// unixFullPathname is unix-none's xFullPathname, set by registerVFS.
var unixFullPathname uintptr

// fullPathname is the den VFS's xFullPathname: an absolute path is its own
// full path; anything else goes to unix's.
func fullPathname(tls *libc.TLS, vfs, path uintptr, nOut int32, out uintptr) int32 {
	n := libc.Xstrlen(tls, path)
	if n == 0 || *(*byte)(cmem(path)) != '/' || n >= uint64(nOut) {
		f := *(*func(*libc.TLS, uintptr, uintptr, int32, uintptr) int32)(unsafe.Pointer(&unixFullPathname))
		return f(tls, vfs, path, nOut, out)
	}
	libc.Xmemcpy(tls, out, path, n+1)
	return lib.SQLITE_OK
}
