package serve_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/den-run/den"
	"github.com/den-run/den/config"
	"github.com/den-run/den/internal/testhttp"
	"github.com/den-run/den/serve"
)

// fileApp is testApp with its bindings in a file rather than in code.
func fileApp(class string) serve.App {
	app := testApp(nil, nil)
	app.Bindings = nil
	app.Classes[0].Name = class
	return app
}

func project(tb testing.TB, src string) *config.Project {
	tb.Helper()
	p, err := config.Parse("wrangler.jsonc", []byte(src))
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func writeConfig(tb testing.TB, dir, src string) string {
	tb.Helper()
	path := filepath.Join(dir, "wrangler.jsonc")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

const noteFile = `{
  "name": "notes",
  "durable_objects": { "bindings": [ { "name": "NOTES", "class_name": "Note" } ] },
  "migrations": [ { "tag": "v1", "new_sqlite_classes": ["Note"] } ],
  "vars": { "GREETING": "from the file" },
  %s
}`

// TestRunReadsConfigFile: --config names the file; its den section sets
// what no flag or variable sets, with paths relative to the file; its
// bindings and vars reach the worker.
func TestRunReadsConfigFile(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, fmt.Sprintf(noteFile, `"den": { "addr": "127.0.0.1:0", "admin_addr": "off", "data": "state", "log_format": "json" },`))
	r := startRun(t, fileApp("Note"), []string{"--config", path}, nil)
	c := testhttp.Client(t)
	if status, _ := testhttp.Do(t, c, "PUT", "http://"+r.addr+"/notes/a", "x"); status != 204 {
		t.Fatalf("PUT: %d", status)
	}
	if status, body := testhttp.Do(t, c, "GET", "http://"+r.addr+"/vars/GREETING", ""); body != "from the file" {
		t.Fatalf("var: %d %q", status, body)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "state", "keys", "Note.key")); err != nil {
		t.Fatalf("den.data was not used, relative to the file: %v", err)
	}
	if !strings.Contains(r.stderr.String(), `"msg":"listening"`) {
		t.Errorf("den.log_format was not used:\n%s", r.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "state", config.StateFile)); err != nil || !strings.Contains(string(b), `"v1"`) {
		t.Fatalf("migration record: %s %v", b, err)
	}
}

// TestPrecedence: a flag beats its variable, which beats the file, which
// beats the default. Each layer is given a bad value; the error names the
// layer that won.
func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, fmt.Sprintf(noteFile, `"den": {
    "max_live": "from-file",
  },`))
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, nil, `invalid value "from-file" for den.max_live at ` + path + `:7:17`},
		{nil, map[string]string{"DEN_MAX_LIVE": "from-env"}, `"from-env" for DEN_MAX_LIVE`},
		{[]string{"--max-live", "from-flag"}, map[string]string{"DEN_MAX_LIVE": "from-env"}, `"from-flag" for --max-live`},
	} {
		env := map[string]string{"DEN_CONFIG": path}
		for k, v := range tc.env {
			env[k] = v
		}
		var out bytes.Buffer
		err := serve.Run(context.Background(), fileApp("Note"), append([]string{"--data", filepath.Join(dir, "data")}, tc.args...), func(k string) string { return env[k] }, &out, &out)
		if !errors.Is(err, serve.ErrUsage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("args %v env %v: got %v, want %q", tc.args, tc.env, err, tc.want)
		}
	}
	// A missing file named explicitly is an error, not a silent default.
	err := serve.Run(context.Background(), fileApp("Note"), []string{"--config", filepath.Join(dir, "nope.jsonc")}, func(string) string { return "" }, &bytes.Buffer{}, &bytes.Buffer{})
	if !errors.Is(err, serve.ErrUsage) || !strings.Contains(err.Error(), "nope.jsonc does not exist") {
		t.Fatalf("missing --config: %v", err)
	}
	// A typo in the file stops the app, naming the line.
	typo := writeConfig(t, t.TempDir(), `{"den": {"idle_timeout": "1s", "max_lives": 3}}`)
	err = serve.Run(context.Background(), fileApp("Note"), []string{"--config", typo}, func(string) string { return "" }, &bytes.Buffer{}, &bytes.Buffer{})
	if !errors.Is(err, serve.ErrUsage) || !strings.Contains(err.Error(), `:1:32: unknown key "max_lives" in den; did you mean "max_live"?`) {
		t.Fatalf("typo: %v", err)
	}
}

