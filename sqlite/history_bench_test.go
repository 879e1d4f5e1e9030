package sqlite_test

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/pitr"
	dsqlite "github.com/den-run/den/sqlite"
)

var bigRestore = flag.Bool("pitr.big", false, "BenchmarkRestore: a 100 MB database with 10,000 transactions of history (else 4 MB and 400)")

// dirBytes returns the bytes of the files under dir.
func dirBytes(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// BenchmarkSmallWrite is one small write per transaction (a 100-byte value
// under one of 10,000 keys), with and without history; "history-B/write" is
// the history's growth per write.
func BenchmarkSmallWrite(b *testing.B) {
	for _, withHistory := range []bool{false, true} {
		b.Run(map[bool]string{false: "no-history", true: "history"}[withHistory], func(b *testing.B) {
			dir := b.TempDir()
			var db den.Database
			var err error
			if withHistory {
				s, _ := historyStore(dir, 0)
				db, err = s.Open(b.Context(), class, testID("w"))
			} else {
				db, err = dsqlite.NewStore(filepath.Join(dir, "objects")).Open(b.Context(), class, testID("w"))
			}
			if err != nil {
				b.Fatal(err)
			}
			value := make([]byte, 100)
			rng := rand.New(rand.NewPCG(1, 2))
			b.ResetTimer()
			for i := range b.N {
				must(b, db.Begin())
				binary.LittleEndian.PutUint64(value, uint64(i)) // a real change every time
				must(b, db.Put(fmt.Sprintf("key-%05d", rng.IntN(10000)), value))
				if _, err := db.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			must(b, db.Close())
			b.StopTimer()
			if withHistory {
				b.ReportMetric(float64(dirBytes(filepath.Join(dir, "history")))/float64(b.N), "history-B/write")
			}
		})
	}
}

// historyOf writes n transactions of one small write each, dated by the
// real clock, into a fresh database, and returns it open with the bookmark
// of every tenth.
func historyOf(b *testing.B, n int, fill int) (*dsqlite.Store, den.HistoryDatabase, []string, []time.Time) {
	b.Helper()
	s, _ := historyStore(b.TempDir(), 0)
	db := openHistory(b, s, "h")
	if fill > 0 { // a large database first, in transactions of 4 MB
		blob := make([]byte, 4000)
		for i := 0; i < fill; {
			must(b, db.Begin())
			for j := 0; j < 1000 && i < fill; j, i = j+1, i+1 {
				must(b, db.Put(fmt.Sprintf("fill-%07d", i), blob))
			}
			if _, err := db.Commit(); err != nil {
				b.Fatal(err)
			}
		}
	}
	var marks []string
	var times []time.Time
	value := make([]byte, 100)
	for i := range n {
		must(b, db.Begin())
		must(b, db.Put(fmt.Sprintf("key-%05d", i%1000), value))
		if _, err := db.Commit(); err != nil {
			b.Fatal(err)
		}
		if i%10 == 0 {
			must(b, db.Sync())
			bm, err := db.CurrentBookmark()
			if err != nil {
				b.Fatal(err)
			}
			marks = append(marks, bm)
			times = append(times, time.Now())
		}
	}
	must(b, db.Sync())
	return s, db, marks, times
}

// BenchmarkBookmarkForTime looks up bookmarks in a history of 10,000
// transactions: "warm" on an open database (the log's index is in memory
// after the first lookup), "cold" after reopening it (the index is read
// again).
func BenchmarkBookmarkForTime(b *testing.B) {
	_, db, _, times := historyOf(b, 10000, 0)
	b.Run("warm", func(b *testing.B) {
		for i := range b.N {
			if _, err := db.BookmarkForTime(times[i%len(times)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	must(b, db.Close())
}

// BenchmarkRestore stages a restore to a bookmark in the middle of the
// history and reopens the database, which applies it: with -pitr.big, a
// 100 MB database with 10,000 transactions of history.
func BenchmarkRestore(b *testing.B) {
	fill, txs := 1000, 400 // 4 MB
	if *bigRestore {
		fill, txs = 25000, 10000 // 100 MB
	}
	s, db, marks, _ := historyOf(b, txs, fill)
	info, _ := db.History()
	b.Logf("history: %d bytes", info.Bytes)
	b.ResetTimer()
	for i := range b.N {
		if err := db.StageRestore(marks[(len(marks)/2+i)%len(marks)]); err != nil {
			b.Fatal(err)
		}
		must(b, db.Close())
		db = openHistory(b, s, "h")
		if !db.Restored() {
			b.Fatal("not restored")
		}
	}
	b.StopTimer()
	must(b, db.Close())
}

// BenchmarkFirstCloseWithHistory creates an object's database with history,
// writes one key and closes it: the first close writes the history's first
// pair (lazily). Syncs do nothing: the CPU of the path, not the disk.
func BenchmarkFirstCloseWithHistory(b *testing.B) {
	s := nosyncHistoryStore(b)
	i := 0
	for b.Loop() {
		writeAndClose(b, s, fmt.Sprint("new-", i))
		i++
	}
}

// BenchmarkReopenWriteWithHistory reopens an object's database with
// history, writes one key and closes it: an evicted object's alarm or
// request. Syncs do nothing: the CPU of the path, not the disk.
func BenchmarkReopenWriteWithHistory(b *testing.B) {
	s := nosyncHistoryStore(b)
	writeAndClose(b, s, "x")
	for b.Loop() {
		writeAndClose(b, s, "x")
	}
}

// nosyncHistoryStore returns a store that keeps history and syncs nothing.
func nosyncHistoryStore(b *testing.B) *dsqlite.Store {
	dir := b.TempDir()
	nosync := func(string) error { return nil }
	a := pitr.New(filepath.Join(dir, "history"), pitr.Options{SyncFile: nosync})
	return dsqlite.NewStoreWithOptions(filepath.Join(dir, "objects"), dsqlite.Options{
		History:  func(class string, id den.ID) dsqlite.Log { return a.Open(class, id) },
		SyncFile: nosync,
	})
}

// writeAndClose opens name's database in s, writes one key in a turn and
// closes it.
func writeAndClose(b *testing.B, s *dsqlite.Store, name string) {
	must(b, writeKey(b, s, name).Close())
}

// writeKey opens name's database in s and writes one key in a turn; the
// caller syncs it or not, and closes it.
func writeKey(b *testing.B, s *dsqlite.Store, name string) den.Database {
	db, err := s.Open(b.Context(), class, testID(name))
	if err != nil {
		b.Fatal(err)
	}
	must(b, db.Begin())
	must(b, db.Put("k", []byte("v")))
	if _, err := db.Commit(); err != nil {
		b.Fatal(err)
	}
	return db
}
