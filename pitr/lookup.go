package pitr

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/den-run/den"
)

// bookmark returns the bookmark of transaction t of this object.
func (l *Log) bookmark(t txInfo) den.Bookmark {
	var b [48]byte
	id := l.id.Bytes()
	copy(b[:32], id[:])
	binary.LittleEndian.PutUint64(b[32:], t.txid)
	binary.LittleEndian.PutUint64(b[40:], t.hash)
	return den.Bookmark{Time: time.Unix(0, t.time), Seq: t.txid, Check: crc32c(b[:])}
}

// Current returns the bookmark of the newest committed transaction. Call
// Committed first; the caller is responsible for the transaction being
// durable before it hands the bookmark out.
func (l *Log) Current() (den.Bookmark, error) {
	if n := len(l.pending); n > 0 {
		return l.bookmark(l.pending[n-1].txInfo), nil
	}
	if l.rebase != nil {
		return l.bookmark(*l.rebase), nil
	}
	if len(l.bases) == 0 {
		return den.Bookmark{}, den.Errorf(den.EINTERNAL, "history: not attached")
	}
	return l.bookmark(l.last), nil
}

// ForTime returns the bookmark of the last transaction committed at or
// before t, or of the oldest state kept if t is older than all of them. It
// returns an EINVALID error if t is in the future or older than the
// retention window.
func (l *Log) ForTime(t time.Time) (den.Bookmark, error) {
	now := l.a.now()
	if t.After(now) {
		return den.Bookmark{}, den.Errorf(den.EINVALID, "cannot get a bookmark for %s: it is in the future (now is %s)", t.UTC().Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339Nano))
	}
	if t.Before(now.Add(-l.ret)) {
		return den.Bookmark{}, den.Errorf(den.EINVALID, "cannot get a bookmark for %s: it is older than the retention window of %s", t.UTC().Format(time.RFC3339Nano), l.ret)
	}
	n := t.UnixNano()
	for i := len(l.pending) - 1; i >= 0; i-- {
		if l.pending[i].time <= n {
			return l.bookmark(l.pending[i].txInfo), nil
		}
	}
	if l.rebase != nil && l.rebase.time <= n {
		return l.bookmark(*l.rebase), nil
	}
	for i := len(l.bases) - 1; i >= 0; i-- {
		b := l.bases[i]
		if l.baseInfo[b].time > n {
			continue
		}
		recs, err := l.records(b)
		if err != nil {
			return den.Bookmark{}, err
		}
		for j := len(recs) - 1; j >= 0; j-- {
			if recs[j].time <= n {
				return l.bookmark(recs[j].txInfo), nil
			}
		}
		return l.bookmark(l.baseInfo[b]), nil
	}
	if len(l.bases) > 0 {
		return l.bookmark(l.baseInfo[l.bases[0]]), nil
	}
	if l.rebase != nil {
		return l.bookmark(*l.rebase), nil
	}
	return den.Bookmark{}, den.Errorf(den.EINTERNAL, "history: not attached")
}

// records returns the records of the log that follows snapshot base,
// reading the log's record headers the first time.
func (l *Log) records(base uint64) ([]txRecord, error) {
	if recs, ok := l.index[base]; ok {
		return recs, nil
	}
	f := l.cur
	size := l.curSize
	if len(l.bases) == 0 || base != l.bases[len(l.bases)-1] || f == nil {
		var err error
		if f, err = openFile(filepath.Join(l.dir, logName(base)), os.O_RDONLY, 0); err != nil {
			return nil, den.Errorf(den.EINTERNAL, "history: %w", err)
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return nil, den.Errorf(den.EINTERNAL, "history: %w", err)
		}
		size = fi.Size()
	}
	var recs []txRecord
	for off := int64(logHeaderSize); off < size; {
		rec, err := readRecordHeader(f, off, l.pageSize)
		if err != nil {
			break // a torn tail of an old log: what came before stands
		}
		recs = append(recs, rec)
		off += rec.size()
	}
	if recs == nil {
		recs = []txRecord{}
	}
	l.index[base] = recs
	return recs, nil
}

// msgNotInHistory is the message for a bookmark the history lacks.
const msgNotInHistory = "bookmark %s is not in this object's history: it was made for another object, is older than the retention window, or names a write that was never made durable"

// find returns the transaction bm names, checking that the bookmark belongs
// to this object. archived reports whether it is in the history on disk.
func (l *Log) find(bm den.Bookmark) (t txInfo, archived bool, err error) {
	found := false
	for _, p := range l.pending {
		if p.txid == bm.Seq {
			t, found = p.txInfo, true
		}
	}
	if !found && l.rebase != nil && l.rebase.txid == bm.Seq {
		t, found = *l.rebase, true
	}
	if !found {
		base, ok := l.baseFor(bm.Seq)
		if ok {
			if bm.Seq == base {
				t, found, archived = l.baseInfo[base], true, true
			} else {
				recs, err := l.records(base)
				if err != nil {
					return txInfo{}, false, err
				}
				for _, r := range recs {
					if r.txid == bm.Seq {
						t, found, archived = r.txInfo, true, true
						break
					}
				}
			}
		}
	}
	// The time is not compared: transactions recovered from the WAL after
	// a crash are dated again, by the WAL's modification time.
	if b := l.bookmark(t); !found || b.Seq != bm.Seq || b.Check != bm.Check {
		return txInfo{}, false, den.Errorf(den.EINVALID, msgNotInHistory, bm)
	}
	return t, archived, nil
}

// baseFor returns the newest snapshot at or before txid.
func (l *Log) baseFor(txid uint64) (uint64, bool) {
	for i := len(l.bases) - 1; i >= 0; i-- {
		if l.bases[i] <= txid {
			return l.bases[i], true
		}
	}
	return 0, false
}

// Check returns an EINVALID error unless bm names a state in this
// object's history, and reports whether that state is still only in the
// WAL (call Archive before WriteImage).
func (l *Log) Check(bm den.Bookmark) (inWAL bool, err error) {
	_, archived, err := l.find(bm)
	return !archived, err
}

// Info describes the history: its oldest and newest bookmarks, its bytes on
// disk and its retention.
func (l *Log) Info() (den.HistoryInfo, error) {
	info := den.HistoryInfo{Retention: l.ret}
	newest, err := l.Current()
	if err != nil {
		return info, err
	}
	info.Newest = newest.String()
	switch {
	case len(l.bases) > 0:
		info.Oldest = l.bookmark(l.baseInfo[l.bases[0]]).String()
	case l.rebase != nil:
		info.Oldest = l.bookmark(*l.rebase).String()
	}
	ents, err := os.ReadDir(l.dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return info, den.Errorf(den.EINTERNAL, "history: %w", err)
	}
	for _, e := range ents {
		if fi, err := e.Info(); err == nil {
			info.Bytes += fi.Size()
		}
	}
	return info, nil
}
