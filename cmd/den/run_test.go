package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// runT runs a command line and returns its exit status and output.
func runT(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, stdio{In: strings.NewReader(""), Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

func TestHelp(t *testing.T) {
	code, out, _ := runT(t, "help")
	if code != 0 || !strings.Contains(out, "version") {
		t.Fatalf("help: code %d, output %q", code, out)
	}
	code, _, errs := runT(t)
	if code != 2 || !strings.Contains(errs, "Usage: den") {
		t.Fatalf("no args: code %d, stderr %q", code, errs)
	}
}

func TestUnknownCommand(t *testing.T) {
	code, _, errs := runT(t, "frobnicate")
	if code != 2 || !strings.Contains(errs, `unknown command "frobnicate"`) {
		t.Fatalf("code %d, stderr %q", code, errs)
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	for name, c := range commands {
		if c.Summary == "" {
			t.Errorf("%s: no summary", name)
		}
		code, _, errs := runT(t, name, "--help")
		if code != 0 || !strings.Contains(errs, "Usage: den "+name) {
			t.Errorf("%s --help: code %d, output %q", name, code, errs)
		}
	}
}

func TestUsageMistake(t *testing.T) {
	code, _, errs := runT(t, "version", "extra")
	if code != 2 || !strings.Contains(errs, "takes no arguments") {
		t.Fatalf("code %d, stderr %q", code, errs)
	}
}
