package config_test

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/den-run/den"
	"github.com/den-run/den/config"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the current output")

// registered are the classes the golden files' app registers in code.
var registered = []string{"Chat", "Counter", "Room", "Tally", "User"}

// TestGolden parses every testdata/*.jsonc, checks it against registered,
// and compares the errors (or, for a valid file, the parsed project) with
// testdata/NAME.golden. Run with -update to rewrite the golden files.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.jsonc")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".jsonc")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got := describe(t, filepath.Base(path), src)
			golden := strings.TrimSuffix(path, ".jsonc") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./config -run TestGolden -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s (rerun with -update if the change is intended)\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

// describe parses and checks src and returns the errors one per line, or
// the project as indented JSON.
func describe(t *testing.T, name string, src []byte) string {
	t.Helper()
	p, err := config.Parse(name, src)
	if err == nil {
		err = p.Check(registered)
	}
	if err != nil {
		if den.ErrorCode(err) != den.EINVALID {
			t.Errorf("code %q, want %q", den.ErrorCode(err), den.EINVALID)
		}
		var es config.Errors
		if !errors.As(err, &es) || len(es) == 0 {
			t.Fatalf("error %v is not config.Errors", err)
		}
		return err.Error() + "\n"
	}
	return summary(p)
}

// summary lists what a project holds, one fact per line, with lines.
func summary(p *config.Project) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name %q\n", p.Name)
	for _, bd := range p.Bindings {
		fmt.Fprintf(&b, "binding %s -> %s script %q (line %d)\n", bd.Name, bd.ClassName, bd.ScriptName, bd.Pos.Line)
	}
	for _, m := range p.Migrations {
		fmt.Fprintf(&b, "migration %s (line %d) new %v sqlite %v deleted %v", m.Tag, m.Pos.Line, m.NewClasses, m.NewSQLiteClasses, m.DeletedClasses)
		for _, r := range m.RenamedClasses {
			fmt.Fprintf(&b, " rename %s->%s", r.From, r.To)
		}
		for _, t := range m.Transferred {
			fmt.Fprintf(&b, " transfer %s/%s->%s", t.FromScript, t.From, t.To)
		}
		b.WriteString("\n")
	}
	for _, k := range slices.Sorted(maps.Keys(p.Vars)) {
		fmt.Fprintf(&b, "var %s = %s\n", k, p.Vars[k])
	}
	for _, k := range slices.Sorted(maps.Keys(p.Den.Settings)) {
		fmt.Fprintf(&b, "den.%s = %s (%s)\n", k, p.Den.Settings[k].Value, p.Den.Settings[k].Pos)
	}
	for _, k := range slices.Sorted(maps.Keys(p.Den.ClassMaxDBSize)) {
		fmt.Fprintf(&b, "den.class_max_db_size.%s = %s\n", k, p.Den.ClassMaxDBSize[k].Value)
	}
	for _, k := range slices.Sorted(maps.Keys(p.Den.Apps)) {
		fmt.Fprintf(&b, "den.apps.%s.data = %s\n", k, p.Den.Apps[k].Value)
	}
	return b.String()
}

func TestPlainJSON(t *testing.T) {
	p, err := config.Parse("wrangler.json", []byte(`{"name":"x","durable_objects":{"bindings":[{"name":"C","class_name":"Counter"}]},"migrations":[{"tag":"v1","new_sqlite_classes":["Counter"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Check([]string{"Counter"}); err != nil {
		t.Fatal(err)
	}
	if got := p.BindingMap(); len(got) != 1 || got["C"] != "Counter" {
		t.Fatalf("bindings %v", got)
	}
}

// TestUnknownKeyNamesLine is the requirement in one line: a typo is an
// error naming the key, its line and column.
func TestUnknownKeyNamesLine(t *testing.T) {
	_, err := config.Parse("wrangler.jsonc", []byte("{\n  // comment\n  \"den\": {\n    \"idle_timout\": \"5s\",\n  },\n}\n"))
	want := `wrangler.jsonc:4:5: unknown key "idle_timout" in den; did you mean "idle_timeout"?`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	if got := config.Find(dir); got != "" {
		t.Fatalf("Find in an empty directory: %q", got)
	}
	path := filepath.Join(dir, "wrangler.jsonc")
	if err := os.WriteFile(path, []byte(`{"den": {"data": "state", "apps": {"o": {"data": "/abs"}}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := config.Find(dir); got != path {
		t.Fatalf("Find: %q, want %q", got, path)
	}
	p, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Path(p.Den.Settings["data"].Value); got != filepath.Join(dir, "state") {
		t.Fatalf("data resolves to %q", got)
	}
	if got := p.Path(p.Den.Apps["o"].Value); got != "/abs" {
		t.Fatalf("absolute path resolves to %q", got)
	}
	if _, err := config.Load(filepath.Join(dir, "missing.jsonc")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing file: %v", err)
	}
	big := filepath.Join(dir, "big.jsonc")
	if err := os.WriteFile(big, make([]byte, config.MaxFileBytes+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(big); den.ErrorCode(err) != den.ELIMIT || !strings.Contains(err.Error(), "1048576 bytes") {
		t.Fatalf("big file: %v", err)
	}
}

// FuzzParse checks that no input makes Parse panic, that every error
// names a position inside the input, and that what parses also checks
// without panicking.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.jsonc")
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"migrations":[{"tag":"a","renamed_classes":[{"from":"A","to":"A"}]}]}`))
	f.Add([]byte("\xff"))
	f.Fuzz(func(t *testing.T, src []byte) {
		p, err := config.Parse("f.jsonc", src)
		if err != nil {
			var es config.Errors
			if !errors.As(err, &es) {
				if den.ErrorCode(err) != den.ELIMIT {
					t.Fatalf("error %v is not config.Errors", err)
				}
				return
			}
			lines := strings.Count(string(src), "\n") + 1
			for _, e := range es {
				if e.Pos.Line < 1 || e.Pos.Line > lines || e.Pos.Col < 1 {
					t.Fatalf("error at %v outside the input (%d lines): %v", e.Pos, lines, e)
				}
			}
			return
		}
		_ = p.Check(registered)
		_ = p.BindingMap()
	})
}

// BenchmarkParse reads the complete example file (every section).
func BenchmarkParse(b *testing.B) {
	src, err := os.ReadFile("testdata/valid.jsonc")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if _, err := config.Parse("valid.jsonc", src); err != nil {
			b.Fatal(err)
		}
	}
}
