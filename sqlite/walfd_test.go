package sqlite

import (
	"context"
	"testing"

	"github.com/den-run/den"
	"golang.org/x/sys/unix"
)

// walDescriptor finds SQLite's own descriptor of the WAL, which a history
// reads through (walUser): it is open and names the WAL file. A modernc
// upgrade that changes the unix VFS's file struct fails here.
func TestWALDescriptorIsSQLites(t *testing.T) {
	s := NewStore(t.TempDir())
	d, err := s.Open(context.Background(), "Counter", den.Key{1}.IDFromName("w"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	db := d.(*DB)
	if err := db.Put("k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	fd, ok := walDescriptor(db.conn)
	if !ok {
		t.Fatal("no WAL descriptor")
	}
	var byFD, byPath unix.Stat_t
	if err := unix.Fstat(fd, &byFD); err != nil {
		t.Fatalf("fstat of the WAL descriptor %d: %v", fd, err)
	}
	if err := unix.Stat(db.wal, &byPath); err != nil {
		t.Fatal(err)
	}
	if byFD.Dev != byPath.Dev || byFD.Ino != byPath.Ino {
		t.Fatalf("descriptor %d is inode %d, the WAL is inode %d", fd, byFD.Ino, byPath.Ino)
	}
	if byFD.Size == 0 {
		t.Fatal("the WAL descriptor's file is empty after a write")
	}
}
