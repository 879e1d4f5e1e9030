package sqlite

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// reserveArenas reserves n bytes of address space, inaccessible and
// backed by nothing until commitArena, and returns its start, or 0.
func reserveArenas(n uintptr) uintptr {
	b, err := unix.Mmap(-1, 0, int(n), unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return 0
	}
	return uintptr(unsafe.Pointer(unsafe.SliceData(b)))
}

// commitArena makes the arena at p readable and writable; its pages are
// faulted in as they are first touched.
func commitArena(p uintptr) bool {
	return unix.Mprotect(unsafe.Slice((*byte)(cmem(p)), arenaSize), unix.PROT_READ|unix.PROT_WRITE) == nil
}

// discardPages gives n bytes of pages at p back to the kernel; the range
// stays mapped and reads as zeros.
func discardPages(p, n uintptr) {
	unix.Madvise(unsafe.Slice((*byte)(cmem(p)), n), unix.MADV_DONTNEED)
}
