package notes_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/den-run/den/examples/notes/notes"
	"github.com/den-run/den/serve"
)

// TestMain fails the package if any test leaks a goroutine.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const adminToken = "test-admin-token"

// app is the notes app served in-process on free ports.
type app struct {
	s    *serve.Server
	base string
	c    *http.Client
}

func start(tb testing.TB, dir string) *app {
	tb.Helper()
	s, err := serve.Start(context.Background(), notes.App(), serve.Config{
		Addr:       "127.0.0.1:0",
		Data:       dir,
		AdminAddr:  "127.0.0.1:0",
		AdminToken: adminToken,
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		tb.Fatal(err)
	}
	a := &app{s: s, base: "http://" + s.Addr(), c: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}}
	tb.Cleanup(func() { a.close(tb) })
	return a
}

func (a *app) close(tb testing.TB) {
	a.c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.s.Close(ctx); err != nil {
		tb.Errorf("close: %v", err)
	}
}

// do sends a request as user (none if "") and decodes the JSON answer into
// out, if not nil; it returns the status.
func (a *app) do(tb testing.TB, user, method, path, body string, out any) int {
	tb.Helper()
	req, err := http.NewRequest(method, a.base+path, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if user != "" {
		req.Header.Set("X-User-ID", user)
	}
	resp, err := a.c.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			tb.Fatalf("%s %s: answer %q: %v", method, path, b, err)
		}
	}
	return resp.StatusCode
}

func (a *app) create(tb testing.TB, user, title, content string) notes.Note {
	tb.Helper()
	var n notes.Note
	body, _ := json.Marshal(map[string]string{"title": title, "content": content})
	if status := a.do(tb, user, "POST", "/notes", string(body), &n); status != http.StatusCreated {
		tb.Fatalf("create: %d", status)
	}
	return n
}

func (a *app) list(tb testing.TB, user, query string) []notes.Note {
	tb.Helper()
	var ns []notes.Note
	if status := a.do(tb, user, "GET", "/notes"+query, "", &ns); status != http.StatusOK {
		tb.Fatalf("list: %d", status)
	}
	return ns
}

func titles(ns []notes.Note) []string {
	out := []string{}
	for _, n := range ns {
		out = append(out, n.Title)
	}
	return out
}

func TestNotes(t *testing.T) {
	a := start(t, t.TempDir())
	var e map[string]string
	if status := a.do(t, "", "GET", "/notes", "", &e); status != http.StatusUnauthorized || !strings.Contains(e["error"], "X-User-ID") {
		t.Errorf("no X-User-ID: %d %v", status, e)
	}
	if ns := a.list(t, "ann", ""); len(ns) != 0 {
		t.Errorf("a new user has notes: %v", ns)
	}

	before := time.Now().UnixMilli()
	milk := a.create(t, "ann", "Milk", "two litres of oat milk")
	if milk.ID == "" || milk.Title != "Milk" || milk.Content != "two litres of oat milk" ||
		milk.CreatedAt < before || milk.CreatedAt > time.Now().UnixMilli() || milk.UpdatedAt != milk.CreatedAt {
		t.Errorf("created %+v", milk)
	}
	bread := a.create(t, "ann", "Bread", "sourdough")
	call := a.create(t, "ann", "Call Bob", "about the milk")
	if got := titles(a.list(t, "ann", "")); !reflect.DeepEqual(got, []string{"Call Bob", "Bread", "Milk"}) {
		t.Errorf("list %v, want newest first", got)
	}
	if ns := a.list(t, "bob", ""); len(ns) != 0 {
		t.Errorf("bob sees ann's notes: %v", titles(ns))
	}

	// Search covers title and content; every word must match.
	for q, want := range map[string][]string{
		"?q=milk":          {"Call Bob", "Milk"},
		"?q=MILK+oat":      {"Milk"},
		"?q=sourdough":     {"Bread"},
		"?q=nothing":       {},
		`?q=%22*+AND+(`:    {},
		"?q=":              {"Call Bob", "Bread", "Milk"},
		"?q=bob&other=one": {"Call Bob"},
	} {
		if got := titles(a.list(t, "ann", q)); !reflect.DeepEqual(got, want) {
			t.Errorf("search %s: %v, want %v", q, got, want)
		}
	}

	// Updating moves a note to the front and keeps it searchable.
	var upd notes.Note
	if status := a.do(t, "ann", "PUT", "/notes/"+milk.ID, `{"title": "Milk!", "content": "one litre of cow milk"}`, &upd); status != 200 {
		t.Fatalf("update: %d", status)
	}
	if upd.ID != milk.ID || upd.CreatedAt != milk.CreatedAt || upd.UpdatedAt <= call.UpdatedAt || upd.Content != "one litre of cow milk" {
		t.Errorf("updated %+v", upd)
	}
	if got := titles(a.list(t, "ann", "")); !reflect.DeepEqual(got, []string{"Milk!", "Call Bob", "Bread"}) {
		t.Errorf("after update: %v", got)
	}
	if got := titles(a.list(t, "ann", "?q=oat")); len(got) != 0 {
		t.Errorf("the old content is still found: %v", got)
	}
	if got := titles(a.list(t, "ann", "?q=cow")); !reflect.DeepEqual(got, []string{"Milk!"}) {
		t.Errorf("the new content is not found: %v", got)
	}
	// Content left out of a PUT stays.
	a.do(t, "ann", "PUT", "/notes/"+bread.ID, `{"title": "Rye bread"}`, &upd)
	if upd.Content != "sourdough" || upd.Title != "Rye bread" {
		t.Errorf("update without content: %+v", upd)
	}

	if status := a.do(t, "ann", "DELETE", "/notes/"+call.ID, "", nil); status != http.StatusNoContent {
		t.Errorf("delete: %d", status)
	}
	if status := a.do(t, "ann", "DELETE", "/notes/"+call.ID, "", &e); status != http.StatusNotFound || !strings.Contains(e["error"], call.ID) {
		t.Errorf("delete again: %d %v", status, e)
	}
	if got := titles(a.list(t, "ann", "?q=bob")); len(got) != 0 {
		t.Errorf("a deleted note is found: %v", got)
	}
}

