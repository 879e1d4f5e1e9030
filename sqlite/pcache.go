package sqlite

import (
	_ "unsafe" // go:linkname

	"modernc.org/libc"
	lib "modernc.org/sqlite/lib"
)

// pcache1 is SQLite's page-cache module state (pcache1 in pcache1.c).
//
//go:linkname pcache1 modernc.org/sqlite/lib._pcache1_g
var pcache1 lib.TPCacheGlobal

// separatePageCaches gives each connection's page cache a group of its own,
// as SQLite does by default in a thread-safe build. The modernc build
// defines SQLITE_ENABLE_MEMORY_MANAGEMENT, which puts every page cache of
// the process in one group behind one mutex (SQLITE_MUTEX_STATIC_LRU), so
// that sqlite3_release_memory can take pages from any connection; Den never
// calls it, and with many objects activating at once that mutex was where
// their goroutines queued (about a dozen waiting at any moment while
// 10,000 alarms were delivered). Each of Den's connections is used by one
// goroutine at a time, which is what a separate group (no mutex) needs.
//
// It must run after SQLite initializes (pcache1Init clears the flag) and
// before any connection opens (a cache keeps the group it was created
// with, so the switch is safe, but only caches created after it gain).
func separatePageCaches() int32 {
	tls := libc.NewTLS()
	defer tls.Close()
	if rc := lib.Xsqlite3_initialize(tls); rc != lib.SQLITE_OK {
		return rc
	}
	pcache1.FseparateCache = 1
	return lib.SQLITE_OK
}
