package admin_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/den-run/den"
	"github.com/den-run/den/actor"
	"github.com/den-run/den/admin"
	"github.com/den-run/den/sqlite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const token = "s3cret-token"

// console is the operator API over a host of Box objects, served by
// httptest.
type console struct {
	url string
	ns  *den.Namespace
}

// box is an object the console reaches without constructing it.
type box struct{}

func newConsole(tb testing.TB) *console {
	tb.Helper()
	h := actor.New(actor.Config{Store: sqlite.NewStore(tb.TempDir()), Logger: slog.New(slog.DiscardHandler)},
		den.Class{Name: "Box", New: func(den.State, *den.Env) (any, error) {
			tb.Error("the console constructed the object")
			return &box{}, nil
		}})
	key, err := den.NewKey(nil)
	if err != nil {
		tb.Fatal(err)
	}
	ns := den.NewNamespace("BOXES", "Box", key, h)
	env := den.NewEnv([]*den.Namespace{ns}, nil)
	if err := h.Open(env); err != nil {
		tb.Fatal(err)
	}
	handler, err := admin.New(admin.Config{Env: env, Runner: h, Token: token, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	tb.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h.Close(ctx)
	})
	return &console{url: srv.URL, ns: ns}
}

// post sends body to path with auth as the Authorization header and returns
// the status and the decoded answer.
func (c *console) post(tb testing.TB, path, auth, body string) (int, map[string]any) {
	tb.Helper()
	req, err := http.NewRequest("POST", c.url+path, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		tb.Fatalf("answer %q is not JSON: %v", b, err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		tb.Errorf("Content-Type %q", ct)
	}
	return resp.StatusCode, out
}

func (c *console) sql(tb testing.TB, id, body string) (int, map[string]any) {
	tb.Helper()
	return c.post(tb, "/v1/namespaces/BOXES/objects/"+id+"/sql", "Bearer "+token, body)
}

func TestAuth(t *testing.T) {
	c := newConsole(t)
	path := "/v1/namespaces/BOXES/objects/name:a/sql"
	body := `{"sql": "SELECT 1"}`
	for _, auth := range []string{"", "Bearer", "Bearer wrong", "Basic " + token, "Bearer " + token + "x", token} {
		status, out := c.post(t, path, auth, body)
		if status != http.StatusUnauthorized || !strings.Contains(out["error"].(string), "bearer token") {
			t.Errorf("Authorization %q: %d %v", auth, status, out)
		}
	}
	// Even unknown paths need the token.
	if status, _ := c.post(t, "/nope", "", "{}"); status != http.StatusUnauthorized {
		t.Errorf("unknown path without a token: %d", status)
	}
	if status, _ := c.post(t, path, "bearer "+token, body); status != http.StatusOK {
		t.Errorf("lowercase scheme: %d", status)
	}
}

func TestSQLConsole(t *testing.T) {
	c := newConsole(t)
	status, out := c.sql(t, "name:a", `{"sql": "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, data BLOB, x REAL); INSERT INTO t (name, data, x) VALUES (?, ?, ?), ('b', NULL, 1e999)", "params": ["a", {"base64": "AAEC"}, 1.5]}`)
	if status != 200 {
		t.Fatalf("insert: %d %v", status, out)
	}
	want := map[string]any{"columns": []any{}, "rows": []any{}, "rowsRead": 0.0, "rowsWritten": 2.0}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("insert answered %v, want %v", out, want)
	}
	// The same object by its hex ID; duplicate columns kept; BLOBs in
	// base64; infinities as strings.
	id := c.ns.IDFromName("a").String()
	status, out = c.sql(t, id, `{"sql": "SELECT id, name, data, x, id FROM t WHERE id >= ? ORDER BY id", "params": [1]}`)
	want = map[string]any{
		"columns":     []any{"id", "name", "data", "x", "id"},
		"rows":        []any{[]any{1.0, "a", "AAEC", 1.5, 1.0}, []any{2.0, "b", nil, "Infinity", 2.0}},
		"rowsRead":    2.0,
		"rowsWritten": 0.0,
	}
	if status != 200 || !reflect.DeepEqual(out, want) {
		t.Errorf("select: %d %v\nwant %v", status, out, want)
	}
	// A failed statement rolls back the request's writes.
	status, out = c.sql(t, "name:a", `{"sql": "DELETE FROM t; SELECT * FROM nowhere"}`)
	if status != 400 || out["error"] != "no such table: nowhere: SQLITE_ERROR" {
		t.Errorf("failing script: %d %v", status, out)
	}
	if _, out = c.sql(t, "name:a", `{"sql": "SELECT count(*) AS n FROM t"}`); !reflect.DeepEqual(out["rows"], []any{[]any{2.0}}) {
		t.Errorf("rows after a failed script: %v", out)
	}
	// Another name is another object.
	if status, out = c.sql(t, "name:b", `{"sql": "SELECT count(*) FROM t"}`); status != 400 {
		t.Errorf("object b has table t: %d %v", status, out)
	}
}