func TestNotesErrors(t *testing.T) {
	a := start(t, t.TempDir())
	n := a.create(t, "ann", "One", "")
	for _, tc := range []struct {
		method, path, body string
		status             int
		err                string
	}{
		{"POST", "/notes", `{"title": `, 400, "invalid JSON"},
		{"POST", "/notes", `[1]`, 400, "invalid JSON"},
		{"POST", "/notes", `{"content": "no title"}`, 400, "title is required"},
		{"POST", "/notes", `{"title": "  "}`, 400, "title is required"},
		{"POST", "/notes", `{"title": 5}`, 400, "invalid JSON"},
		{"PUT", "/notes/" + n.ID, `{"content": "x"}`, 400, "title is required"},
		{"PUT", "/notes/" + n.ID, `nope`, 400, "invalid JSON"},
		{"PUT", "/notes/unknown", `{"title": "x"}`, 404, `no note "unknown"`},
		{"DELETE", "/notes/unknown", ``, 404, "no note"},
		{"GET", "/elsewhere", ``, 404, "not found"},
	} {
		var e map[string]string
		if status := a.do(t, "ann", tc.method, tc.path, tc.body, &e); status != tc.status || !strings.Contains(e["error"], tc.err) {
			t.Errorf("%s %s %s: %d %v, want %d %q", tc.method, tc.path, tc.body, status, e, tc.status, tc.err)
		}
	}
	if got := titles(a.list(t, "ann", "")); !reflect.DeepEqual(got, []string{"One"}) {
		t.Errorf("after the errors: %v", got)
	}
}

// TestNotesSurviveARestart checks that notes persist and that the
// constructor's migration runs again without harm.
func TestNotesSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	a := start(t, dir)
	a.create(t, "ann", "Kept", "across restarts")
	a.close(t)
	a = start(t, dir)
	if got := titles(a.list(t, "ann", "?q=restarts")); !reflect.DeepEqual(got, []string{"Kept"}) {
		t.Errorf("after a restart: %v", got)
	}
	later := a.create(t, "ann", "Later", "")
	if got := titles(a.list(t, "ann", "")); got[0] != "Later" || later.UpdatedAt <= 0 {
		t.Errorf("after a restart: %v", got)
	}
}

// TestAdminConsole runs SQL in a user's object through the operator API.
func TestAdminConsole(t *testing.T) {
	a := start(t, t.TempDir())
	a.create(t, "ann", "Secret plans", "world domination")
	url := "http://" + a.s.AdminAddr() + "/v1/namespaces/" + notes.Binding + "/objects/name:ann/sql"
	post := func(token, body string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", url, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := a.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	if status, _ := post("", `{"sql": "SELECT 1"}`); status != http.StatusUnauthorized {
		t.Errorf("no token: %d", status)
	}
	status, out := post(adminToken, `{"sql": "SELECT title, content FROM notes WHERE title LIKE ?", "params": ["Secret%"]}`)
	want := map[string]any{"columns": []any{"title", "content"}, "rows": []any{[]any{"Secret plans", "world domination"}}, "rowsRead": 1.0, "rowsWritten": 0.0}
	if status != 200 || !reflect.DeepEqual(out, want) {
		t.Errorf("query: %d %v", status, out)
	}
	status, out = post(adminToken, `{"sql": "UPDATE notes SET title = 'Public plans'"}`)
	if status != 200 || out["rowsWritten"] != 1.0 {
		t.Errorf("update: %d %v", status, out)
	}
	if got := titles(a.list(t, "ann", "?q=public")); !reflect.DeepEqual(got, []string{"Public plans"}) {
		t.Errorf("the app does not see the operator's update: %v", got)
	}
	status, out = post(adminToken, `{"sql": "SELECT * FROM _cf_KV"}`)
	if status != 400 || !strings.Contains(out["error"].(string), "prohibited") {
		t.Errorf("the sandbox does not apply: %d %v", status, out)
	}
}
