package alarm_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/alarm"
)

func TestScheduleKeepsTheEarliestTime(t *testing.T) {
	idx := mustOpenIndex(t, t.TempDir(), alarm.IndexConfig{})
	objs := newObjects(t, idx)
	base := time.UnixMilli(1_800_000_000_000)
	ctx := context.Background()
	id := objs.ns.IDFromName("x")
	for _, at := range []time.Duration{time.Minute, time.Second, time.Hour} {
		if err := idx.ScheduleAlarm(ctx, class, id, base.Add(at)); err != nil {
			t.Fatal(err)
		}
	}
	r, ok := row(t, idx, objs, "x")
	if !ok || !r.Due.Equal(base.Add(time.Second)) || r.Name != "x" {
		t.Fatalf("row %v %v, want due at +1s named x", r, ok)
	}
	if n, err := idx.Len(); err != nil || n != 1 {
		t.Fatalf("len %d %v", n, err)
	}
	// A later schedule without a name keeps the name.
	if err := idx.ScheduleAlarm(ctx, class, id.WithName(""), base); err != nil {
		t.Fatal(err)
	}
	if r, _ := row(t, idx, objs, "x"); r.Name != "x" || !r.Due.Equal(base) {
		t.Fatalf("row %v", r)
	}
}

func TestIndexSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	idx := alarm.NewIndex(dir+"/alarms.sqlite", alarm.IndexConfig{Logger: quiet})
	if err := idx.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	objs := newObjects(t, idx)
	at := time.UnixMilli(1_800_000_000_000)
	objs.set(t, "kept", at)
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idx.ScheduleAlarm(context.Background(), class, objs.ns.IDFromName("late"), at); den.ErrorCode(err) != den.EUNAVAILABLE {
		t.Fatalf("schedule after close: %v", err)
	}
	scanned := false
	idx = mustOpenIndex(t, dir, alarm.IndexConfig{Scan: func(context.Context, func(alarm.Entry) error) error {
		scanned = true
		return nil
	}})
	if scanned {
		t.Fatal("a complete index was rebuilt")
	}
	if r, ok := row(t, idx, objs, "kept"); !ok || !r.Due.Equal(at) {
		t.Fatalf("after reopen: %v %v", r, ok)
	}
}

func TestRebuildFromTheObjects(t *testing.T) {
	dir := t.TempDir()
	objs := newObjects(t, nil)
	at := time.UnixMilli(1_800_000_000_000)
	entries := func(n int) func(context.Context, func(alarm.Entry) error) error {
		return func(ctx context.Context, add func(alarm.Entry) error) error {
			for i := range n {
				if err := add(alarm.Entry{Class: class, ID: objs.ns.IDFromName(fmt.Sprint("r", i)).Bytes(), At: at.Add(time.Duration(i) * time.Second)}); err != nil {
					return err
				}
			}
			return nil
		}
	}
	// A rebuild that fails leaves the index incomplete: Open fails, and the
	// next Open rebuilds again.
	broken := alarm.NewIndex(dir+"/alarms.sqlite", alarm.IndexConfig{Logger: quiet, Scan: func(ctx context.Context, add func(alarm.Entry) error) error {
		if err := entries(3)(ctx, add); err != nil {
			return err
		}
		return errors.New("disk on fire")
	}})
	if err := broken.Open(context.Background()); err == nil {
		t.Fatal("Open succeeded with a failing scan")
	}
	broken.Close()

	idx := mustOpenIndex(t, dir, alarm.IndexConfig{Scan: entries(10)})
	if n, err := idx.Len(); err != nil || n != 10 {
		t.Fatalf("len after rebuild %d %v", n, err)
	}
	if r, ok := row(t, idx, objs, "r7"); !ok || !r.Due.Equal(at.Add(7*time.Second)) {
		t.Fatalf("r7: %v %v", r, ok)
	}
}
