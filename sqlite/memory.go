package sqlite

import (
	"modernc.org/libc"
	lib "modernc.org/sqlite/lib"
)

// SQLite's memory comes from modernc's allocator, which carves 64 KiB pages
// mapped from the kernel into slots of one size class (16 B to 16 KiB) and
// unmaps a page as soon as its last slot is freed. A turn that allocates a
// few page-sized buffers and frees them (an ephemeral table for RETURNING, a
// statement journal, an object's page cache on activation) can therefore
// cost an mmap and several munmaps, and munmap is slow: it must shoot down
// the mapping on every core. Measured here: 3 munmaps per counter turn with
// RETURNING, more than half its CPU.
//
// pinSlabs keeps a few pages of every size class mapped for the life of the
// process: it fills them, then frees every slot but the first of each page,
// so the page never empties and its free slots serve later allocations.
// It costs about 2 MiB.
func pinSlabs() map[uintptr]bool {
	const (
		minLog   = 4  // 16 B slots
		maxLog   = 14 // 16 KiB slots, the largest modernc carves from pages
		pageSize = 1 << 16
		header   = 64 // a generous bound on the page header
		keep     = 32 // free slots kept per class
	)
	tls := libc.NewTLS()
	defer tls.Close()
	pinned := make(map[uintptr]bool)
	for log := minLog; log <= maxLog; log++ {
		slot := 1 << log
		perPage := (pageSize - header) / slot
		pages := (keep + perPage - 1) / max(perPage-1, 1)
		seen := make(map[uintptr]bool)
		var free []uintptr
		for range pages * perPage {
			p := libc.Xmalloc(tls, uint64(slot))
			if p == 0 {
				break
			}
			page := p &^ (pageSize - 1)
			if seen[page] {
				free = append(free, p)
				continue
			}
			seen[page] = true // the first slot of each page pins it
			pinned[page] = true
		}
		for _, p := range free {
			libc.Xfree(tls, p)
		}
	}
	return pinned
}

// configure sets SQLite's process-wide memory options so that a connection
// needs no allocation larger than a pinned slot when it opens: no initial
// bulk allocation for the page cache (SQLITE_CONFIG_PAGECACHE with no
// buffer and no initial pages; pages are allocated one at a time, from
// pinned slabs) and a lookaside buffer under 16 KiB (12 slots of 1,200
// bytes instead of 40). It must run before SQLite initializes, which
// zombiezen does on the first OpenConn; it returns SQLite's result code.
func configure() (malloc, pagecache, lookaside int32) {
	tls := libc.NewTLS()
	defer tls.Close()
	malloc = installMalloc(tls)
	va := libc.NewVaList(uintptr(0), int32(0), int32(0))
	pagecache = lib.Xsqlite3_config(tls, lib.SQLITE_CONFIG_PAGECACHE, va)
	libc.Xfree(tls, va)
	va = libc.NewVaList(int32(1200), int32(12))
	lookaside = lib.Xsqlite3_config(tls, lib.SQLITE_CONFIG_LOOKASIDE, va)
	libc.Xfree(tls, va)
	return malloc, pagecache, lookaside
}

// What init did, for the tests.
var (
	configMalloc, configPagecache, configLookaside int32
	configPcache                                   int32
	pinnedPages                                    map[uintptr]bool
)

func init() {
	initArenas()
	configMalloc, configPagecache, configLookaside = configure()
	configPcache = separatePageCaches()
	pinnedPages = pinSlabs()
}
