package config_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/config"
)

// derived is the alarm index as serve names it: removed when classes move.
var derived = []string{"alarms.sqlite", "alarms.sqlite-wal"}

func mustParse(tb testing.TB, src string) *config.Project {
	tb.Helper()
	p, err := config.Parse("wrangler.jsonc", []byte(src))
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// writeFiles creates files (path → contents) under dir.
func writeFiles(tb testing.TB, dir string, files map[string]string) {
	tb.Helper()
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
}

// tree returns every file under dir (path → contents) and every empty
// directory (path/ → "").
func tree(tb testing.TB, dir string) map[string]string {
	tb.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			if ents, _ := os.ReadDir(path); len(ents) == 0 && rel != "." {
				out[rel+"/"] = ""
			}
			return nil
		}
		b, err := os.ReadFile(path)
		out[rel] = string(b)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

var fixedNow = func() time.Time { return time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC) }

func migrate(tb testing.TB, data string, p *config.Project, fsys config.FS) ([]string, error) {
	tb.Helper()
	return config.Migrate(context.Background(), data, p, config.MigrateOptions{Derived: derived, FS: fsys, Now: fixedNow})
}

const v1 = `{"tag": "v1", "new_sqlite_classes": ["Counter", "Chat"]}`

func TestMigrateRenameMovesKeyAndObjects(t *testing.T) {
	data := t.TempDir()
	writeFiles(t, data, map[string]string{
		"objects/Counter/ab/cd/abcd.sqlite": "db",
		"keys/Counter.key":                  "key",
		"alarms.sqlite":                     "index",
	})
	applied, err := migrate(t, data, mustParse(t, `{"migrations": [`+v1+`]}`), nil)
	if err != nil || !slices.Equal(applied, []string{"v1"}) {
		t.Fatalf("v1: %v %v", applied, err)
	}
	if got := tree(t, data); got["alarms.sqlite"] != "index" || got["objects/Counter/ab/cd/abcd.sqlite"] != "db" {
		t.Fatalf("creating classes changed files: %v", got)
	}
	p := mustParse(t, `{"migrations": [`+v1+`, {"tag": "v2", "renamed_classes": [{"from": "Counter", "to": "Tally"}]}]}`)
	applied, err = migrate(t, data, p, nil)
	if err != nil || !slices.Equal(applied, []string{"v2"}) {
		t.Fatalf("v2: %v %v", applied, err)
	}
	got := tree(t, data)
	if got["objects/Tally/ab/cd/abcd.sqlite"] != "db" || got["keys/Tally.key"] != "key" {
		t.Fatalf("after the rename: %v", got)
	}
	for _, gone := range []string{"objects/Counter/ab/cd/abcd.sqlite", "keys/Counter.key", "alarms.sqlite", config.JournalFile} {
		if _, ok := got[gone]; ok {
			t.Errorf("%s is still there", gone)
		}
	}
	if !strings.Contains(got[config.StateFile], `"tag": "v2"`) {
		t.Fatalf("record: %s", got[config.StateFile])
	}
	if applied, err := migrate(t, data, p, nil); err != nil || len(applied) != 0 {
		t.Fatalf("again: %v %v", applied, err)
	}
}

func TestMigrateDelete(t *testing.T) {
	data := t.TempDir()
	writeFiles(t, data, map[string]string{
		"objects/Counter/ab/cd/abcd.sqlite": "counter",
		"keys/Counter.key":                  "counter key",
		"objects/Chat/ab/cd/abcd.sqlite":    "chat",
		"keys/Chat.key":                     "chat key",
	})
	p := mustParse(t, `{"migrations": [`+v1+`, {"tag": "v2", "deleted_classes": ["Chat"]}]}`)
	if _, err := migrate(t, data, p, nil); err != nil {
		t.Fatal(err)
	}
	got := tree(t, data)
	delete(got, config.StateFile)
	want := map[string]string{"objects/Counter/ab/cd/abcd.sqlite": "counter", "keys/Counter.key": "counter key"}
	if !maps.Equal(got, want) {
		t.Fatalf("after the delete: %v, want %v", got, want)
	}
}

