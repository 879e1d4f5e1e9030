package pitr

import "sync"

// walWindow is a stretch of the WAL read with one system call, so that an
// archive reads each frame once: the scan that finds new transactions
// checks their checksums in it, and the encoder takes their pages from it.
// Read frame by frame, a 4 MiB WAL cost a thousand reads at every
// checkpoint, then was read again in one piece into fresh memory.
type walWindow struct {
	f   *walFile
	off int64  // where buf starts in the WAL
	buf []byte // from windowPool
}

// windowPool recycles windows' memory among objects: a window is held only
// while its object archives or looks something up.
var windowPool sync.Pool // of *[]byte

// readWindow reads the WAL from off up to end, or to the file's end if it
// is shorter. It returns nil if there is nothing to read or the read fails;
// reads then go to the file.
func readWindow(f *walFile, off, end int64) *walWindow {
	if f == nil || end <= off {
		return nil
	}
	n := int(end - off)
	var buf []byte
	if p, _ := windowPool.Get().(*[]byte); p != nil && cap(*p) >= n {
		buf = (*p)[:n]
	} else {
		buf = make([]byte, n, max(n, 64<<10))
	}
	got, _ := f.ReadAt(buf, off)
	if got <= 0 {
		windowPool.Put(&buf)
		return nil
	}
	return &walWindow{f: f, off: off, buf: buf[:got]}
}

// release gives the window's memory back; slices of it must not be used
// after. A nil window does nothing.
func (w *walWindow) release() {
	if w != nil {
		windowPool.Put(&w.buf)
	}
}

// view returns the n bytes at off if the window holds them all, else nil.
func (w *walWindow) view(off int64, n int) []byte {
	if w == nil || off < w.off || off+int64(n) > w.off+int64(len(w.buf)) {
		return nil
	}
	return w.buf[off-w.off : off-w.off+int64(n)]
}

// ReadAt reads from the window if it holds p's range, else from the file.
func (w *walWindow) ReadAt(p []byte, off int64) (int, error) {
	if v := w.view(off, len(p)); v != nil {
		return copy(p, v), nil
	}
	return w.f.ReadAt(p, off)
}
