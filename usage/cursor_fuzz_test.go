package usage

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"testing"
)

// FuzzCursor checks that any cursor or ID prefix a client sends is either
// refused or read back as a page boundary, never a panic, and that cursors
// List makes read back as they were made.
func FuzzCursor(f *testing.F) {
	f.Add(hex.EncodeToString(make([]byte, 32)), "al", "0a")
	f.Add(hex.EncodeToString(bytes.Repeat([]byte{0xff}, 32))+"."+base64.RawURLEncoding.EncodeToString([]byte("ann")), "", "")
	f.Add("nope", "x", "ZZ")
	f.Add("", "", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	f.Fuzz(func(t *testing.T, cursor, name, prefix string) {
		if id, n, err := parseCursor(cursor); err == nil && cursor != "" {
			made := hex.EncodeToString(id)
			if n != "" || len(cursor) > 64 {
				made += "." + base64.RawURLEncoding.EncodeToString([]byte(n))
			}
			if id2, n2, err := parseCursor(made); err != nil || !bytes.Equal(id, id2) || n != n2 {
				t.Errorf("cursor %q → %x %q → %q does not read back", cursor, id, n, made)
			}
		}
		lo, hi, err := idRange(prefix)
		if err != nil {
			return
		}
		if len(lo) != 32 || len(hi) != 32 || bytes.Compare(lo, hi) > 0 {
			t.Errorf("prefix %q: range %x..%x", prefix, lo, hi)
		}
		if b := before(lo); bytes.Compare(b, lo) >= 0 {
			t.Errorf("before(%x) = %x is not below it", lo, b)
		}
	})
}