func TestMigrateTransfer(t *testing.T) {
	data, old := t.TempDir(), t.TempDir()
	writeFiles(t, old, map[string]string{
		"objects/Legacy/ab/cd/abcd.sqlite": "legacy",
		"keys/Legacy.key":                  "legacy key",
		"alarms.sqlite":                    "their index",
		"keys/Other.key":                   "stays",
	})
	p := mustParse(t, fmt.Sprintf(`{"name": "new", "migrations": [{"tag": "v1", "transferred_classes": [{"from": "Legacy", "from_script": "old", "to": "Room"}]}],
		"den": {"apps": {"old": {"data": %q}}}}`, old))
	var locked []string
	_, err := config.Migrate(context.Background(), data, p, config.MigrateOptions{Derived: derived, Lock: func(dir string) (func() error, error) {
		locked = append(locked, dir)
		return func() error { return nil }, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(locked, []string{old}) {
		t.Fatalf("locked %v, want the old app's directory", locked)
	}
	if got := tree(t, data); got["objects/Room/ab/cd/abcd.sqlite"] != "legacy" || got["keys/Room.key"] != "legacy key" {
		t.Fatalf("here: %v", got)
	}
	got := tree(t, old)
	if _, ok := got["alarms.sqlite"]; ok || got["keys/Other.key"] != "stays" || got["keys/Legacy.key"] != "" {
		t.Fatalf("there: %v", got)
	}

	// A transfer needs to know where the other app keeps its data, and that
	// it holds the class.
	p = mustParse(t, `{"migrations": [{"tag": "v1", "transferred_classes": [{"from": "Legacy", "from_script": "old", "to": "Room"}]}]}`)
	if _, err := migrate(t, t.TempDir(), p, nil); err == nil || !strings.Contains(err.Error(), `"den": {"apps": {"old": {"data": "PATH"}}}`) {
		t.Fatalf("no den.apps: %v", err)
	}
	p = mustParse(t, fmt.Sprintf(`{"migrations": [{"tag": "v1", "transferred_classes": [{"from": "Legacy", "from_script": "old", "to": "Room"}]}], "den": {"apps": {"old": {"data": %q}}}}`, t.TempDir()))
	if _, err := migrate(t, t.TempDir(), p, nil); err == nil || !strings.Contains(err.Error(), "holds no data of that class") {
		t.Fatalf("empty source: %v", err)
	}
}

func TestMigrateRefusesToOverwrite(t *testing.T) {
	data := t.TempDir()
	writeFiles(t, data, map[string]string{"keys/Counter.key": "a", "keys/Tally.key": "b"})
	p := mustParse(t, `{"migrations": [`+v1+`, {"tag": "v2", "renamed_classes": [{"from": "Counter", "to": "Tally"}]}]}`)
	_, err := migrate(t, data, p, nil)
	if den.ErrorCode(err) != den.EINVALID || !strings.Contains(err.Error(), "Tally.key already exists") {
		t.Fatalf("got %v", err)
	}
	if got := tree(t, data); got["keys/Counter.key"] != "a" || got["keys/Tally.key"] != "b" {
		t.Fatalf("files changed: %v", got)
	}
}

// TestMigrateAppliedTagsStay: once applied, a migration must stay in every
// later file, in its place, unchanged.
func TestMigrateAppliedTagsStay(t *testing.T) {
	data := t.TempDir()
	v2 := `{"tag": "v2", "new_classes": ["Room"]}`
	if _, err := migrate(t, data, mustParse(t, `{"migrations": [`+v1+`, `+v2+`]}`), nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, src, want string }{
		{"dropped", `{"migrations": [` + v1 + `]}`, `migration "v2" was applied to`},
		{"none", `{}`, `migration "v1" was applied to`},
		{"reordered", `{"migrations": [` + v2 + `, ` + v1 + `]}`, `it is number 1 here`},
		{"edited", `{"migrations": [` + v1 + `, {"tag": "v2", "new_classes": ["Rooms"]}]}`, `migration "v2" was changed after it was applied`},
	} {
		_, err := migrate(t, data, mustParse(t, tc.src), nil)
		if den.ErrorCode(err) != den.EINVALID || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
	// Comments and layout are not content.
	if _, err := migrate(t, data, mustParse(t, "{\"migrations\": [\n// first\n"+v1+",\n"+v2+",\n]}"), nil); err != nil {
		t.Fatalf("reformatted: %v", err)
	}
}

// faultFS fails the nth change (counting from 0): before making it, or
// after (the change is made, then the call fails, as a crash right after a
// write would look).
type faultFS struct {
	config.FS
	n     int
	after bool
	count int
}

var errInjected = errors.New("injected failure")

func (f *faultFS) change(do func() error) error {
	i := f.count
	f.count++
	if i != f.n {
		return do()
	}
	if f.after {
		if err := do(); err != nil {
			return err
		}
	}
	return errInjected
}

func (f *faultFS) WriteFile(name string, b []byte) error {
	return f.change(func() error { return f.FS.WriteFile(name, b) })
}
func (f *faultFS) Rename(a, b string) error {
	return f.change(func() error { return f.FS.Rename(a, b) })
}
func (f *faultFS) Remove(name string) error {
	return f.change(func() error { return f.FS.Remove(name) })
}
func (f *faultFS) RemoveAll(p string) error {
	return f.change(func() error { return f.FS.RemoveAll(p) })
}
func (f *faultFS) MkdirAll(p string) error { return f.change(func() error { return f.FS.MkdirAll(p) }) }
func (f *faultFS) SyncDir(d string) error  { return f.change(func() error { return f.FS.SyncDir(d) }) }

// noSyncFS is the OS file system without fsyncs: the crash test models a
// process that dies, not a power loss, and runs a hundred migrations.
type noSyncFS struct{ config.FS }

func (noSyncFS) SyncDir(string) error { return nil }
func (noSyncFS) WriteFile(name string, b []byte) error {
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

var fastOS = noSyncFS{config.OS}

// TestMigrateCrashAtEveryStep fails every change a run of migrations makes,
// one at a time, before and after the change, and checks that the next
// start finishes the work: the data directory ends exactly as after a run
// without failures, never half-migrated.
func TestMigrateCrashAtEveryStep(t *testing.T) {
	setup := func(t *testing.T) (data string, p *config.Project) {
		root := t.TempDir()
		data, old := filepath.Join(root, "data"), filepath.Join(root, "old")
		writeFiles(t, data, map[string]string{
			"objects/Counter/ab/cd/abcd.sqlite":     "counter",
			"objects/Counter/ab/cd/abcd.sqlite-wal": "counter wal",
			"keys/Counter.key":                      "counter key",
			"objects/Chat/ef/01/ef01.sqlite":        "chat",
			"keys/Chat.key":                         "chat key",
			"alarms.sqlite":                         "index",
		})
		writeFiles(t, old, map[string]string{"objects/X/12/34/1234.sqlite": "x", "keys/X.key": "x key"})
		p = mustParse(t, fmt.Sprintf(`{"migrations": [
			%s,
			{"tag": "v2", "renamed_classes": [{"from": "Counter", "to": "Tally"}], "deleted_classes": ["Chat"]},
			{"tag": "v3", "transferred_classes": [{"from": "X", "from_script": "old", "to": "Room"}], "new_classes": ["Extra"]},
		], "den": {"apps": {"old": {"data": %q}}}}`, v1, old))
		return data, p
	}
	// A clean run: the result to reach, and how many changes it makes.
	data, p := setup(t)
	counter := &faultFS{FS: fastOS, n: -1}
	if _, err := migrate(t, data, p, counter); err != nil {
		t.Fatal(err)
	}
	want := tree(t, filepath.Dir(data))
	if counter.count < 10 {
		t.Fatalf("only %d changes counted", counter.count)
	}
	for n := range counter.count {
		for _, after := range []bool{false, true} {
			t.Run(fmt.Sprintf("change%d/after=%v", n, after), func(t *testing.T) {
				data, p := setup(t)
				if _, err := migrate(t, data, p, &faultFS{FS: fastOS, n: n, after: after}); !errors.Is(err, errInjected) {
					t.Fatalf("the injected failure was not reported: %v", err)
				}
				if _, err := migrate(t, data, p, fastOS); err != nil {
					t.Fatalf("restart: %v", err)
				}
				got := tree(t, filepath.Dir(data))
				if !maps.Equal(got, want) {
					t.Fatalf("after a failure and a restart:\n%v\nwant\n%v", got, want)
				}
			})
		}
	}
}
