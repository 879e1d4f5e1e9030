package sqlite

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"unsafe"

	"modernc.org/libc"
	lib "modernc.org/sqlite/lib"
)

// SQLite's memory methods, installed with SQLITE_CONFIG_MALLOC. Requests up
// to arenaMax come from Den's arenas (arena.go). Larger ones, and all of
// them if the arenas' address range could not be reserved: blocks from
// modernc's allocator with an 8-byte size header, as its defaults, kept on
// free lists when freed instead of going back. modernc's allocator unmaps a
// 64 KiB slab page the moment its last slot is freed and maps every block
// over 16 KiB on its own, so each object activation and eviction, and each
// turn that builds an ephemeral table, paid mmaps and munmaps — munmap shoots
// the mapping down on every core, and a fresh mapping faults on first touch.
// Blocks are sized to modernc's own slots (powers of two up to 16 KiB, then
// whole 4 KiB pages), so rounding them up wastes nothing modernc would not,
// and any freed block serves a later request of its class. The free lists
// hold at most maxCached bytes; past that, blocks go back to modernc.

const (
	headerLen  = 8        // the size header before each block
	slabMax    = 16 << 10 // the largest slot modernc carves from its pages
	osPage     = 4 << 10
	maxCached  = 64 << 20 // bytes kept on the free lists in all
	slabLogMin = 4        // 16-byte slots
	slabLogMax = 14       // 16 KiB slots
)

// freeBlocks protects the free lists: slab-sized blocks by size class, and
// larger blocks by size; the arenas (arena.go); and the blocks held back
// from either (see holdBlock).
var freeBlocks freeList

type freeList struct {
	sync.Mutex
	slab  [slabLogMax + 1][]uintptr
	large map[int64][]uintptr
	bytes int64
	held  map[uintptr]bool // block → it was freed while held
	inUse int64            // bytes of the blocks SQLite holds, headers included
}

// afterFree, if set, is called with every block memFree was given, after it
// returned the block (or held it back). Tests use it to act at the moment
// SQLite frees something.
var afterFree atomic.Pointer[func(p uintptr)]

// blockSize returns the size of the block (header included) that serves a
// request of n bytes, and its slab class (0 for a large block).
func blockSize(n int64) (size int64, log int) {
	total := n + headerLen
	if total <= slabMax {
		log = max(bits.Len64(uint64(total-1)), slabLogMin)
		return 1 << log, log
	}
	return (total + osPage - 1) &^ (osPage - 1), 0
}

func memMalloc(tls *libc.TLS, n int32) uintptr {
	fb := &freeBlocks
	if c := arenaClass(int64(n)); c > 0 && arenas.base != 0 {
		fb.Lock()
		if p := arenas.alloc(c); p != 0 {
			fb.inUse += classSize(c)
			fb.Unlock()
			return p
		}
		fb.Unlock() // the arenas' range is used up: modernc's block below
	}
	size, log := blockSize(int64(n))
	fb.Lock()
	var p uintptr
	if log > 0 {
		if l := fb.slab[log]; len(l) > 0 {
			p, fb.slab[log] = l[len(l)-1], l[:len(l)-1]
		}
	} else if l := fb.large[size]; len(l) > 0 {
		p, fb.large[size] = l[len(l)-1], l[:len(l)-1]
	}
	fb.inUse += size
	if p != 0 {
		fb.bytes -= size
		fb.Unlock()
		return p + headerLen
	}
	fb.Unlock()
	p = libc.Xmalloc(tls, uint64(size))
	if p == 0 {
		fb.Lock()
		fb.inUse -= size
		fb.Unlock()
		return 0
	}
	*(*int64)(cmem(p)) = size - headerLen // usable bytes: SQLite may use them all
	return p + headerLen
}

func memFree(tls *libc.TLS, p uintptr) {
	fb := &freeBlocks
	fb.Lock()
	fb.inUse -= blockBytes(p)
	if freed, ok := fb.held[p]; ok && !freed {
		fb.held[p] = true // holdBlock's caller gives it back
		fb.Unlock()
	} else {
		release(tls, p) // unlocks fb
	}
	if f := afterFree.Load(); f != nil {
		(*f)(p)
	}
}

