package sqlite

import (
	"slices"
	"testing"

	"modernc.org/libc"
	lib "modernc.org/sqlite/lib"
)

func TestMemoryConfigured(t *testing.T) {
	if configMalloc != lib.SQLITE_OK || configPagecache != lib.SQLITE_OK || configLookaside != lib.SQLITE_OK {
		t.Fatalf("sqlite3_config: malloc %d, pagecache %d, lookaside %d, want SQLITE_OK: SQLite was initialized before the sqlite package's init", configMalloc, configPagecache, configLookaside)
	}
}

// Once pinSlabs has run, a page-sized allocation, as SQLite makes for an
// ephemeral table's pages, is served from a pinned page, so freeing it
// unmaps nothing. (It pins again here: what init pinned may be in use by
// the time this test runs.)
func TestPageSizedAllocationsUsePinnedSlabs(t *testing.T) {
	if len(pinnedPages) == 0 {
		t.Fatal("init pinned no slab page")
	}
	pinned := pinSlabs()
	tls := libc.NewTLS()
	defer tls.Close()
	for _, size := range []uint64{64, 1200, 4096 + 200, 16 << 10} {
		p := libc.Xmalloc(tls, size)
		if p == 0 {
			t.Fatal("malloc failed")
		}
		if !pinned[p&^(1<<16-1)] {
			t.Errorf("malloc(%d) came from a page that is not pinned", size)
		}
		libc.Xfree(tls, p)
	}
}

// A large block SQLite frees is kept and handed out again for the same
// size, instead of going back to the kernel.
func TestLargeBlocksAreReused(t *testing.T) {
	tls := libc.NewTLS()
	defer tls.Close()
	const size = 104 << 10 // the buffer that reads a WAL back
	p := lib.Xsqlite3_malloc(tls, size)
	if p == 0 {
		t.Fatal("sqlite3_malloc failed")
	}
	if got := lib.Xsqlite3_msize(tls, p); got < size {
		t.Fatalf("sqlite3_msize = %d, want at least %d", got, size)
	}
	lib.Xsqlite3_free(tls, p)
	q := lib.Xsqlite3_malloc(tls, size)
	defer lib.Xsqlite3_free(tls, q)
	if q != p {
		t.Fatalf("a freed %d-byte block was not reused: got %#x, freed %#x", size, q, p)
	}
	small := lib.Xsqlite3_malloc(tls, 100)
	big := lib.Xsqlite3_realloc(tls, small, 200<<10)
	if big == 0 || lib.Xsqlite3_msize(tls, big) < 200<<10 {
		t.Fatal("sqlite3_realloc did not grow the block")
	}
	lib.Xsqlite3_free(tls, big)
}

// Free lists full of blocks of one size make room for a block of another
// size rather than send it back to the kernel: an activation's WAL-index
// page is then reused after an eviction's, even when the lists were filled
// with other sizes before.
func TestFullFreeListsMakeRoom(t *testing.T) {
	tls := libc.NewTLS()
	defer tls.Close()
	const (
		other = 40 << 10 // fills the lists
		page  = 32 << 10 // a WAL-index page, the size in steady use
	)
	var filler []uintptr
	for range maxCached/other + 1 {
		p := lib.Xsqlite3_malloc(tls, other)
		if p == 0 {
			t.Fatal("sqlite3_malloc failed")
		}
		filler = append(filler, p)
	}
	for _, p := range filler {
		lib.Xsqlite3_free(tls, p)
	}
	fb := &freeBlocks
	fb.Lock()
	full := fb.bytes
	fb.Unlock()
	if full+other <= maxCached {
		t.Fatalf("the free lists hold %d bytes after freeing %d of %d-byte blocks; want them full (%d)", full, len(filler)*other, other, maxCached)
	}
	p := lib.Xsqlite3_malloc(tls, page)
	if p == 0 {
		t.Fatal("sqlite3_malloc failed")
	}
	lib.Xsqlite3_free(tls, p)
	size, _ := blockSize(page)
	fb.Lock()
	kept := slices.Contains(fb.large[size], p-headerLen)
	fb.Unlock()
	if !kept {
		t.Fatal("a freed WAL-index page went back to the kernel: the full free lists kept only other sizes")
	}
	if q := lib.Xsqlite3_malloc(tls, page); q != p {
		t.Errorf("the kept block was not reused: got %#x, want %#x", q, p)
	} else {
		lib.Xsqlite3_free(tls, q)
	}
}
