package pitr

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/den-run/den"
)

// WriteImage writes the database as it was at bm into dst, from offset 0, as
// a standalone SQLite file (rollback journal mode, no WAL). The state must
// be archived: call Archive first if Check says it is still in the WAL.
func (l *Log) WriteImage(bm den.Bookmark, dst *os.File) error {
	t, archived, err := l.find(bm)
	if err != nil {
		return err
	}
	if !archived {
		return den.Errorf(den.EINTERNAL, "history: bookmark %s is not archived yet", bm)
	}
	base, _ := l.baseFor(t.txid)
	snap, err := openFile(filepath.Join(l.dir, snapName(base)), os.O_RDONLY, 0)
	if err != nil {
		return den.Errorf(den.EINTERNAL, "history: open snapshot: %w", err)
	}
	defer snap.Close()
	if err := dst.Truncate(0); err != nil {
		return den.Errorf(den.EINTERNAL, "history: image: %w", err)
	}
	if _, err := io.Copy(io.NewOffsetWriter(dst, 0), snap); err != nil {
		return den.Errorf(den.EINTERNAL, "history: copy snapshot: %w", err)
	}
	pages := l.baseInfo[base].dbPages
	if t.txid > base {
		if pages, err = l.replay(base, t.txid, dst); err != nil {
			return err
		}
	}
	if err := dst.Truncate(int64(pages) * int64(l.pageSize)); err != nil {
		return den.Errorf(den.EINTERNAL, "history: image: %w", err)
	}
	// Bytes 18 and 19 of the header, the read and write versions, are 2
	// in WAL mode and 1 with a rollback journal: the image must open
	// without a WAL.
	if pages > 0 {
		if _, err := dst.WriteAt([]byte{1, 1}, 18); err != nil {
			return den.Errorf(den.EINTERNAL, "history: image: %w", err)
		}
	}
	return nil
}

// replay writes the pages of the log after snapshot base, up to and
// including transaction txid, into dst, and returns the database's size in
// pages after txid.
func (l *Log) replay(base, txid uint64, dst *os.File) (uint32, error) {
	f, err := openFile(filepath.Join(l.dir, logName(base)), os.O_RDONLY, 0)
	if err != nil {
		return 0, den.Errorf(den.EINTERNAL, "history: open log: %w", err)
	}
	defer f.Close()
	recs, err := l.records(base)
	if err != nil {
		return 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, den.Errorf(den.EINTERNAL, "history: %w", err)
	}
	page := make([]byte, l.pageSize)
	for _, r := range recs {
		if r.txid > txid {
			break
		}
		rec, frames, err := readRecord(f, r.off, fi.Size(), l.pageSize, true)
		if err != nil {
			return 0, den.Errorf(den.EINTERNAL, "history: transaction %d: %w", r.txid, err)
		}
		if err := l.applyRecord(rec, frames, dst, page); err != nil {
			return 0, den.Errorf(den.EINTERNAL, "history: transaction %d: %w", r.txid, err)
		}
		if rec.txid == txid {
			return rec.dbPages, nil
		}
	}
	return 0, den.Errorf(den.EINTERNAL, "history: transaction %d is missing from its log", txid)
}

// applyRecord writes the pages of record rec, whose frames are frames, into
// dst. page is scratch space of a page.
func (l *Log) applyRecord(rec txRecord, frames []byte, dst pageFile, page []byte) error {
	return applyRecord(rec, frames, dst, page)
}

// pageFile is an image being built.
type pageFile interface {
	io.ReaderAt
	io.WriterAt
}

// applyRecord writes the pages of rec into dst; page is scratch space of
// the log's page size.
func applyRecord(rec txRecord, frames []byte, dst pageFile, page []byte) error {
	ps := int64(len(page))
	if !rec.compact {
		for i := 0; i < rec.frames; i++ {
			fr := frames[int64(i)*(4+ps):]
			pgno := int64(binary.BigEndian.Uint32(fr))
			if _, err := dst.WriteAt(fr[4:4+ps], (pgno-1)*ps); err != nil {
				return fmt.Errorf("image: %w", err)
			}
		}
		return nil
	}
	for i := 0; i < rec.frames; i++ {
		if len(frames) < deltaFrameHeader {
			return errBadDelta
		}
		pgno := int64(binary.BigEndian.Uint32(frames))
		kind := frames[4]
		crc := binary.LittleEndian.Uint32(frames[5:])
		n := int(binary.LittleEndian.Uint32(frames[9:]))
		if pgno == 0 || n > len(frames)-deltaFrameHeader {
			return errBadDelta
		}
		enc := frames[deltaFrameHeader : deltaFrameHeader+n]
		frames = frames[deltaFrameHeader+n:]
		switch kind {
		case kindZero:
			clear(page)
		case kindPrev:
			// A page past the image's end reads as zeros.
			if m, err := dst.ReadAt(page, (pgno-1)*ps); err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("image: %w", err)
			} else {
				clear(page[m:])
			}
			if crc32c(page) != crc {
				return fmt.Errorf("page %d: the page the history holds before it is not the one its delta was made against", pgno)
			}
		default:
			return errBadDelta
		}
		if err := applyDelta(page, enc); err != nil {
			return fmt.Errorf("page %d: %w", pgno, err)
		}
		if _, err := dst.WriteAt(page, (pgno-1)*ps); err != nil {
			return fmt.Errorf("image: %w", err)
		}
	}
	if len(frames) != 0 {
		return errBadDelta
	}
	return nil
}

// PendingRestore returns the path of a database staged to replace the
// object's, or "" if there is none.
func (l *Log) PendingRestore() string {
	p := filepath.Join(l.dir, RestoreFile)
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// Stage stages a database to replace the object's at its next open: build
// writes it into a new file in the history's directory; Stage then makes it
// durable and renames it into place, replacing any restore staged before.
// A crash leaves either the earlier staged restore (or none) or this one.
func (l *Log) Stage(build func(f *os.File) error) error {
	if err := l.a.mkdirs(l.dir); err != nil {
		return den.Errorf(den.EINTERNAL, "stage restore: %w", err)
	}
	final := filepath.Join(l.dir, RestoreFile)
	tmp := final + ".tmp"
	f, err := openFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return den.Errorf(den.EINTERNAL, "stage restore: %w", err)
	}
	err = build(f)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = den.Errorf(den.EINTERNAL, "stage restore: %w", cerr)
	}
	if err == nil {
		if err = l.a.syncFile(tmp); err == nil {
			if err = os.Rename(tmp, final); err == nil {
				err = l.a.syncFile(l.dir)
			}
		}
		if err != nil {
			err = den.Errorf(den.EINTERNAL, "stage restore: %w", err)
		}
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// Unstage removes the staged restore once it is applied (and durable), or
// to cancel it.
func (l *Log) Unstage() error {
	err := os.Remove(filepath.Join(l.dir, RestoreFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("history: remove staged restore: %w", err)
	}
	if err == nil {
		return l.a.syncFile(l.dir)
	}
	return nil
}

// TempFile returns a new unlinked file beside the database (on the same
// filesystem), for building an image.
func (l *Log) TempFile() (*os.File, error) {
	f, err := os.CreateTemp(filepath.Dir(l.db), ".image-*.tmp")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	return f, nil
}
