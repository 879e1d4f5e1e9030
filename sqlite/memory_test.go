package sqlite

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/den-run/den"

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
// size rather than send it back to the kernel: a large block in steady use
// (the buffer that reads a WAL back) is then reused, even when the lists
// were filled with other sizes before. (Blocks up to arenaMax come from
// arenas, which keep their own free lists.)
func TestFullFreeListsMakeRoom(t *testing.T) {
	tls := libc.NewTLS()
	defer tls.Close()
	const (
		other = 100 << 10 // fills the lists
		page  = 72 << 10  // the size in steady use
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
		t.Fatal("a freed block went back to the kernel: the full free lists kept only other sizes")
	}
	if q := lib.Xsqlite3_malloc(tls, page); q != p {
		t.Errorf("the kept block was not reused: got %#x, want %#x", q, p)
	} else {
		lib.Xsqlite3_free(tls, q)
	}
}

// A live object's database holds little of SQLite's memory: its page
// cache entries (a 4 KiB page and SQLite's header, about 4.3 KB), its
// WAL-index page (32 KiB) and its lookaside buffer (14,400 bytes) take
// blocks of their own size, not the next power of two or a page more
// (8 KiB, 36 KiB, 16 KiB), which made a live object hold ~100 KB.
func TestLiveDatabaseMemory(t *testing.T) {
	const n = 32
	s := NewStore(t.TempDir())
	ctx := context.Background()
	ids := make([]den.ID, n)
	for i := range ids {
		ids[i] = den.Key{1}.IDFromName(fmt.Sprint("object-", i))
		db, err := s.Open(ctx, "Counter", ids[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Put("k", []byte("v")); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	before := memoryInUse()
	for _, id := range ids {
		db, err := s.Open(ctx, "Counter", id)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, ok, err := db.Get("k"); err != nil || !ok {
			t.Fatal(ok, err)
		}
	}
	per := (memoryInUse() - before) / n
	t.Logf("SQLite memory per live database: %d bytes", per)
	if per > 84<<10 {
		t.Errorf("a live database holds %d bytes of SQLite's memory, want at most %d", per, 84<<10)
	}
}

// memoryInUse returns the bytes of the blocks SQLite holds.
func memoryInUse() int64 {
	fb := &freeBlocks
	fb.Lock()
	defer fb.Unlock()
	return fb.inUse
}
