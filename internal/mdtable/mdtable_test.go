package mdtable_test

import (
	"strings"
	"testing"

	"github.com/den-run/den/internal/mdtable"
)

func TestWrite(t *testing.T) {
	var b strings.Builder
	mdtable.Write(&b, [][]string{{"runtime", "µs"}, {"Den", "1"}, {"workerd", "1234"}})
	want := "| runtime | µs   |\n| ------- | ---- |\n| Den     | 1    |\n| workerd | 1234 |\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	mdtable.Write(&b, nil)
	if b.Len() != 0 {
		t.Errorf("no rows wrote %q", b.String())
	}
}
