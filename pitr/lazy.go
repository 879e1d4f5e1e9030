package pitr

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// An object's first pair is written lazily: no fsync, no temporary files,
// no directory syncs. Most objects are small and short-lived in memory, and
// the durable protocol (snapshot sync, log sync, rename, a sync of each new
// directory) cost about eight fsyncs per new object, more than all of its
// writes.
//
// Nothing is lost by it. Until the database file changes, the first pair
// can be rebuilt exactly from what is durable anyway: its snapshot is the
// database file as it is, and its transactions are in the WAL, kept at
// close; a history that lost the pair starts again from them with the same
// transaction numbers (the rebase is numbered after the empty history, and
// the WAL's transactions after it) and the same commit checksums, so every
// bookmark handed out stays valid. The database file changes only at a
// checkpoint, and every checkpoint archives durably first: that archive
// makes a lazy pair durable (makeDurable) before anything else.
//
// What a crash can leave of a lazy pair is checked at the next Attach
// (checkLazy): the log's header records the snapshot's size and CRC-32C;
// a pair whose header or snapshot did not come through is removed and the
// history starts again, as if it had never been written.

// writeLazyPair is writePair without syncs for the first pair of a history.
func (l *Log) writeLazyPair(base txInfo, size int64) error {
	if err := l.a.mkdirsSync(l.dir, false); err != nil {
		return err
	}
	snap := filepath.Join(l.dir, snapName(base.txid))
	crc, err := copyFile(l.db, snap, size)
	if err != nil {
		return err
	}
	logPath := filepath.Join(l.dir, logName(base.txid))
	hdr := logHeader{pageSize: l.pageSize, base: base, lazy: true, snapSize: size, snapCRC: crc}
	f, err := openFile(logPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err == nil {
		if _, err = f.Write(hdr.encode()); err != nil {
			f.Close()
		}
	}
	if err != nil {
		os.Remove(logPath)
		os.Remove(snap)
		return err
	}
	l.useLog(f, base)
	l.lazy = true
	l.a.intact(l.dir, base.txid, hdr)
	return nil
}

// makeDurable makes the lazy first pair durable: its snapshot, its log
// (with the lazy flag cleared) and every directory from the object's up to
// the archive's root, which writeLazyPair may have created.
func (l *Log) makeDurable() error {
	base := l.bases[len(l.bases)-1]
	if err := l.openCur(); err != nil {
		return err
	}
	if err := l.a.syncFile(filepath.Join(l.dir, snapName(base))); err != nil {
		return fmt.Errorf("history: sync snapshot: %w", err)
	}
	if _, err := l.cur.WriteAt([]byte{0}, lazyOffset); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if err := l.a.syncFile(l.cur.Name()); err != nil {
		return fmt.Errorf("history: sync: %w", err)
	}
	// The object's directory up to the archive's root, and the root's
	// parent, which holds the root's own entry.
	for d := l.dir; ; d = filepath.Dir(d) {
		if err := l.a.syncFile(d); err != nil {
			return fmt.Errorf("history: sync directory: %w", err)
		}
		if len(d) < len(l.a.dir) || d == filepath.Dir(d) {
			break
		}
	}
	l.lazy = false
	l.a.forgetIntact(l.dir)
	return nil
}

// A crash of the process alone leaves a lazy pair whole (the kernel keeps
// its pages): only a crash of the machine can tear it. The Archive
// remembers the lazy pairs this process wrote or checked, so an object's
// next activations do not read its snapshot again; a restart after a
// machine crash starts with an empty memory and checks each once.
type intactPairs struct {
	mu    sync.Mutex
	pairs map[string]intactPair // by the object's history directory
}

type intactPair struct {
	base uint64
	crc  uint32
}

// maxIntact bounds the memory (~100 bytes a pair): past it, pairs are
// checked by reading.
const maxIntact = 1 << 20

func (a *Archive) intact(dir string, base uint64, h logHeader) {
	a.lazy.mu.Lock()
	defer a.lazy.mu.Unlock()
	if a.lazy.pairs == nil {
		a.lazy.pairs = map[string]intactPair{}
	}
	if len(a.lazy.pairs) < maxIntact {
		a.lazy.pairs[dir] = intactPair{base, h.snapCRC}
	}
}

func (a *Archive) isIntact(dir string, base uint64, h logHeader) bool {
	a.lazy.mu.Lock()
	defer a.lazy.mu.Unlock()
	p, ok := a.lazy.pairs[dir]
	return ok && p == intactPair{base, h.snapCRC}
}

// forgetIntact forgets the object's pair: made durable, or deleted.
func (a *Archive) forgetIntact(dir string) {
	a.lazy.mu.Lock()
	defer a.lazy.mu.Unlock()
	delete(a.lazy.pairs, dir)
}

// checkLazy reports whether the lazy pair of base, whose log header is h,
// came through whole; if it did not, it removes the pair.
func (l *Log) checkLazy(base uint64, h logHeader) (bool, error) {
	snap := filepath.Join(l.dir, snapName(base))
	if l.a.isIntact(l.dir, base, h) {
		return true, nil
	}
	ok := h.pageSize != 0 && snapshotIs(snap, h.snapSize, h.snapCRC)
	if ok {
		l.a.intact(l.dir, base, h)
		return true, nil
	}
	for _, p := range []string{snap, filepath.Join(l.dir, logName(base))} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("history: remove torn first pair: %w", err)
		}
	}
	return false, nil
}

