package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/serve"
)

// note is the test app's object: one SQL table and one key.
type note struct{ st den.State }

func (n *note) Write(ctx context.Context, text string) (string, error) {
	s := n.st.Storage()
	if _, err := s.SQL().Exec("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT)"); err != nil {
		return "", err
	}
	if _, err := s.SQL().Exec("INSERT INTO notes (text) VALUES (?)", text); err != nil {
		return "", err
	}
	if err := s.Put("last", []byte(text)); err != nil {
		return "", err
	}
	return s.GetCurrentBookmark(ctx)
}

var noteApp = serve.App{
	Name:     "notes",
	Classes:  []den.Class{{Name: "Note", New: func(st den.State, _ *den.Env) (any, error) { return &note{st: st}, nil }}},
	Bindings: map[string]string{"NOTES": "Note"},
	Worker:   func(*den.Env) http.Handler { return http.NotFoundHandler() },
}

// startNotes serves the test app on dir with an admin API.
func startNotes(t *testing.T, dir string) *serve.Server {
	t.Helper()
	s, err := serve.Start(context.Background(), noteApp, serve.Config{
		Addr: "127.0.0.1:0", Data: dir, AdminAddr: "127.0.0.1:0", AdminToken: "tok",
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func stop(t *testing.T, s *serve.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, s *serve.Server, name, text string) string {
	t.Helper()
	b, err := den.Call[string](context.Background(), s.Env().Namespace("NOTES").GetByName(name), "Write", text)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ok runs a command line that must succeed and returns its stdout.
func ok(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := runT(t, args...)
	if code != 0 {
		t.Fatalf("den %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func TestOfflineOperations(t *testing.T) {
	dir := t.TempDir()
	s := startNotes(t, dir)
	b1 := write(t, s, "ann", "first")
	write(t, s, "ann", "second")
	write(t, s, "bob", "hello")
	stop(t, s)
	data := "--data=" + dir

	if out := ok(t, "namespaces", data); !strings.Contains(out, "NOTES") || !strings.Contains(out, "Note") || !strings.Contains(out, "2") {
		t.Errorf("namespaces:\n%s", out)
	}
	var page struct{ Objects []objectInfo }
	json.Unmarshal([]byte(ok(t, "objects", data, "--json", "NOTES")), &page)
	if len(page.Objects) != 2 {
		t.Errorf("objects: %+v", page)
	}
	named := map[string]bool{}
	for _, o := range page.Objects {
		named[o.Name] = true
	}
	if !named["ann"] || !named["bob"] {
		t.Errorf("objects: %+v, want the names the server saw (ann, bob), from its catalog", page)
	}
	if out := ok(t, "show", data, "NOTES", "name:ann"); !strings.Contains(out, "history:") || !strings.Contains(out, "size:") || strings.Contains(out, "history:     none") {
		t.Errorf("show:\n%s", out)
	}
	if out := ok(t, "sql", data, "NOTES", "name:ann", "SELECT text FROM notes WHERE id > ?", "0"); !strings.Contains(out, "first") || !strings.Contains(out, "second") {
		t.Errorf("sql:\n%s", out)
	}

	// Export at the first bookmark, as SQLite and as JSON lines; import
	// the JSON lines into another object.
	file := filepath.Join(t.TempDir(), "ann.sqlite")
	ok(t, "export", data, "--bookmark", b1, "-o", file, "NOTES", "name:ann")
	if b, _ := os.ReadFile(file); !bytes.HasPrefix(b, []byte("SQLite format 3")) {
		t.Errorf("exported file is not a database")
	}
	jl := filepath.Join(t.TempDir(), "ann.jsonl")
	ok(t, "export", data, "--format=jsonl", "-o", jl, "NOTES", "name:ann")
	if b, _ := os.ReadFile(jl); !strings.Contains(string(b), `"type":"kv","key":"last","value":"second"`) || !strings.Contains(string(b), `"text":"first"`) {
		t.Errorf("JSON lines:\n%s", b)
	}
	ok(t, "import", data, "--format=jsonl", "NOTES", "name:copy", jl)
	if out := ok(t, "sql", data, "NOTES", "name:copy", "SELECT group_concat(text) FROM notes"); !strings.Contains(out, "first,second") {
		t.Errorf("imported JSON lines:\n%s", out)
	}
	ok(t, "import", data, "NOTES", "name:old", file)
	if out := ok(t, "sql", data, "NOTES", "name:old", "SELECT group_concat(text) FROM notes"); !strings.Contains(out, "first") || strings.Contains(out, "second") {
		t.Errorf("imported SQLite file:\n%s", out)
	}

	// Restore to the first bookmark, then undo.
	out := ok(t, "restore", data, "--bookmark", b1, "NOTES", "name:ann")
	undo := strings.TrimSpace(out[strings.LastIndex(out, "--bookmark ")+len("--bookmark "):])
	if out := ok(t, "sql", data, "NOTES", "name:ann", "SELECT count(*) FROM notes"); !strings.Contains(out, "1") {
		t.Errorf("after restore:\n%s", out)
	}
	ok(t, "restore", data, "--bookmark", undo, "NOTES", "name:ann")
	if out := ok(t, "sql", data, "NOTES", "name:ann", "SELECT count(*) FROM notes"); !strings.Contains(out, "2") {
		t.Errorf("after undo:\n%s", out)
	}

	// Fork at a time, then delete the fork.
	ok(t, "fork", data, "--at", time.Now().UTC().Format(time.RFC3339Nano), "--to", "name:ann2", "NOTES", "name:ann")
	if out := ok(t, "sql", data, "NOTES", "name:ann2", "SELECT count(*) FROM notes"); !strings.Contains(out, "2") {
		t.Errorf("fork:\n%s", out)
	}
	if code, _, errs := runT(t, "delete", data, "NOTES", "name:ann2"); code != 2 || !strings.Contains(errs, "--yes") {
		t.Errorf("delete without --yes: %d %s", code, errs)
	}
	ok(t, "delete", data, "--yes", "NOTES", "name:ann2")
	if code, _, errs := runT(t, "show", data, "NOTES", "name:ann2"); code != 1 || !strings.Contains(errs, "no database") {
		t.Errorf("show after delete: %d %s", code, errs)
	}

	// The server refuses to share the directory; so does the tool.
	s = startNotes(t, dir)
	defer stop(t, s)
	if code, _, errs := runT(t, "namespaces", data); code != 1 || !strings.Contains(errs, "in use") {
		t.Errorf("offline while serving: %d %s", code, errs)
	}
}

func TestOnlineOperations(t *testing.T) {
	dir := t.TempDir()
	s := startNotes(t, dir)
	defer stop(t, s)
	b1 := write(t, s, "ann", "first")
	write(t, s, "ann", "second")
	admin := "--admin=http://" + s.AdminAddr()

	if code, _, errs := runT(t, "bookmark", admin, "NOTES", "name:ann"); code != 2 || !strings.Contains(errs, "DEN_ADMIN_TOKEN") {
		t.Errorf("no token: %d %s", code, errs)
	}
	t.Setenv("DEN_ADMIN_TOKEN", "tok")
	now := strings.TrimSpace(ok(t, "bookmark", admin, "NOTES", "name:ann"))
	if now <= b1 {
		t.Errorf("bookmark now %s, after %s", now, b1)
	}
	ok(t, "restore", admin, "--bookmark", b1, "NOTES", "name:ann")
	if out := ok(t, "sql", admin, "--json", "NOTES", "name:ann", "SELECT count(*) AS n FROM notes"); !strings.Contains(out, `"rows": [`) || !strings.Contains(out, "1") {
		t.Errorf("after restore:\n%s", out)
	}
	file := filepath.Join(t.TempDir(), "x.sqlite")
	ok(t, "export", admin, "--progress", "-o", file, "NOTES", "name:ann")
	ok(t, "import", admin, "NOTES", "name:imp", file)
	ok(t, "fork", admin, "--to", "name:f", "NOTES", "name:ann")
	if out := ok(t, "sql", admin, "NOTES", "name:f", "SELECT text FROM notes"); !strings.Contains(out, "first") || strings.Contains(out, "second") {
		t.Errorf("fork:\n%s", out)
	}
	if code, _, errs := runT(t, "restore", admin, "--bookmark", "0000000000000000-0000000000000001-00000000", "NOTES", "name:ann"); code != 1 || !strings.Contains(errs, "not in this object's history") {
		t.Errorf("bad bookmark: %d %s", code, errs)
	}
}

// TestOnlineListing runs the listing commands against a stand-in for the
// listing endpoints (GET /v1/namespaces, …/objects), checking the contract
// the tool expects.
func TestOnlineListing(t *testing.T) {
	var gotAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/v1/namespaces":
			io.WriteString(w, `[{"name": "NOTES", "class": "Note", "objects": 3}]`)
		case r.URL.Path == "/v1/namespaces/NOTES/objects" && r.URL.Query().Get("cursor") == "":
			io.WriteString(w, `{"objects": [{"id": "aa", "name": "ann", "bytes": 4096, "state": "live", "last_active": "2026-01-01T00:00:00Z", "alarm": null, "websockets": 2}], "cursor": "aa"}`)
		case r.URL.Path == "/v1/namespaces/NOTES/objects":
			io.WriteString(w, `{"objects": [{"id": "bb", "name": "", "bytes": 8192, "state": "stored", "last_active": "2026-01-02T00:00:00Z", "alarm": "2026-02-01T00:00:00Z", "websockets": 0}], "cursor": null}`)
		default:
			w.WriteHeader(404)
			io.WriteString(w, `{"error": "no"}`)
		}
	}))
	defer srv.Close()
	admin := []string{"--admin=" + srv.URL, "--token=tok"}
	if out := ok(t, append([]string{"namespaces"}, admin...)...); !strings.Contains(out, "NOTES") || !strings.Contains(out, "3") {
		t.Errorf("namespaces:\n%s", out)
	}
	if gotAuth != "Bearer tok" {
		t.Errorf("Authorization %q", gotAuth)
	}
	out := ok(t, append(append([]string{"objects"}, admin...), "--all", "NOTES")...)
	if !strings.Contains(out, "ann") || !strings.Contains(out, "bb") || !strings.Contains(out, "2026-02-01") {
		t.Errorf("objects --all:\n%s", out)
	}
	code, out, errs := runT(t, append(append([]string{"objects"}, admin...), "NOTES")...)
	if code != 0 || strings.Contains(out, "bb") || !strings.Contains(errs, "--cursor aa") {
		t.Errorf("objects (one page): %d\n%s%s", code, out, errs)
	}
}
