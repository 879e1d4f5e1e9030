package sqlite_test

import (
	"context"
	"fmt"
	"os"

	"github.com/den-run/den"
	"github.com/den-run/den/sqlite"
)

// The SQL API on one object's database, in a turn as the runtime runs it.
func ExampleDB_Exec() {
	dir, err := os.MkdirTemp("", "den-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	db, err := sqlite.NewStore(dir).Open(context.Background(), "Notes", den.Key{1}.IDFromName("ann"))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	db.Begin()
	sql := db.SQL()
	sql.Exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL)")
	c, _ := sql.Exec("INSERT INTO notes (title) VALUES (?), (?)", "milk", "bread")
	fmt.Println("written:", c.RowsWritten())

	type note struct {
		ID    int64
		Title string
	}
	notes, err := den.ScanAll[note](sql.Exec("SELECT id, title FROM notes ORDER BY id"))
	fmt.Println(notes, err)

	_, err = sql.Exec("SELECT * FROM _cf_KV")
	fmt.Println(err)
	db.Commit()
	// Output:
	// written: 2
	// [{1 milk} {2 bread}] <nil>
	// access to _cf_KV.key is prohibited: SQLITE_AUTH
}
