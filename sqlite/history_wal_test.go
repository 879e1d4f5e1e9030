package sqlite_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// walPath returns the one object WAL under dir's store, or "" if none.
func walPath(t *testing.T, dir string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "objects", class, "*", "*", "*.sqlite-wal"))
	if len(m) > 1 {
		t.Fatalf("%d WAL files", len(m))
	}
	if len(m) == 0 {
		return ""
	}
	return m[0]
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// A checkpoint after a commit keeps the WAL file and writes over it (so a
// barrier's fdatasync finds its blocks allocated), every state stays
// restorable, and Close truncates the file.
func TestHistoryCheckpointWritesOverTheWAL(t *testing.T) {
	const ckpt = 1 << 20 // Close truncates a WAL file of 1 MiB or more
	dir := t.TempDir()
	s, _ := historyStore(dir, ckpt)
	db := openHistory(t, s, "x")
	var marks, states []string
	var size, most int64
	for i := range 90 {
		turn(t, db, func() { // about 8 pages each: a checkpoint every 32 commits
			must(t, db.Put(fmt.Sprintf("k%d", i%7), []byte(strings.Repeat(fmt.Sprint(i), 30000/len(fmt.Sprint(i))))))
		})
		marks = append(marks, bookmark(t, db))
		states = append(states, state(t, db))
		n := fileSize(t, walPath(t, dir))
		if n < size {
			t.Fatalf("commit %d: the WAL shrank from %d to %d bytes: a checkpoint truncated it", i, size, n)
		}
		size, most = n, max(most, n)
	}
	if most < ckpt || most > 2*ckpt {
		t.Errorf("the WAL grew to %d bytes with checkpoints every %d", most, ckpt)
	}
	sample := func(xs []string) (out []string) { // every 8th state and the last: images cost
		for i, x := range xs {
			if i%8 == 0 || i == len(xs)-1 {
				out = append(out, x)
			}
		}
		return out
	}
	marks, states = sample(marks), sample(states)
	checkImages(t, db, marks, states)
	must(t, db.Close())
	if n := fileSize(t, walPath(t, dir)); n >= ckpt {
		t.Errorf("the WAL holds %d bytes after Close", n)
	}
	db = openHistory(t, s, "x")
	if got := state(t, db); got != states[len(states)-1] {
		t.Errorf("reopened: %s, want %s", got, states[len(states)-1])
	}
	checkImages(t, db, marks, states)
	must(t, db.Close())
}

// A crash right after a checkpoint leaves a WAL whose frames the database
// file already holds; the next session neither loses nor repeats them.
func TestHistoryCrashAfterCheckpointKeepsTheWAL(t *testing.T) {
	dir := t.TempDir()
	s, _ := historyStore(dir, 1) // a checkpoint after every commit
	db := openHistory(t, s, "x")
	marks, states := script(t, db)
	crash := t.TempDir()
	copyTree(t, dir, crash)
	must(t, db.Close())
	if fileSize(t, walPath(t, crash)) == 0 {
		t.Fatal("the copy has no WAL to recover")
	}

	s2, _ := historyStore(crash, 1)
	db2 := openHistory(t, s2, "x")
	if got := state(t, db2); got != states[len(states)-1] {
		t.Fatalf("after crash: %s, want %s", got, states[len(states)-1])
	}
	turn(t, db2, func() { must(t, db2.Put("after", []byte("crash"))) })
	marks = append(marks, bookmark(t, db2))
	states = append(states, state(t, db2))
	for i := 1; i < len(marks); i++ {
		if marks[i] <= marks[i-1] {
			t.Fatalf("bookmarks do not sort in time order: %s then %s", marks[i-1], marks[i])
		}
	}
	checkImages(t, db2, marks, states)
	must(t, db2.Close())
}

// readCalls returns the process's read system calls so far (Linux).
func readCalls(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Skip("no /proc/self/io")
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "syscr: "); ok {
			var n int64
			fmt.Sscan(v, &n)
			return n
		}
	}
	t.Skip("no syscr in /proc/self/io")
	return 0
}

// A checkpoint reads the WAL's new frames in one piece: not once per frame
// to find the transactions, then again to encode them.
func TestHistoryCheckpointReadsTheWALOnce(t *testing.T) {
	dir := t.TempDir()
	s, _ := historyStore(dir, 1<<30)
	db := openHistory(t, s, "x")
	turn(t, db, func() { must(t, db.Put("a", []byte("0"))) })
	must(t, db.Close()) // a history exists: the next session knows the page size
	db = openHistory(t, s, "x")
	for i := range 300 { // 300 frames or more, over 1 MiB: Close checkpoints
		turn(t, db, func() { must(t, db.Put(fmt.Sprintf("k%d", i), []byte(strings.Repeat("v", 3000)))) })
	}
	frames := (fileSize(t, walPath(t, dir)) - 32) / (4096 + 24)
	before := readCalls(t)
	must(t, db.Close())
	// SQLite's checkpoint reads each frame it copies; the history should
	// add a few reads, not one or more per frame.
	if n := readCalls(t) - before; n > frames+64 {
		t.Errorf("closing with a checkpoint of %d frames took %d reads", frames, n)
	}
}

// logBytes returns the bytes of the history's logs under dir.
func logBytes(t *testing.T, dir string) int64 {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(dir, "history", class, "*", "*", "*", "*.log"))
	var n int64
	for _, l := range logs {
		n += fileSize(t, l)
	}
	return n
}

// A live object archives the WAL that barriers made durable in steps, before
// any checkpoint; every state stays restorable, through a crash too.
func TestHistoryArchivesDurableWALInSteps(t *testing.T) {
	const ckpt = 256 << 10 // steps of 32 KiB
	dir := t.TempDir()
	s, _ := historyStore(dir, ckpt)
	db := openHistory(t, s, "x")
	var marks, states []string
	step := func(i int) {
		turn(t, db, func() { // turn syncs: a barrier's Synced
			must(t, db.Put(fmt.Sprintf("k%d", i%5), []byte(strings.Repeat(fmt.Sprint(i%10), 5000))))
		})
		marks = append(marks, bookmark(t, db))
		states = append(states, state(t, db))
	}
	for i := range 12 { // about 100 KiB of WAL: no checkpoint yet
		step(i)
	}
	if n := fileSize(t, walPath(t, dir)); n >= ckpt {
		t.Fatalf("the WAL holds %d bytes: a checkpoint may have run", n)
	}
	if n := logBytes(t, dir); n < 32<<10/8 {
		t.Fatalf("the history holds %d bytes of logs before any checkpoint: nothing was archived in steps", n)
	}
	crash := t.TempDir()
	copyTree(t, dir, crash)
	for i := 12; i < 60; i++ { // past a checkpoint or two
		step(i)
	}
	checkImages(t, db, marks, states)
	must(t, db.Close())

	s2, _ := historyStore(crash, ckpt)
	db2 := openHistory(t, s2, "x")
	if got := state(t, db2); got != states[11] {
		t.Fatalf("after a crash: %s, want %s", got, states[11])
	}
	checkImages(t, db2, marks[:12], states[:12])
	must(t, db2.Close())
}