// unwritten reports whether the file at path holds nothing a writer put
// there: empty, or zeros (what a crash leaves of a file never synced).
func unwritten(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil || len(b) > 1<<20 {
		return false
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// snapshotIs reports whether the file at path has size bytes with CRC-32C crc.
// After a restart every object's first open checks its first snapshot, so
// it reads with plain system calls into pooled memory.
func snapshotIs(path string, size int64, crc uint32) bool {
	fd, err := openRaw(path, unix.O_RDONLY, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Size != size {
		return false
	}
	p := copyBuffer()
	defer windowPool.Put(p)
	buf := (*p)[:cap(*p)]
	sum := uint32(0)
	for off := int64(0); off < size; {
		n, err := unix.Pread(fd, buf[:min(int64(len(buf)), size-off)], off)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return false
		}
		sum = crc32.Update(sum, castagnoli, buf[:n])
		off += int64(n)
	}
	return sum == crc
}

// copyBuffer returns pooled memory of at least 64 KiB for copying or
// checking a file; put it back in windowPool.
func copyBuffer() *[]byte {
	p, _ := windowPool.Get().(*[]byte)
	if p == nil || cap(*p) < 64<<10 {
		b := make([]byte, 256<<10)
		p = &b
	}
	return p
}

// copyFile copies the first size bytes of src to dst, without syncing, and
// returns their CRC-32C.
func copyFile(src, dst string, size int64) (crc uint32, err error) {
	in, err := openRaw(src, unix.O_RDONLY, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(in)
	out, err := openRaw(dst, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	defer func() {
		if cerr := unix.Close(out); err == nil && cerr != nil {
			err = &os.PathError{Op: "close", Path: dst, Err: cerr}
		}
		if err != nil {
			os.Remove(dst)
		}
	}()
	p := copyBuffer()
	defer windowPool.Put(p)
	buf := (*p)[:cap(*p)]
	for off := int64(0); off < size; {
		n, err := unix.Pread(in, buf[:min(int64(len(buf)), size-off)], off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, &os.PathError{Op: "read", Path: src, Err: err}
		}
		if n == 0 {
			break // the file is shorter: copy what there is, as before
		}
		crc = crc32.Update(crc, castagnoli, buf[:n])
		for w := 0; w < n; {
			m, err := unix.Pwrite(out, buf[w:n], off+int64(w))
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return 0, &os.PathError{Op: "write", Path: dst, Err: err}
			}
			w += m
		}
		off += int64(n)
	}
	return crc, nil
}

// openRaw opens path with plain system calls: an os.File costs a poller
// registration and a finalizer, several times the open itself here.
func openRaw(path string, flags int, mode uint32) (int, error) {
	for {
		fd, err := unix.Open(path, flags|unix.O_CLOEXEC, mode)
		if err != unix.EINTR {
			if err != nil {
				return -1, &os.PathError{Op: "open", Path: path, Err: err}
			}
			return fd, nil
		}
	}
}

// openFile is os.OpenFile for the regular files the history reads and
// writes, without the poller: os.OpenFile spends four fcntl calls and an
// epoll_ctl learning that a regular file cannot be polled, where
// os.NewFile spends one fcntl.
func openFile(path string, flags int, mode uint32) (*os.File, error) {
	fd, err := openRaw(path, flags, mode)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), path), nil
}
