package sqlite

import (
	"testing"
	"unsafe"

	"modernc.org/libc"
	lib "modernc.org/sqlite/lib"
)

// Page-cache entries, the WAL-index page, the lookaside buffer and small
// blocks get blocks of their own size (to 16 or 64 bytes) from the arenas,
// with no header, and a freed block serves the next request of its class.
func TestArenaBlocksFitTheirRequest(t *testing.T) {
	if arenas.base == 0 {
		t.Skip("no arenas on this system")
	}
	tls := libc.NewTLS()
	defer tls.Close()
	for _, n := range []int32{4368, 32 << 10, 14400, 36888, 2048, 1025, 64 << 10, 1, 100, 1024} {
		p := lib.Xsqlite3_malloc(tls, n)
		if p == 0 {
			t.Fatalf("sqlite3_malloc(%d) failed", n)
		}
		if !arenas.owns(p) {
			t.Errorf("sqlite3_malloc(%d) is not an arena block", n)
		}
		grain := uint64(arenaGrain)
		if n <= arenaSmall {
			grain = 16
		}
		if got := lib.Xsqlite3_msize(tls, p); got < uint64(n) || got >= uint64(n)+grain {
			t.Errorf("sqlite3_msize of a %d-byte request = %d, want [%d, %d)", n, got, n, uint64(n)+grain)
		}
		lib.Xsqlite3_free(tls, p)
		if q := lib.Xsqlite3_malloc(tls, n); q != p {
			t.Errorf("a freed %d-byte arena block was not reused: got %#x, freed %#x", n, q, p)
			lib.Xsqlite3_free(tls, q)
		} else {
			lib.Xsqlite3_free(tls, q)
		}
	}
	p := lib.Xsqlite3_malloc(tls, arenaMax+1)
	if arenas.owns(p) {
		t.Errorf("sqlite3_malloc(%d) came from an arena; arenas serve up to %d bytes", arenaMax+1, arenaMax)
	}
	lib.Xsqlite3_free(tls, p)
}

// Once the free blocks hold arenaKeep bytes, a freed block's pages go back
// to the kernel (they read as zeros), and the block still serves a later
// request.
func TestArenaGivesPagesBackPastKeep(t *testing.T) {
	if arenas.base == 0 {
		t.Skip("no arenas on this system")
	}
	fb := &freeBlocks
	fb.Lock()
	keep := arenaKeep
	arenaKeep = 0
	fb.Unlock()
	defer func() {
		fb.Lock()
		arenaKeep = keep
		fb.Unlock()
	}()
	tls := libc.NewTLS()
	defer tls.Close()
	const n = 48 << 10
	p := lib.Xsqlite3_malloc(tls, n)
	if p == 0 {
		t.Fatal("sqlite3_malloc failed")
	}
	b := unsafe.Slice((*byte)(cmem(p)), n)
	for i := range b {
		b[i] = 0xa5
	}
	lib.Xsqlite3_free(tls, p)
	page := (p + osPage - 1) &^ (osPage - 1)
	if got := *(*byte)(cmem(page)); got != 0 {
		t.Fatalf("a freed block's page holds %#x after the free blocks passed arenaKeep; want its pages given back (zeros)", got)
	}
	if q := lib.Xsqlite3_malloc(tls, n); q != p {
		t.Errorf("a block whose pages went back was not reused: got %#x, freed %#x", q, p)
		lib.Xsqlite3_free(tls, q)
	} else {
		lib.Xsqlite3_free(tls, q)
	}
}
