package serve

import (
	"io"
	"runtime"
	"strings"
	"testing"
)

func TestCapLive(t *testing.T) {
	for _, tc := range []struct{ maxLive, limit, want int }{
		{10_000, 0, 10_000},       // unknown limit
		{10_000, 1 << 20, 10_000}, // plenty
		{10_000, 20_000, 9_488},   // this machine: 2 files per object + 1024
		{10_000, 1_000, 1},        // absurdly low limit still serves
		{100, 20_000, 100},        // a small cap stays
	} {
		if got := capLive(tc.maxLive, tc.limit, 2); got != tc.want {
			t.Errorf("capLive(%d, %d, 2) = %d, want %d", tc.maxLive, tc.limit, got, tc.want)
		}
	}
}

func TestCapLiveCountsHistoryFiles(t *testing.T) {
	if got := capLive(10_000, 20_000, filesPerObject(true)); got != 9_488 {
		t.Errorf("with history: %d live objects fit 20,000 files, want 9,488 (history holds no file open between uses)", got)
	}
	if got := capLive(10_000, 20_000, filesPerObject(false)); got != 9_488 {
		t.Errorf("without history: %d, want 9,488", got)
	}
}

func TestRaiseOpenFileLimit(t *testing.T) {
	before, after := raiseOpenFileLimit()
	if after < before {
		t.Fatalf("raiseOpenFileLimit lowered the limit from %d to %d", before, after)
	}
	if got := openFileLimit(); got != after {
		t.Fatalf("limit is %d after raiseOpenFileLimit said %d", got, after)
	}
	if runtime.GOOS == "linux" && before < wantOpenFiles && after == before {
		t.Logf("open-file limit stays at %d: this process may not raise its hard limit (no CAP_SYS_RESOURCE)", after)
	}
}

// --io-uring takes on or off, from any layer, and off reaches the hub.
func TestIOURingSetting(t *testing.T) {
	app := App{Name: "t"}
	for _, tc := range []struct {
		args    []string
		env     string
		disable bool
		bad     bool
	}{
		{nil, "", false, false},
		{[]string{"--io-uring", "off"}, "", true, false},
		{nil, "off", true, false},
		{[]string{"--io-uring", "on"}, "off", false, false},
		{[]string{"--io-uring", "maybe"}, "", false, true},
	} {
		args := append([]string{"--data", t.TempDir()}, tc.args...)
		cfg, err := parse(app, args, func(k string) string {
			if k == "DEN_IO_URING" {
				return tc.env
			}
			return ""
		}, io.Discard)
		if tc.bad {
			if err == nil || !strings.Contains(err.Error(), "on or off") {
				t.Errorf("%v: err = %v", tc.args, err)
			}
			continue
		}
		if err != nil || cfg.DisableIOURing != tc.disable {
			t.Errorf("args %v env %q: DisableIOURing %v, err %v; want %v", tc.args, tc.env, cfg.DisableIOURing, err, tc.disable)
		}
	}
}
