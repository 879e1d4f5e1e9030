package sqlite

import (
	"context"
	"fmt"
	"testing"

	"github.com/den-run/den"

	lib "modernc.org/sqlite/lib"
)

// Every connection's page cache has a group of its own: the shared group,
// behind SQLite's one page-cache mutex, holds none of their pages. (In the
// shared mode each purgeable cache adds its page limit to that group.)
func TestPageCachesAreSeparate(t *testing.T) {
	if configPcache != lib.SQLITE_OK {
		t.Fatalf("sqlite3_initialize: %d", configPcache)
	}
	s := NewStore(t.TempDir())
	for i := range 3 {
		db, err := s.Open(context.Background(), "Counter", den.Key{1}.IDFromName(fmt.Sprint("p", i)))
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Put("k", []byte("v")); err != nil {
			t.Fatal(err)
		}
		defer db.Close()
	}
	if g := pcache1.Fgrp; g.FnMaxPage != 0 || g.FnMinPage != 0 {
		t.Errorf("the shared page-cache group holds the caches' limits: max %d, min %d pages", g.FnMaxPage, g.FnMinPage)
	}
}
