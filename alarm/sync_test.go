package alarm

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// A batch is committed with synchronous=FULL whenever it holds a
// ScheduleAlarm or a Forget, whatever else it holds; a batch of the
// runner's updates alone is not fsynced.
func TestOnlySchedulesAreSynced(t *testing.T) {
	x := NewIndex(filepath.Join(t.TempDir(), "alarms.sqlite"), IndexConfig{})
	if err := x.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	due := time.UnixMilli(1_800_000_000_000)
	schedule := func() *op { return &op{schedule: true, row: Row{Class: "C", ID: [32]byte{1}, Due: due}} }
	update := func() *op { return &op{row: Row{Class: "C", ID: [32]byte{1}, Due: due, seq: 1}} }
	forget := func() *op { return &op{forget: true, row: Row{Class: "C", ID: [32]byte{2}}} }
	for _, c := range []struct {
		name  string
		batch []*op
		full  bool
	}{
		{"updates", []*op{update(), update()}, false},
		{"update then schedule", []*op{update(), schedule()}, true},
		{"updates again", []*op{update()}, false},
		{"forget", []*op{update(), forget()}, true},
		{"schedule", []*op{schedule()}, true},
	} {
		// The writer is idle (no op was sent to it): apply runs here.
		x.apply(c.batch)
		for _, o := range c.batch {
			if o.err != nil {
				t.Fatalf("%s: %v", c.name, o.err)
			}
		}
		var mode int
		err := sqlitex.ExecuteTransient(x.wr, "PRAGMA synchronous", &sqlitex.ExecOptions{
			ResultFunc: func(stmt *sqlite.Stmt) error { mode = stmt.ColumnInt(0); return nil },
		})
		if err != nil {
			t.Fatal(err)
		}
		const normal, full = 1, 2
		if want := map[bool]int{false: normal, true: full}[c.full]; mode != want {
			t.Errorf("%s: committed with synchronous=%d, want %d", c.name, mode, want)
		}
	}
}
