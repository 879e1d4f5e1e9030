package sqlite_test

import (
	"fmt"
	"testing"

	"github.com/den-run/den"
	dsqlite "github.com/den-run/den/sqlite"
)

// BenchmarkHeldTurns is a counter's turn (read a key, write it back) with
// point-in-time history, in bursts of 16 turns with one sync after each
// burst, as a barrier would: "commit-each" commits every turn,
// "hold" holds the first 15 of a burst and commits them with the 16th
// (write coalescing in the actor).
func BenchmarkHeldTurns(b *testing.B) {
	const burst = 16
	for _, hold := range []bool{false, true} {
		b.Run(map[bool]string{false: "commit-each", true: "hold"}[hold], func(b *testing.B) {
			s, _ := historyStore(b.TempDir(), 0)
			db := openHistory(b, s, "c").(*dsqlite.DB)
			b.Cleanup(func() { db.Close() })
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				must(b, db.Begin())
				n, _, err := den.GetJSON[int](db, "count")
				must(b, err)
				must(b, den.PutJSON(db, "count", n+1))
				last := i%burst == burst-1
				if hold && !last {
					if ok, _, err := db.Hold(); !ok || err != nil {
						b.Fatalf("Hold = %v, %v", ok, err)
					}
					continue
				}
				if _, err := db.Commit(); err != nil {
					b.Fatal(err)
				}
				if last {
					must(b, db.Sync())
				}
			}
			if db.Held() {
				if _, err := db.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			n, _, err := den.GetJSON[int](db, "count")
			if err != nil || n == 0 {
				b.Fatal(fmt.Sprint("count ", n, err))
			}
		})
	}
}
