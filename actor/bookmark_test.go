package actor_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/actor"
	"github.com/den-run/den/pitr"
	"github.com/den-run/den/sqlite"
)

// diary is an object that writes entries and uses bookmarks from inside.
type diary struct{ st den.State }

func (d *diary) Write(ctx context.Context, v string) (string, error) {
	if err := den.PutJSON(d.st.Storage(), "entry", v); err != nil {
		return "", err
	}
	// The bookmark includes the write just made.
	return d.st.Storage().GetCurrentBookmark(ctx)
}

func (d *diary) Read(ctx context.Context) (string, error) {
	v, _, err := den.GetJSON[string](d.st.Storage(), "entry")
	return v, err
}

func (d *diary) Rewind(ctx context.Context, bookmark string) (string, error) {
	undo, err := d.st.Storage().OnNextSessionRestoreBookmark(ctx, bookmark)
	if err != nil {
		return "", err
	}
	d.st.Abort("restoring " + bookmark)
	return undo, nil
}

func (d *diary) At(ctx context.Context, ms int64) (string, error) {
	return d.st.Storage().GetBookmarkForTime(ctx, time.UnixMilli(ms))
}

func TestBookmarksFromInside(t *testing.T) {
	dir := t.TempDir()
	arch := pitr.New(filepath.Join(dir, "history"), pitr.Options{})
	store := sqlite.NewStoreWithOptions(filepath.Join(dir, "objects"), sqlite.Options{
		History: func(class string, id den.ID) sqlite.Log { return arch.Open(class, id) },
	})
	h := actor.New(actor.Config{Store: store, Logger: slog.New(slog.DiscardHandler)},
		den.Class{Name: "Diary", New: func(st den.State, _ *den.Env) (any, error) { return &diary{st: st}, nil }})
	ns := den.NewNamespace("DIARY", "Diary", den.Key{7}, h)
	if err := h.Open(den.NewEnv([]*den.Namespace{ns}, nil)); err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	stub := ns.GetByName("ann")
	ctx := context.Background()

	b1, err := den.Call[string](ctx, stub, "Write", "monday")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Millisecond)
	between := time.Now()
	time.Sleep(3 * time.Millisecond)
	b2, err := den.Call[string](ctx, stub, "Write", "tuesday")
	if err != nil {
		t.Fatal(err)
	}
	if !(b1 < b2) {
		t.Fatalf("bookmarks out of order: %s, %s", b1, b2)
	}
	if got, err := den.Call[string](ctx, stub, "At", between.UnixMilli()); err != nil || got != b1 {
		t.Errorf("GetBookmarkForTime(between) = %s, %v; want %s", got, err, b1)
	}
	// Rewind aborts, so its caller sees the abort; the undo bookmark was
	// made before it.
	if _, err := den.Call[string](ctx, stub, "Rewind", b1); den.AsError(err).Reset != true {
		t.Fatalf("Rewind: %v, want the abort's reset error", err)
	}
	if got, err := den.Call[string](ctx, stub, "Read"); err != nil || got != "monday" {
		t.Errorf("after restore: %q %v, want monday", got, err)
	}
	// Undo, through the operator's side.
	undo, err := h.Restore(ctx, ns, ns.IDFromName("ann"), b2)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := den.Call[string](ctx, stub, "Read"); err != nil || got != "tuesday" {
		t.Errorf("after undo: %q %v, want tuesday", got, err)
	}
	if undo <= b2 {
		t.Errorf("undo bookmark %s does not sort after %s", undo, b2)
	}
}

func TestBookmarksWithoutHistory(t *testing.T) {
	h := actor.New(actor.Config{Store: sqlite.NewStore(t.TempDir()), Logger: slog.New(slog.DiscardHandler)},
		den.Class{Name: "Diary", New: func(st den.State, _ *den.Env) (any, error) { return &diary{st: st}, nil }})
	ns := den.NewNamespace("DIARY", "Diary", den.Key{7}, h)
	if err := h.Open(den.NewEnv([]*den.Namespace{ns}, nil)); err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	_, err := den.Call[string](context.Background(), ns.GetByName("ann"), "Write", "x")
	if e := den.AsError(err); e.Code != den.EINVALID || e.Message != den.MsgNoHistory {
		t.Errorf("bookmark without history: %v", err)
	}
}
