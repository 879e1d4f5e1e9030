package usage_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/usage"
)

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

var t0 = time.Date(2026, 11, 2, 10, 15, 0, 0, time.UTC)

func testNamespace(tb testing.TB) *den.Namespace {
	key, err := den.NewKey(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return den.NewNamespace("NOTES", "Note", key, nil)
}

func openMeter(tb testing.TB, path string, clk *clock, scan func(context.Context, func(string, [32]byte, int64) error) error) *usage.Meter {
	tb.Helper()
	m := usage.New(usage.Config{Path: path, Now: clk.Now, Scan: scan, FlushEvery: time.Hour})
	if err := m.Open(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}

func flush(tb testing.TB, m *usage.Meter) {
	tb.Helper()
	if err := m.Flush(context.Background()); err != nil {
		tb.Fatal(err)
	}
}

func TestMeterReportsBillingUnitsAndPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usage.sqlite")
	clk := &clock{now: t0}
	ns := testNamespace(t)
	ann := ns.IDFromName("ann")
	m := openMeter(t, path, clk, nil)

	m.Turn(den.TurnStats{Namespace: ns, ID: ann, Kind: den.EventFetch, Busy: 2 * time.Second, RowsRead: 3, RowsWritten: 2, Wrote: true, Bytes: 16384})
	m.Turn(den.TurnStats{Namespace: ns, ID: ann, Kind: den.EventCall, RowsRead: 1, Bytes: -1})
	m.Turn(den.TurnStats{Namespace: ns, ID: ann, Kind: den.EventAlarm, Bytes: -1})
	m.Turn(den.TurnStats{Namespace: ns, ID: ann, Kind: den.EventInternal, Busy: time.Hour, RowsRead: 1000, Bytes: -1}) // not billed
	m.Idle(ns, ann, 3*time.Second)
	for range 40 {
		m.WebSocketMessage(ns, ann)
	}
	flush(t, m)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopen: it was persisted.
	m = openMeter(t, path, clk, nil)
	r, err := m.Report(context.Background(), usage.Query{Scopes: []usage.Scope{{"NOTES", "Note"}}, From: t0.Add(-time.Hour), To: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	u := r.Usage
	if u.HTTP != 1 || u.RPC != 1 || u.Alarms != 1 || u.WebSocketMessages != 40 {
		t.Errorf("counts = %+v", u)
	}
	if u.Requests != 5 { // 3 + 40/20
		t.Errorf("billed requests = %v, want 5", u.Requests)
	}
	if u.BusySeconds != 5 || math.Abs(u.DurationGBs-5*0.128) > 1e-9 {
		t.Errorf("busy %v s, %v GB-s; want 5 s, 0.64 GB-s", u.BusySeconds, u.DurationGBs)
	}
	if u.RowsRead != 4 || u.RowsWritten != 2 {
		t.Errorf("rows read %d written %d, want 4 and 2", u.RowsRead, u.RowsWritten)
	}
	if u.StoredBytes != 16384 {
		t.Errorf("stored bytes = %d, want 16384", u.StoredBytes)
	}
	if len(r.Namespaces) != 1 || len(r.Namespaces[0].Hours) != 3 {
		t.Fatalf("want one namespace of 3 hours, got %+v", r.Namespaces)
	}
	if h := r.Namespaces[0].Hours[1]; h.Usage.HTTP != 1 || !h.Hour.Equal(t0.Truncate(time.Hour)) {
		t.Errorf("hour 1 = %+v", h)
	}
	objs := r.Namespaces[0].Objects
	if len(objs) != 1 || objs[0].Name != "ann" || objs[0].ID != ann.String() {
		t.Errorf("objects = %+v", objs)
	}
	want := 5/1e6*0.15 + 5*0.128/1e6*12.5 + 4/1e6*0.001 + 2/1e6*1.0
	if b := r.Bill; math.Abs(b.Total-b.Storage-want) > 1e-12 {
		t.Errorf("bill = %+v, want %g before storage", b, want)
	}
}

func TestHibernationIsNotBilledButShown(t *testing.T) {
	clk := &clock{now: t0}
	ns := testNamespace(t)
	id := ns.IDFromName("room")
	m := openMeter(t, filepath.Join(t.TempDir(), "usage.sqlite"), clk, nil)
	m.WebSocketOpened(ns, id)
	m.WebSocketOpened(ns, id)
	m.WebSocketsHibernated(ns, id, 2)
	if a, h := m.WebSockets("Note", id.Bytes()); a != 0 || h != 2 {
		t.Fatalf("sockets = %d active, %d hibernated; want 0, 2", a, h)
	}
	clk.Add(100 * time.Second)
	m.WebSocketsWoken(ns, id, 2)
	m.WebSocketClosed(ns, id, false)
	m.WebSocketClosed(ns, id, false)
	flush(t, m)
	r, err := m.Report(context.Background(), usage.Query{Scopes: []usage.Scope{{"NOTES", "Note"}}, From: t0, To: clk.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if r.Usage.BusySeconds != 0 || r.Usage.HibernatedSeconds != 100 {
		t.Errorf("busy %v s, hibernated %v s; want 0 and 100", r.Usage.BusySeconds, r.Usage.HibernatedSeconds)
	}
	if saved := r.Bill.HibernationSaved; math.Abs(saved-100*0.128/1e6*12.5) > 1e-12 {
		t.Errorf("hibernation saved $%g", saved)
	}
	if a, h := m.WebSockets("Note", id.Bytes()); a != 0 || h != 0 {
		t.Errorf("sockets after close = %d, %d", a, h)
	}
}

func TestCatalogListsSearchesAndForgets(t *testing.T) {
	clk := &clock{now: t0}
	ns := testNamespace(t)
	m := openMeter(t, filepath.Join(t.TempDir(), "usage.sqlite"), clk, nil)
	names := []string{"alice", "alan", "bob", "albert", "carol"}
	for _, n := range names {
		m.Turn(den.TurnStats{Namespace: ns, ID: ns.IDFromName(n), Kind: den.EventCall, Wrote: true, Bytes: 8192})
	}
	anon := ns.NewUniqueID()
	m.Turn(den.TurnStats{Namespace: ns, ID: anon, Kind: den.EventFetch, Bytes: 4096})
	// An object that never stored anything leaves the catalog.
	ghost := ns.IDFromName("ghost")
	m.Turn(den.TurnStats{Namespace: ns, ID: ghost, Kind: den.EventFetch, Bytes: -1})
	m.Left(ns, ghost, -1, false)
	flush(t, m)
	ctx := context.Background()
	if n := m.Count("Note"); n != 6 {
		t.Errorf("Count = %d, want 6", n)
	}
	if b := m.StoredBytes()["Note"]; b != 5*8192+4096 {
		t.Errorf("stored = %d", b)
	}
	// All, two per page, in ID order.
	var all []den.ObjectInfo
	cursor := ""
	for {
		page, next, err := m.List(ctx, "Note", den.ObjectQuery{Cursor: cursor, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if next == "" {
			break
		}
		cursor = next
	}
	if len(all) != 6 {
		t.Fatalf("listed %d objects, want 6", len(all))
	}
	for i := 1; i < len(all); i++ {
		if string(all[i-1].ID[:]) >= string(all[i].ID[:]) {
			t.Errorf("not in ID order at %d", i)
		}
	}
	// By name prefix, one per page.
	var got []string
	cursor = ""
	for {
		page, next, err := m.List(ctx, "Note", den.ObjectQuery{NamePrefix: "al", Cursor: cursor, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page {
			got = append(got, o.Name)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if fmt.Sprint(got) != "[alan albert alice]" {
		t.Errorf("name search = %v", got)
	}
	// By ID prefix.
	h := anon.String()[:5]
	page, _, err := m.List(ctx, "Note", den.ObjectQuery{IDPrefix: h})
	if err != nil || len(page) != 1 || page[0].ID != anon.Bytes() {
		t.Errorf("ID prefix %s: %v %v", h, page, err)
	}
	if _, _, err := m.List(ctx, "Note", den.ObjectQuery{IDPrefix: "XYZ"}); den.ErrorCode(err) != den.EINVALID {
		t.Errorf("bad prefix: %v", err)
	}
	if _, _, err := m.List(ctx, "Note", den.ObjectQuery{Cursor: "nope"}); den.ErrorCode(err) != den.EINVALID {
		t.Errorf("bad cursor: %v", err)
	}
	o, ok, err := m.Lookup(ctx, "Note", ns.IDFromName("bob").Bytes())
	if err != nil || !ok || o.Name != "bob" || o.Bytes != 8192 || !o.LastActive.Equal(t0) {
		t.Errorf("Lookup bob = %+v %v %v", o, ok, err)
	}
	if err := m.Forget(ctx, "Note", ns.IDFromName("bob").Bytes()); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := m.Lookup(ctx, "Note", ns.IDFromName("bob").Bytes()); ok {
		t.Error("bob is still in the catalog after Forget")
	}
	if n := m.Count("Note"); n != 5 {
		t.Errorf("Count after Forget = %d, want 5", n)
	}
}

func TestCatalogFillsFromScan(t *testing.T) {
	clk := &clock{now: t0}
	var ids [][32]byte
	for i := range 3 {
		var id [32]byte
		id[0] = byte(i + 1)
		ids = append(ids, id)
	}
	scans := 0
	scan := func(ctx context.Context, add func(string, [32]byte, int64) error) error {
		scans++
		for _, id := range ids {
			if err := add("Note", id, 12288); err != nil {
				return err
			}
		}
		return nil
	}
	path := filepath.Join(t.TempDir(), "usage.sqlite")
	m := openMeter(t, path, clk, scan)
	if n := m.Count("Note"); n != 3 {
		t.Errorf("Count = %d, want 3", n)
	}
	m.Close()
	m = openMeter(t, path, clk, scan)
	if scans != 1 {
		t.Errorf("scanned %d times, want once: a filled catalog is not filled again", scans)
	}
	o, ok, err := m.Lookup(context.Background(), "Note", ids[1])
	if !ok || err != nil || o.Bytes != 12288 {
		t.Errorf("Lookup %s = %+v %v %v", hex.EncodeToString(ids[1][:]), o, ok, err)
	}
}

// BenchmarkListPageMillion lists a page of 100 objects (by ID, then by name
// prefix, from the middle) in a catalog of 1,000,000 objects.
func BenchmarkListPageMillion(b *testing.B) {
	const n = 1_000_000
	clk := &clock{now: t0}
	ns := testNamespace(b)
	scan := func(ctx context.Context, add func(string, [32]byte, int64) error) error {
		for i := range n {
			var id [32]byte
			id[0], id[1], id[2], id[3] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
			if err := add("Note", id, 8192); err != nil {
				return err
			}
		}
		return nil
	}
	m := openMeter(b, filepath.Join(b.TempDir(), "usage.sqlite"), clk, scan)
	// Named objects too, for the name index.
	for i := range 10_000 {
		m.Turn(den.TurnStats{Namespace: ns, ID: ns.IDFromName(fmt.Sprintf("user-%05d", i)), Kind: den.EventCall, Bytes: 8192})
	}
	flush(b, m)
	ctx := context.Background()
	mid := hex.EncodeToString([]byte{0x07, 0xa1, 0x20, 0x00}) + fmt.Sprintf("%056d", 0)
	b.Run("by-id", func(b *testing.B) {
		for b.Loop() {
			page, _, err := m.List(ctx, "Note", den.ObjectQuery{Cursor: mid, Limit: 100})
			if err != nil || len(page) != 100 {
				b.Fatal(len(page), err)
			}
		}
	})
	b.Run("by-name", func(b *testing.B) {
		for b.Loop() {
			page, _, err := m.List(ctx, "Note", den.ObjectQuery{NamePrefix: "user-05", Limit: 100})
			if err != nil || len(page) != 100 {
				b.Fatal(len(page), err)
			}
		}
	})
}
