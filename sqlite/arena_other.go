//go:build !linux

package sqlite

// Arenas are Linux-only; elsewhere every block comes from modernc's
// allocator.

func reserveArenas(n uintptr) uintptr { return 0 }

func commitArena(p uintptr) bool { return false }

func discardPages(p, n uintptr) {}
