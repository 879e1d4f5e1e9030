package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaks a goroutine.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites the file with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./bench -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (run go test ./bench -update if the change is right):\n%s", path, got)
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.Duration != 10*time.Second || o.Objects != 10_000 || o.HotConns != 16 || o.Conns != 128 ||
		strings.Join(o.Runtimes, ",") != "go,den,workerd" || strings.Join(o.Workloads, ",") != "hot,rr,new" {
		t.Errorf("defaults: %+v", o)
	}
	o, err = parseFlags([]string{"-quick", "-objects", "50", "-runtimes", "den, workerd", "-den-flags", "--max-live 20000"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Duration != 2*time.Second || o.Objects != 50 || strings.Join(o.Runtimes, ",") != "den,workerd" || len(o.DenFlags) != 2 {
		t.Errorf("-quick with -objects 50: %+v", o)
	}
	for _, args := range [][]string{
		{"-runtimes", "node"},
		{"-workloads", ""},
		{"-duration", "10ms"},
		{"-threads", "4", "-hot-conns", "2"},
		{"extra"},
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
}
