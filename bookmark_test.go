package den_test

import (
	"testing"
	"time"

	"github.com/den-run/den"
)

func TestBookmarkRoundTripAndOrder(t *testing.T) {
	a := den.Bookmark{Time: time.Unix(0, 1_700_000_000_000_000_000), Seq: 9, Check: 0xdeadbeef}
	b := den.Bookmark{Time: a.Time.Add(time.Nanosecond), Seq: 10, Check: 1}
	got, err := den.ParseBookmark(a.String())
	if err != nil || got.Seq != a.Seq || got.Check != a.Check || !got.Time.Equal(a.Time) {
		t.Fatalf("round trip of %s: %+v %v", a, got, err)
	}
	if !(a.String() < b.String()) {
		t.Errorf("%s does not sort before %s", a, b)
	}
	for _, s := range []string{"", "x", "0-0-0", a.String() + "0", "18EBFC8E50E76F00-0000000000000004-92a18982"} {
		if _, err := den.ParseBookmark(s); den.ErrorCode(err) != den.EINVALID {
			t.Errorf("ParseBookmark(%q): %v", s, err)
		}
	}
}

func TestParseTime(t *testing.T) {
	for s, want := range map[string]time.Time{
		"1767225600000":        time.UnixMilli(1767225600000),
		"2026-01-01T00:00:00Z": time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		if got, err := den.ParseTime(s); err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := den.ParseTime("yesterday"); den.ErrorCode(err) != den.EINVALID {
		t.Errorf("ParseTime(yesterday): %v", err)
	}
}

func FuzzParseBookmark(f *testing.F) {
	f.Add("18ebfc8e50e76f00-0000000000000004-92a18982")
	f.Add("ffffffffffffffff-ffffffffffffffff-ffffffff")
	f.Add("--")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := den.ParseBookmark(s)
		if err != nil {
			return
		}
		if b.String() != s {
			t.Fatalf("ParseBookmark(%q).String() = %q", s, b.String())
		}
	})
}
