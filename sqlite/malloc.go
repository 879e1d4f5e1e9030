package sqlite

import (
	"sync"
	"unsafe"

	"modernc.org/libc"
	lib "modernc.org/sqlite/lib"
)

// SQLite's memory methods, installed with SQLITE_CONFIG_MALLOC: the same as
// its defaults on modernc (malloc with an 8-byte size header), plus a cache
// of freed large blocks. modernc's allocator maps every block over 16 KiB on
// its own and unmaps it on free; SQLite allocates several such blocks each
// time a connection opens (the WAL-index page, the buffer that reads an
// existing WAL back) and frees them when it closes or recovers, so each
// object activation paid a handful of mmaps and munmaps, about a quarter of
// its CPU. Freed blocks of those sizes are kept, by exact size, up to a
// bounded total, and handed out again.

const (
	largeBlock      = 16 << 10 // the smallest size modernc maps on its own
	maxCachedBlock  = 1 << 20  // larger blocks are rare: free them
	maxCachedPer    = 64       // blocks kept per size
	maxCachedTotal  = 32 << 20 // bytes kept in all
	mallocHeaderLen = 8
)

// blockCache protects the freed large blocks, by their size.
var blockCache struct {
	sync.Mutex
	free  map[int64][]uintptr
	bytes int64
}

func memMalloc(tls *libc.TLS, n int32) uintptr {
	size := int64(n)
	if size >= largeBlock && size <= maxCachedBlock {
		blockCache.Lock()
		if list := blockCache.free[size]; len(list) > 0 {
			p := list[len(list)-1]
			blockCache.free[size] = list[:len(list)-1]
			blockCache.bytes -= size
			blockCache.Unlock()
			return p
		}
		blockCache.Unlock()
	}
	p := libc.Xmalloc(tls, uint64(size+mallocHeaderLen))
	if p == 0 {
		return 0
	}
	*(*int64)(cmem(p)) = size
	return p + mallocHeaderLen
}

func memFree(tls *libc.TLS, p uintptr) {
	size := memSizeOf(p)
	if size >= largeBlock && size <= maxCachedBlock {
		blockCache.Lock()
		if blockCache.bytes+size <= maxCachedTotal && len(blockCache.free[size]) < maxCachedPer {
			if blockCache.free == nil {
				blockCache.free = make(map[int64][]uintptr)
			}
			blockCache.free[size] = append(blockCache.free[size], p)
			blockCache.bytes += size
			blockCache.Unlock()
			return
		}
		blockCache.Unlock()
	}
	libc.Xfree(tls, p-mallocHeaderLen)
}

func memRealloc(tls *libc.TLS, p uintptr, n int32) uintptr {
	q := libc.Xrealloc(tls, p-mallocHeaderLen, uint64(int64(n)+mallocHeaderLen))
	if q == 0 {
		return 0
	}
	*(*int64)(cmem(q)) = int64(n)
	return q + mallocHeaderLen
}

func memSize(tls *libc.TLS, p uintptr) int32 { return int32(memSizeOf(p)) }

func memSizeOf(p uintptr) int64 { return *(*int64)(cmem(p - mallocHeaderLen)) }

func memRoundup(tls *libc.TLS, n int32) int32 { return (n + 7) &^ 7 }

func memInit(tls *libc.TLS, _ uintptr) int32 { return lib.SQLITE_OK }

func memShutdown(tls *libc.TLS, _ uintptr) {}

// cmem returns a pointer to C memory at address p: memory from modernc's
// allocator, outside Go's heap, which the garbage collector neither moves
// nor frees.
func cmem(p uintptr) unsafe.Pointer { return unsafe.Add(unsafe.Pointer(nil), p) }

// cFunc returns the C function pointer modernc's code calls f through, as
// its generated code makes them (__ccgo_fp): the data word of f boxed in an
// interface, which for a func value is its static closure.
func cFunc(f any) uintptr {
	type iface [2]uintptr
	return (*iface)(unsafe.Pointer(&f))[1]
}

// installMalloc installs the memory methods; like every sqlite3_config call
// it must run before SQLite initializes. It returns SQLite's result code.
func installMalloc(tls *libc.TLS) int32 {
	m := libc.Xmalloc(tls, uint64(unsafe.Sizeof(lib.Tsqlite3_mem_methods{}))) // SQLite copies it, but keep it out of Go's heap
	if m == 0 {
		return lib.SQLITE_NOMEM
	}
	*(*lib.Tsqlite3_mem_methods)(cmem(m)) = lib.Tsqlite3_mem_methods{
		FxMalloc:   cFunc(memMalloc),
		FxFree:     cFunc(memFree),
		FxRealloc:  cFunc(memRealloc),
		FxSize:     cFunc(memSize),
		FxRoundup:  cFunc(memRoundup),
		FxInit:     cFunc(memInit),
		FxShutdown: cFunc(memShutdown),
	}
	va := libc.NewVaList(m)
	defer libc.Xfree(tls, va)
	return lib.Xsqlite3_config(tls, lib.SQLITE_CONFIG_MALLOC, va)
}
