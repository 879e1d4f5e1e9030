package admin

import (
	"testing"
	"time"
)

// FuzzParseWhen checks ?from= and ?to= parsing: any text is a time or an
// EINVALID error, never a panic; a duration is that long before now.
func FuzzParseWhen(f *testing.F) {
	for _, s := range []string{"", "24h", "2026-11-02", "2026-11-02T15:04:05Z", "-1h", "yesterday", "9999999999h"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseWhen(s, now, now)
		if err != nil {
			return
		}
		if d, derr := time.ParseDuration(s); derr == nil && d >= 0 && !got.Equal(now.Add(-d)) {
			t.Errorf("%q: %v, want %v", s, got, now.Add(-d))
		}
	})
}