func TestSQLConsoleRefusals(t *testing.T) {
	c := newConsole(t)
	for _, tc := range []struct {
		id, body string
		status   int
		err      string
	}{
		{"name:a", `{"sql": "SELECT * FROM _cf_KV"}`, 400, "access to _cf_KV.key is prohibited: SQLITE_AUTH"},
		{"name:a", `{"sql": "ATTACH 'x.db' AS x"}`, 400, "ATTACH and DETACH are not allowed"},
		{"name:a", `{"sql": "BEGIN"}`, 400, den.MsgSQLTransaction},
		{"name:a", `{"sql": "PRAGMA journal_mode = DELETE"}`, 400, "not authorized to use pragma: journal_mode"},
		{"name:a", `{"sql": "SELECT ?"}`, 400, den.MsgSQLBindings},
		{"name:a", `{"sql": ""}`, 400, `"sql" is required`},
		{"name:a", `{"sql": "SELECT 1", "param": []}`, 400, "invalid JSON body"},
		{"name:a", `{"sql": "SELECT ?", "params": [[1]]}`, 400, "params[0]: want null"},
		{"name:a", `{"sql": "SELECT ?", "params": [{"base64": "!"}]}`, 400, "params[0]: base64"},
		{"name:a", `not json`, 400, "invalid JSON body"},
		{"name:", `{"sql": "SELECT 1"}`, 400, "empty name"},
		{"abc", `{"sql": "SELECT 1"}`, 400, "64 hex digits"},
		{strings.Repeat("0", 64), `{"sql": "SELECT 1"}`, 400, "not valid for this namespace"},
	} {
		status, out := c.sql(t, tc.id, tc.body)
		if status != tc.status || !strings.Contains(out["error"].(string), tc.err) {
			t.Errorf("%s %s: %d %v, want %d %q", tc.id, tc.body, status, out, tc.status, tc.err)
		}
	}
	if status, out := c.post(t, "/v1/namespaces/NOPE/objects/name:a/sql", "Bearer "+token, `{"sql": "SELECT 1"}`); status != 404 || !strings.Contains(out["error"].(string), "BOXES") {
		t.Errorf("unknown namespace: %d %v", status, out)
	}
	if status, _ := c.post(t, "/v1/other", "Bearer "+token, `{}`); status != 404 {
		t.Errorf("unknown path: %d", status)
	}
}

func TestNewRequiresAToken(t *testing.T) {
	env := den.NewEnv(nil, nil)
	if _, err := admin.New(admin.Config{Env: env, Runner: actor.New(actor.Config{}), Token: " "}); den.ErrorCode(err) != den.EINVALID {
		t.Errorf("empty token: %v", err)
	}
}

func TestLoadToken(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, admin.TokenFile)
	tok, created, err := admin.LoadToken(path)
	if err != nil || !created || len(tok) != 64 {
		t.Fatalf("first load: %q %v %v", tok, created, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi.Mode(), err)
	}
	again, created, err := admin.LoadToken(path)
	if err != nil || created || again != tok {
		t.Errorf("second load: %q %v %v, want the same token", again, created, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := admin.LoadToken(path); den.ErrorCode(err) != den.EINVALID || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable token: %v", err)
	}
	if err := os.WriteFile(path, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o600)
	if _, _, err := admin.LoadToken(path); den.ErrorCode(err) != den.EINVALID {
		t.Errorf("empty token file: %v", err)
	}
}
