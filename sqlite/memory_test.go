package sqlite

import (
	"testing"

	"modernc.org/libc"
	lib "modernc.org/sqlite/lib"
)

func TestMemoryConfigured(t *testing.T) {
	if configPagecache != lib.SQLITE_OK || configLookaside != lib.SQLITE_OK {
		t.Fatalf("sqlite3_config: pagecache %d, lookaside %d, want SQLITE_OK: SQLite was initialized before the sqlite package's init", configPagecache, configLookaside)
	}
}

// A page-sized allocation, as SQLite makes for an ephemeral table's pages,
// is served from a pinned page, so freeing it unmaps nothing.
func TestPageSizedAllocationsUsePinnedSlabs(t *testing.T) {
	tls := libc.NewTLS()
	defer tls.Close()
	for _, size := range []uint64{64, 1200, 4096 + 200, 16 << 10} {
		p := libc.Xmalloc(tls, size)
		if p == 0 {
			t.Fatal("malloc failed")
		}
		if !pinnedPages[p&^(1<<16-1)] {
			t.Errorf("malloc(%d) came from a page that is not pinned", size)
		}
		libc.Xfree(tls, p)
	}
}
