package den_test

import (
	"testing"

	"github.com/den-run/den"
)

func TestListOptionsRange(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts den.ListOptions
		want den.KeyRange
	}{
		{"all", den.ListOptions{}, den.KeyRange{}},
		{"start end", den.ListOptions{Start: "b", End: "d"}, den.KeyRange{Lo: "b", Hi: "d", HasHi: true}},
		{"startAfter", den.ListOptions{StartAfter: "b"}, den.KeyRange{Lo: "b\x00"}},
		{"prefix", den.ListOptions{Prefix: "ab"}, den.KeyRange{Lo: "ab", Hi: "ac", HasHi: true}},
		{"prefix ff", den.ListOptions{Prefix: "a\xff\xff"}, den.KeyRange{Lo: "a\xff\xff", Hi: "b", HasHi: true}},
		{"prefix all ff", den.ListOptions{Prefix: "\xff"}, den.KeyRange{Lo: "\xff"}},
		{"prefix narrows start", den.ListOptions{Prefix: "b", Start: "a"}, den.KeyRange{Lo: "b", Hi: "c", HasHi: true}},
		{"start inside prefix", den.ListOptions{Prefix: "b", Start: "bb"}, den.KeyRange{Lo: "bb", Hi: "c", HasHi: true}},
		{"end before prefix end", den.ListOptions{Prefix: "b", End: "bm"}, den.KeyRange{Lo: "b", Hi: "bm", HasHi: true}},
		{"empty", den.ListOptions{Start: "d", End: "b"}, den.KeyRange{Lo: "d", Hi: "b", HasHi: true, Empty: true}},
		{"impossible prefix", den.ListOptions{Prefix: "x", End: "a"}, den.KeyRange{Lo: "x", Hi: "a", HasHi: true, Empty: true}},
	} {
		got, err := tc.opts.Range()
		if err != nil || got != tc.want {
			t.Errorf("%s: Range() = %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
}

func TestListOptionsErrors(t *testing.T) {
	if _, err := (den.ListOptions{Start: "a", StartAfter: "b"}).Range(); err == nil || den.ErrorCode(err) != den.EINVALID {
		t.Errorf("Start with StartAfter: %v", err)
	}
	if _, err := (den.ListOptions{Limit: -1}).Range(); err == nil || err.Error() != "List limit must be positive." {
		t.Errorf("negative limit: %v", err)
	}
}

func TestLimits(t *testing.T) {
	big := make([]byte, den.MaxKeyBytes+1)
	for i := range big {
		big[i] = 'k'
	}
	if err := den.CheckKey(string(big)); den.ErrorCode(err) != den.ELIMIT || err.Error() != "Keys cannot be larger than 2048 bytes. A key of size 2049 was provided." {
		t.Errorf("CheckKey: %v", err)
	}
	if err := den.CheckKey(string(big[:den.MaxKeyBytes])); err != nil {
		t.Errorf("a key of exactly the limit: %v", err)
	}
	if err := den.CheckKey("\xff"); den.ErrorCode(err) != den.EINVALID {
		t.Errorf("non-UTF-8 key: %v", err)
	}
	if err := den.CheckEntry("k", make([]byte, den.MaxKeyValueBytes)); den.ErrorCode(err) != den.ELIMIT {
		t.Errorf("CheckEntry over 2 MiB: %v", err)
	}
	if err := den.CheckEntry("k", make([]byte, den.MaxKeyValueBytes-1)); err != nil {
		t.Errorf("CheckEntry at 2 MiB: %v", err)
	}
	if err := den.CheckBatch(129); err == nil || err.Error() != "Maximum number of key value pairs is 128. 129 pairs were provided." {
		t.Errorf("CheckBatch: %v", err)
	}
}
