package sqlite

// Every block SQLite asks for, up to arenaMax bytes, comes from arenas:
// 2 MiB regions of one address range reserved at init, each carved into
// blocks of one size class — 16 bytes apart up to 1 KiB, 64 bytes apart
// above. A block's class is its arena's, so a block needs no size header
// and is its request rounded up to its class. modernc's allocator, with
// the 8-byte header Den's blocks carried there, gave an object's page-cache
// entries (a 4 KiB page and SQLite's header: 4,368 bytes), its WAL-index
// page (32 KiB), its lookaside buffer (14,400 bytes) and the buffer that
// reads a kept WAL back (36,888 bytes) the next power of two or a page
// more (8 KiB, 36 KiB, 16 KiB, 40 KiB), and a 1,026-byte request 2 KiB: a
// live object held ~100 KB of SQLite memory, now ~75 KB.
//
// Arenas never go back to the kernel. A freed block goes on its class's
// free list and serves the next request of that class while its memory is
// still mapped and faulted in: an activation after an eviction reuses the
// evicted object's blocks and pays no mmap, no page fault and no munmap
// (modernc mapped each block over 16 KiB on its own and unmapped a 64 KiB
// slab page when its last slot was freed, and the kernel zeroed and
// faulted in every fresh page). While the free blocks of all classes hold
// more than arenaKeep bytes, the pages of a freed block of a page or more
// go back to the kernel (madvise MADV_DONTNEED, which keeps the address
// range), and the block waits on a second list, used only when the first
// is empty: a burst of closes leaves the process about arenaKeep of idle
// memory (plus the smaller blocks, which stay).
//
// Everything here is guarded by freeBlocks.

const (
	arenaShift   = 21 // 2 MiB arenas
	arenaSize    = 1 << arenaShift
	arenaSmall   = 1 << 10  // classes are 16 bytes apart up to this size
	arenaGrain   = 64       // and this far apart above it
	arenaMax     = 64 << 10 // the largest request arenas serve
	arenaClasses = arenaSmall/16 + (arenaMax-arenaSmall)/arenaGrain + 1
	arenaReserve = 64 << 30 // the address range reserved for arenas
)

// arenaKeep is how many bytes of free blocks stay faulted in; a variable
// for the tests.
var arenaKeep int64 = 512 << 20

// arenaSpace is the reserved range and the state of its arenas.
type arenaSpace struct {
	base, end uintptr  // the reserved range; base is 0 if it could not be reserved
	next      uintptr  // the first arena not carved yet
	class     []uint16 // class of each arena, by (address-base)>>arenaShift

	bump  [arenaClasses]struct{ next, limit uintptr } // the uncarved rest of each class's newest arena
	hot   [arenaClasses][]uintptr                     // freed blocks still faulted in
	cold  [arenaClasses][]uintptr                     // freed blocks whose pages went back
	free  int64                                       // bytes of the blocks on hot lists
	total int64                                       // bytes of the arenas carved
}

// arenaClass returns the class of a request of n bytes, or 0 if arenas do
// not serve it.
func arenaClass(n int64) int {
	switch {
	case n <= 0 || n > arenaMax:
		return 0
	case n <= arenaSmall:
		return int((n + 15) / 16)
	default:
		return arenaSmall/16 + int((n-arenaSmall+arenaGrain-1)/arenaGrain)
	}
}

// classSize returns the size of the blocks of class c.
func classSize(c int) int64 {
	if c <= arenaSmall/16 {
		return int64(c) * 16
	}
	return arenaSmall + int64(c-arenaSmall/16)*arenaGrain
}

// owns reports whether p is a block from an arena. It needs no lock: the
// range never changes after init.
func (a *arenaSpace) owns(p uintptr) bool { return p-a.base < a.end-a.base }

// classOf returns the class of arena block p. It needs no lock: the
// entry was set, under the lock, before p was handed out.
func (a *arenaSpace) classOf(p uintptr) int { return int(a.class[(p-a.base)>>arenaShift]) }

// alloc returns a block of class c, or 0 if the reserved range is used up
// or the kernel refused memory. Called with freeBlocks locked.
func (a *arenaSpace) alloc(c int) uintptr {
	if l := a.hot[c]; len(l) > 0 {
		p := l[len(l)-1]
		a.hot[c] = l[:len(l)-1]
		a.free -= classSize(c)
		return p
	}
	if l := a.cold[c]; len(l) > 0 {
		p := l[len(l)-1]
		a.cold[c] = l[:len(l)-1]
		return p
	}
	size := uintptr(classSize(c))
	b := &a.bump[c]
	if b.next+size > b.limit {
		if a.base == 0 || a.end-a.next < arenaSize || !commitArena(a.next) {
			return 0
		}
		a.class[(a.next-a.base)>>arenaShift] = uint16(c)
		b.next, b.limit = a.next, a.next+arenaSize
		a.next += arenaSize
		a.total += arenaSize
	}
	p := b.next
	b.next += size
	return p
}

// put puts freed block p of class c back on its hot list, if the free
// blocks then hold at most arenaKeep bytes or p is smaller than a page
// (it has no whole page to give back), and reports whether it did. Called
// with freeBlocks locked.
func (a *arenaSpace) put(p uintptr, c int) bool {
	size := classSize(c)
	if start, end := wholePages(p, c); a.free+size > arenaKeep && end > start {
		return false
	}
	a.hot[c] = append(a.hot[c], p)
	a.free += size
	return true
}

// putCold puts freed block p of class c, whose pages went back to the
// kernel, on its cold list. Called with freeBlocks locked.
func (a *arenaSpace) putCold(p uintptr, c int) { a.cold[c] = append(a.cold[c], p) }

// discard gives the whole pages inside block p of class c back to the
// kernel; reading them again returns zeros. Called without the lock, on a
// block nobody else can reach.
func discard(p uintptr, c int) {
	if start, end := wholePages(p, c); end > start {
		discardPages(start, end-start)
	}
}

// wholePages returns the range of the whole pages inside block p of class
// c; it is empty (end <= start) if there are none.
func wholePages(p uintptr, c int) (start, end uintptr) {
	return (p + osPage - 1) &^ (osPage - 1), (p + uintptr(classSize(c))) &^ (osPage - 1)
}

// arenas is the process's arena space, set up by init (memory.go) before
// SQLite allocates anything.
var arenas arenaSpace

// initArenas reserves the arenas' address range; without it every block
// comes from modernc's allocator.
func initArenas() {
	base := reserveArenas(arenaReserve)
	if base == 0 {
		return
	}
	// Arenas are aligned to their size, so an address's arena is a shift.
	aligned := (base + arenaSize - 1) &^ (arenaSize - 1)
	arenas.base, arenas.next, arenas.end = aligned, aligned, base+arenaReserve
	arenas.class = make([]uint16, (arenas.end-aligned)>>arenaShift)
}