func startErr(tb testing.TB, app serve.App, cfg serve.Config) error {
	tb.Helper()
	cfg.Addr = "127.0.0.1:0"
	if cfg.Data == "" {
		cfg.Data = tb.TempDir()
	}
	cfg.Logger = slog.New(slog.DiscardHandler)
	s, err := serve.Start(context.Background(), app, cfg)
	if err == nil {
		s.Close(context.Background())
		tb.Fatal("Start succeeded")
	}
	return err
}

func TestBindingErrorsAtStart(t *testing.T) {
	for name, tc := range map[string]struct{ src, want string }{
		"unregistered": {`{"durable_objects": {"bindings": [{"name": "NOTES", "class_name": "Nope"}]}, "migrations": [{"tag": "v1", "new_sqlite_classes": ["Nope"]}]}`,
			"wrangler.jsonc:1:35: binding NOTES names class Nope, which the app does not register in code (registered: Note)"},
		"duplicate": {"{\"durable_objects\": {\"bindings\": [\n{\"name\": \"NOTES\", \"class_name\": \"Note\"},\n{\"name\": \"NOTES\", \"class_name\": \"Note\"}]},\n\"migrations\": [{\"tag\": \"v1\", \"new_sqlite_classes\": [\"Note\"]}]}",
			"wrangler.jsonc:3:1: duplicate binding NOTES (first at line 2)"},
		"no migration": {`{"durable_objects": {"bindings": [{"name": "NOTES", "class_name": "Note"}]}}`,
			`wrangler.jsonc:1:35: binding NOTES: class Note has no migration that creates it: add {"tag": "v1", "new_sqlite_classes": ["Note"]} to migrations`},
	} {
		t.Run(name, func(t *testing.T) {
			err := startErr(t, fileApp("Note"), serve.Config{Project: project(t, tc.src)})
			if den.ErrorCode(err) != den.EINVALID || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}

// TestCodeBindingsMustAgree: with a file, the file's bindings rule; code
// that also sets bindings must say the same.
func TestCodeBindingsMustAgree(t *testing.T) {
	p := project(t, fmt.Sprintf(noteFile, ""))
	mustStart(t, testApp(nil, nil), serve.Config{Project: p}) // NOTES → Note in both
	app := testApp(nil, nil)
	app.Bindings = map[string]string{"NOTES": "Note", "MORE": "Note"}
	if err := startErr(t, app, serve.Config{Project: p}); !strings.Contains(err.Error(), "binding MORE (class Note) is set in App.Bindings but not in wrangler.jsonc") {
		t.Fatalf("got %v", err)
	}
}

// TestSettingsOnlyFile: a file without bindings leaves them to the code.
func TestSettingsOnlyFile(t *testing.T) {
	s := mustStart(t, testApp(nil, nil), serve.Config{Project: project(t, `{"vars": {"GREETING": "hi"}}`)})
	if status, body := testhttp.Do(t, testhttp.Client(t), "GET", "http://"+s.Addr()+"/vars/GREETING", ""); body != "hi" {
		t.Fatalf("var: %d %q", status, body)
	}
	if s.Env().Namespace("NOTES") == nil {
		t.Fatal("the code's binding is gone")
	}
}

// TestBuiltinConfigFile: App.ConfigFile is used when no file is given.
func TestBuiltinConfigFile(t *testing.T) {
	app := fileApp("Note")
	app.ConfigFile = []byte(fmt.Sprintf(noteFile, ""))
	s := mustStart(t, app, serve.Config{})
	if status, body := testhttp.Do(t, testhttp.Client(t), "GET", "http://"+s.Addr()+"/vars/GREETING", ""); body != "from the file" {
		t.Fatalf("var: %d %q", status, body)
	}
	app.ConfigFile = []byte(`{"durable_objects": {"bindings": [{"name": "NOTES", "class_name": "Note"}]}}`)
	if err := startErr(t, app, serve.Config{}); !strings.Contains(err.Error(), "notes's built-in wrangler.jsonc:1:35: binding NOTES: class Note has no migration") {
		t.Fatalf("got %v", err)
	}
}

// TestRenameKeepsObjectsAndIDs renames a class with data: every object,
// named or unique, keeps its ID and its data under the new class name.
func TestRenameKeepsObjectsAndIDs(t *testing.T) {
	data := t.TempDir()
	ctx := context.Background()
	v1 := `{"tag": "v1", "new_sqlite_classes": ["Note"]}`
	s := mustStart(t, fileApp("Note"), serve.Config{Data: data, Project: project(t, `{
		"durable_objects": {"bindings": [{"name": "NOTES", "class_name": "Note"}]},
		"migrations": [`+v1+`]}`)})
	ns := s.Env().Namespace("NOTES")
	unique := ns.NewUniqueID()
	named := ns.IDFromName("a")
	for id, text := range map[den.ID]string{unique: "unique text", named: "named text"} {
		req := httptest.NewRequestWithContext(ctx, "PUT", "/", strings.NewReader(text))
		resp, err := ns.Get(id).Fetch(req)
		if err != nil || resp.StatusCode != 204 {
			t.Fatalf("PUT: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// The same data under the name Memo, bound as MEMOS.
	s = mustStart(t, fileApp("Memo"), serve.Config{Data: data, Project: project(t, `{
		"durable_objects": {"bindings": [{"name": "NOTES", "class_name": "Memo"}]},
		"migrations": [`+v1+`, {"tag": "v2", "renamed_classes": [{"from": "Note", "to": "Memo"}]}]}`)})
	ns = s.Env().Namespace("NOTES")
	if ns.Class() != "Memo" {
		t.Fatalf("class %s", ns.Class())
	}
	if got := ns.IDFromName("a"); got.String() != named.String() {
		t.Fatalf("the ID of name a changed: %s, was %s", got, named)
	}
	parsed, err := ns.IDFromString(unique.String())
	if err != nil {
		t.Fatalf("a unique ID of the old class is refused: %v", err)
	}
	if text, err := den.Call[string](ctx, ns.GetByName("a"), "Text"); err != nil || text != "named text" {
		t.Fatalf("named object after the rename: %q %v", text, err)
	}
	if text, err := den.Call[string](ctx, ns.Get(parsed), "Text"); err != nil || text != "unique text" {
		t.Fatalf("unique object after the rename: %q %v", text, err)
	}
	if _, err := os.Stat(filepath.Join(data, "objects", "Note")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the old class's objects are still there: %v", err)
	}
}

// TestDeleteClass: a delete is refused while a binding references the class
// (with Cloudflare's message), and once the binding is gone it removes the
// class's objects and key.
func TestDeleteClass(t *testing.T) {
	data := t.TempDir()
	v1 := `{"tag": "v1", "new_sqlite_classes": ["Note", "Old"]}`
	app := fileApp("Note")
	app.Classes = append(app.Classes, den.Class{Name: "Old", New: app.Classes[0].New})
	s := mustStart(t, app, serve.Config{Data: data, Project: project(t, `{
		"durable_objects": {"bindings": [{"name": "NOTES", "class_name": "Note"}, {"name": "OLD", "class_name": "Old"}]},
		"migrations": [`+v1+`]}`)})
	if _, err := den.Call[string](context.Background(), s.Env().Namespace("OLD").GetByName("x"), "Text"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	deleteOld := `"migrations": [` + v1 + `, {"tag": "v2", "deleted_classes": ["Old"]}]}`
	err := startErr(t, app, serve.Config{Data: data, Project: project(t, `{
		"durable_objects": {"bindings": [{"name": "NOTES", "class_name": "Note"}, {"name": "OLD", "class_name": "Old"}]},`+deleteOld)})
	if !strings.Contains(err.Error(), "Cannot apply --delete-class migration to class Old without also removing the binding that references it") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, "keys", "Old.key")); err != nil {
		t.Fatalf("a refused delete removed the key: %v", err)
	}
	mustStart(t, app, serve.Config{Data: data, Project: project(t, `{
		"durable_objects": {"bindings": [{"name": "NOTES", "class_name": "Note"}]},`+deleteOld)})
	for _, gone := range []string{"keys/Old.key", "objects/Old"} {
		if _, err := os.Stat(filepath.Join(data, gone)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s survived the delete: %v", gone, err)
		}
	}
}