// release puts block p on the free lists, or gives it back to modernc if
// they are full. It is called with freeBlocks locked, and unlocks it.
//
// Full lists make room, rather than turn blocks away, if another list holds
// more bytes than p's: a list that grew large holds blocks of a size nobody
// asked for since, while p's size is in use. Turned away, a size in steady
// use (an activation's WAL-index page after an eviction's) would be mapped
// and faulted in on every allocation, and unmapped on every free, for as
// long as the lists stay full of blocks of other sizes.
func release(tls *libc.TLS, p uintptr) {
	if arenas.owns(p) {
		releaseArena(p)
		return
	}
	size := memSizeOf(p) + headerLen
	_, log := blockSize(size - headerLen)
	fb := &freeBlocks
	var evicted []uintptr
	if fb.bytes+size > maxCached {
		evicted = fb.makeRoom(size, log)
	}
	if fb.bytes+size <= maxCached {
		if log > 0 {
			fb.slab[log] = append(fb.slab[log], p-headerLen)
		} else {
			if fb.large == nil {
				fb.large = make(map[int64][]uintptr)
			}
			fb.large[size] = append(fb.large[size], p-headerLen)
		}
		fb.bytes += size
	} else {
		evicted = append(evicted, p-headerLen)
	}
	fb.Unlock()
	if len(evicted) == 0 {
		return
	}
	if tls == nil {
		tls = libc.NewTLS()
		defer tls.Close()
	}
	for _, b := range evicted {
		libc.Xfree(tls, b)
	}
}

// releaseArena puts arena block p on its class's free list, giving its
// pages back first if the free blocks hold arenaKeep bytes. It is called
// with freeBlocks locked, and unlocks it.
func releaseArena(p uintptr) {
	fb, c := &freeBlocks, arenas.classOf(p)
	if arenas.put(p, c) {
		fb.Unlock()
		return
	}
	fb.Unlock()
	discard(p, c) // p is on no list: nobody else can reach it
	fb.Lock()
	arenas.putCold(p, c)
	fb.Unlock()
}

// makeRoom takes blocks off the list that holds the most bytes, unless it
// is the list of the block being freed (of size and slab class log), until
// an eighth of maxCached is free, and returns them. Called with
// freeBlocks locked.
func (fb *freeList) makeRoom(size int64, log int) []uintptr {
	most, fullLog, fullSize := int64(0), 0, int64(0) // the fullest list: a slab class, or a large size
	for l := slabLogMin; l <= slabLogMax; l++ {
		if b := int64(len(fb.slab[l])) << l; b > most {
			most, fullLog, fullSize = b, l, 1<<l
		}
	}
	for sz, l := range fb.large {
		if b := int64(len(l)) * sz; b > most {
			most, fullLog, fullSize = b, 0, sz
		}
	}
	if most == 0 || fullLog == log && fullSize == size {
		return nil // nothing cached, or p's own list is the fullest: p goes back instead
	}
	list := fb.large[fullSize]
	if fullLog > 0 {
		list = fb.slab[fullLog]
	}
	var out []uintptr
	for len(list) > 0 && fb.bytes+size > maxCached-maxCached/8 {
		out = append(out, list[len(list)-1])
		list = list[:len(list)-1]
		fb.bytes -= fullSize
	}
	if fullLog > 0 {
		fb.slab[fullLog] = list
	} else {
		fb.large[fullSize] = list
	}
	return out
}

// holdBlock keeps block p, a live allocation, from being reused once SQLite
// frees it, until unholdBlock(p): memFree then sets it aside instead of
// putting it on a free list, so no allocation can return its address
// meanwhile. A block is held at most once at a time.
func holdBlock(p uintptr) {
	fb := &freeBlocks
	fb.Lock()
	if fb.held == nil {
		fb.held = make(map[uintptr]bool)
	}
	fb.held[p] = false
	fb.Unlock()
}

// unholdBlock ends holdBlock(p). If SQLite freed p meanwhile, it is
// released now; otherwise p stays SQLite's.
func unholdBlock(p uintptr) {
	fb := &freeBlocks
	fb.Lock()
	freed := fb.held[p]
	delete(fb.held, p)
	if !freed {
		fb.Unlock()
		return
	}
	release(nil, p) // unlocks fb
}

func memRealloc(tls *libc.TLS, p uintptr, n int32) uintptr {
	old := memSizeOf(p)
	if int64(n) <= old {
		return p // the block has room (SQLite never shrinks much)
	}
	q := memMalloc(tls, n)
	if q == 0 {
		return 0
	}
	libc.Xmemcpy(tls, q, p, uint64(old))
	memFree(tls, p)
	return q
}

func memSize(tls *libc.TLS, p uintptr) int32 { return int32(memSizeOf(p)) }

// memSizeOf returns the usable bytes of block p.
func memSizeOf(p uintptr) int64 {
	if arenas.owns(p) {
		return classSize(arenas.classOf(p))
	}
	return *(*int64)(cmem(p - headerLen))
}

// blockBytes returns the bytes block p takes, its header included.
func blockBytes(p uintptr) int64 {
	if arenas.owns(p) {
		return classSize(arenas.classOf(p))
	}
	return *(*int64)(cmem(p - headerLen)) + headerLen
}

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
