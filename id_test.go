package den_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/den-run/den"
)

func mustKey(tb testing.TB, seed byte) den.Key {
	tb.Helper()
	k, err := den.NewKey(bytes.NewReader(bytes.Repeat([]byte{seed}, 32)))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func TestIDFromNameIsDeterministicPerNamespace(t *testing.T) {
	k1, k2 := mustKey(t, 1), mustKey(t, 2)
	a, b := k1.IDFromName("room"), k1.IDFromName("room")
	if !a.Equal(b) || a.String() != b.String() {
		t.Fatalf("same name, same key gave %s and %s", a, b)
	}
	if a.Name() != "room" {
		t.Fatalf("Name() = %q, want room", a.Name())
	}
	if k2.IDFromName("room").Equal(a) {
		t.Fatal("two namespaces gave the same ID for one name")
	}
	if k1.IDFromName("other").Equal(a) {
		t.Fatal("two names gave the same ID")
	}
	s := a.String()
	if len(s) != 64 || strings.ToLower(s) != s {
		t.Fatalf("String() = %q, want 64 lowercase hex digits", s)
	}
}

func TestParseIDRoundTripsAndDropsName(t *testing.T) {
	k := mustKey(t, 1)
	id := k.IDFromName("room")
	got, err := k.ParseID(id.String())
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(id) || got.Name() != "" {
		t.Fatalf("ParseID = %v name %q; want equal ID with no name", got, got.Name())
	}
	u, err := k.NewUniqueID(nil)
	if err != nil {
		t.Fatal(err)
	}
	if u.Name() != "" {
		t.Fatal("unique ID has a name")
	}
	if _, err := k.ParseID(u.String()); err != nil {
		t.Fatalf("unique ID does not parse: %v", err)
	}
}

func TestParseIDErrors(t *testing.T) {
	k, other := mustKey(t, 1), mustKey(t, 2)
	id := k.IDFromName("x").String()
	forged := id[:63] + string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", id[63])+1)%16])
	for _, tc := range []struct {
		in   string
		want error
		msg  string
	}{
		{"", den.ErrInvalidID, "must be 64 hex digits (got 0 characters)"},
		{id[:63], den.ErrInvalidID, "got 63 characters"},
		{"A" + id[1:], den.ErrInvalidID, "use lowercase hex"},
		{"g" + id[1:], den.ErrInvalidID, `character 1 is 'g'`},
		{forged, den.ErrForeignID, "not valid for this namespace"},
		{other.IDFromName("x").String(), den.ErrForeignID, "not valid for this namespace"},
	} {
		_, err := k.ParseID(tc.in)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("ParseID(%q) = %v; want %v containing %q", tc.in, err, tc.want, tc.msg)
		}
		if den.ErrorCode(err) != den.EINVALID {
			t.Errorf("ParseID(%q) code = %q, want invalid", tc.in, den.ErrorCode(err))
		}
	}
}

func TestIDNameLimit(t *testing.T) {
	k := mustKey(t, 1)
	long := strings.Repeat("n", den.MaxIDNameBytes+1)
	if got := k.IDFromName(long).Name(); got != "" {
		t.Fatalf("a name over %d bytes was kept", den.MaxIDNameBytes)
	}
	if got := k.IDFromName(long[:den.MaxIDNameBytes]).Name(); len(got) != den.MaxIDNameBytes {
		t.Fatal("a name of exactly the limit was dropped")
	}
}

func TestUniqueIDsDiffer(t *testing.T) {
	k := mustKey(t, 1)
	seen := map[[32]byte]bool{}
	for range 1000 {
		id, err := k.NewUniqueID(nil)
		if err != nil {
			t.Fatal(err)
		}
		if seen[id.Bytes()] {
			t.Fatal("duplicate unique ID")
		}
		seen[id.Bytes()] = true
	}
}

func FuzzParseID(f *testing.F) {
	k := mustKey(f, 7)
	f.Add(k.IDFromName("a").String())
	f.Add("")
	f.Add(strings.Repeat("f", 64))
	f.Add(strings.Repeat("Z", 64))
	f.Fuzz(func(t *testing.T, s string) {
		id, err := k.ParseID(s)
		if err != nil {
			if den.ErrorCode(err) != den.EINVALID {
				t.Fatalf("code %q", den.ErrorCode(err))
			}
			return
		}
		if id.String() != s {
			t.Fatalf("parsed %q as %s", s, id)
		}
		// Only IDs signed by k parse: re-deriving the MAC agrees.
		if mustKey(t, 8).IDFromName(s).Equal(id) {
			t.Fatal("foreign key produced the same ID")
		}
	})
}

func ExampleKey_IDFromName() {
	key := den.Key{1, 2, 3} // a real key comes from the data directory
	id := key.IDFromName("lobby")
	parsed, err := key.ParseID(id.String())
	if err != nil {
		panic(err)
	}
	fmt.Println(len(id.String()))
	_ = parsed.Equal(id) // true: IDs compare by their bytes
	_, err = den.Key{9}.ParseID(id.String())
	fmt.Println(err)
	// Output:
	// 64
	// Durable Object ID is not valid for this namespace.
}
