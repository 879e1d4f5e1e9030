package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/actor"
	"github.com/den-run/den/admin"
	"github.com/den-run/den/pitr"
	"github.com/den-run/den/sqlite"
)

// schedule records the alarms a host reports.
type schedule struct {
	mu  sync.Mutex
	got map[string]time.Time
}

func (s *schedule) ScheduleAlarm(ctx context.Context, class string, id den.ID, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got[id.String()] = at
	return nil
}

func (s *schedule) at(id den.ID) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got[id.String()]
}

// recoveryConsole is the operator API over a host whose databases keep
// history.
type recoveryConsole struct {
	url   string
	ns    *den.Namespace
	host  *actor.Host
	alarm *schedule
}

func newRecoveryConsole(tb testing.TB) *recoveryConsole {
	tb.Helper()
	dir := tb.TempDir()
	arch := pitr.New(filepath.Join(dir, "history"), pitr.Options{})
	store := sqlite.NewStoreWithOptions(filepath.Join(dir, "objects"), sqlite.Options{
		History: func(class string, id den.ID) sqlite.Log { return arch.Open(class, id) },
	})
	alarms := &schedule{got: map[string]time.Time{}}
	h := actor.New(actor.Config{Store: store, Logger: slog.New(slog.DiscardHandler), Alarms: alarms, TempDir: dir},
		den.Class{Name: "Box", New: func(den.State, *den.Env) (any, error) { return &box{}, nil }})
	key, err := den.NewKey(nil)
	if err != nil {
		tb.Fatal(err)
	}
	ns := den.NewNamespace("BOXES", "Box", key, h)
	env := den.NewEnv([]*den.Namespace{ns}, nil)
	if err := h.Open(env); err != nil {
		tb.Fatal(err)
	}
	handler, err := admin.New(admin.Config{Env: env, Runner: h, Recovery: h, Token: token, Logger: slog.New(slog.DiscardHandler)})
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
	return &recoveryConsole{url: srv.URL, ns: ns, host: h, alarm: alarms}
}

// do sends a request and returns the status and the body.
func (c *recoveryConsole) do(tb testing.TB, method, path string, body io.Reader) (int, []byte) {
	tb.Helper()
	req, err := http.NewRequest(method, c.url+path, body)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// json sends a request and decodes a JSON answer.
func (c *recoveryConsole) json(tb testing.TB, method, path, body string) (int, map[string]any) {
	tb.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	status, b := c.do(tb, method, path, r)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		tb.Fatalf("%s %s: answer %q is not JSON", method, path, b)
	}
	return status, out
}

func (c *recoveryConsole) exec(tb testing.TB, obj, sql string) [][]any {
	tb.Helper()
	b, _ := json.Marshal(map[string]string{"sql": sql})
	status, out := c.json(tb, "POST", "/v1/namespaces/BOXES/objects/"+obj+"/sql", string(b))
	if status != 200 {
		tb.Fatalf("%s: %d %v", sql, status, out)
	}
	var rows [][]any
	for _, r := range out["rows"].([]any) {
		rows = append(rows, r.([]any))
	}
	return rows
}

func (c *recoveryConsole) bookmark(tb testing.TB, obj, query string) string {
	tb.Helper()
	status, out := c.json(tb, "GET", "/v1/namespaces/BOXES/objects/"+obj+"/bookmark"+query, "")
	if status != 200 {
		tb.Fatalf("bookmark: %d %v", status, out)
	}
	return out["bookmark"].(string)
}

func (c *recoveryConsole) setAlarm(tb testing.TB, obj string, at time.Time) {
	tb.Helper()
	id := c.ns.IDFromName(strings.TrimPrefix(obj, "name:"))
	_, err := c.host.Run(context.Background(), c.ns, id, true, func(ctx context.Context, _ any, st den.State) ([]byte, error) {
		return nil, st.Storage().SetAlarm(at)
	})
	if err != nil {
		tb.Fatal(err)
	}
}

func (c *recoveryConsole) alarmOf(tb testing.TB, obj string) time.Time {
	tb.Helper()
	id := c.ns.IDFromName(strings.TrimPrefix(obj, "name:"))
	var at time.Time
	_, err := c.host.Run(context.Background(), c.ns, id, true, func(ctx context.Context, _ any, st den.State) ([]byte, error) {
		var err error
		at, _, err = st.Storage().GetAlarm()
		return nil, err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return at
}

func TestRestoreAndUndo(t *testing.T) {
	c := newRecoveryConsole(t)
	alarm1 := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	c.exec(t, "name:a", "CREATE TABLE t (x); INSERT INTO t VALUES (1)")
	c.setAlarm(t, "name:a", alarm1)
	b1 := c.bookmark(t, "name:a", "")
	c.exec(t, "name:a", "INSERT INTO t VALUES (2); CREATE TABLE u (y)")
	c.setAlarm(t, "name:a", alarm1.Add(time.Hour))
	b2 := c.bookmark(t, "name:a", "")
	if b2 <= b1 {
		t.Fatalf("bookmarks out of order: %s then %s", b1, b2)
	}

	status, out := c.json(t, "POST", "/v1/namespaces/BOXES/objects/name:a/restore", `{"bookmark": "`+b1+`"}`)
	if status != 200 || out["undo"] != b2 {
		t.Fatalf("restore: %d %v (want undo %s)", status, out, b2)
	}
	if rows := c.exec(t, "name:a", "SELECT group_concat(x) FROM t"); !reflect.DeepEqual(rows, [][]any{{"1"}}) {
		t.Errorf("after restore t holds %v", rows)
	}
	if rows := c.exec(t, "name:a", "SELECT count(*) FROM sqlite_schema WHERE name = 'u'"); !reflect.DeepEqual(rows, [][]any{{0.0}}) {
		t.Errorf("after restore table u exists: %v", rows)
	}
	if got := c.alarmOf(t, "name:a"); !got.Equal(alarm1) {
		t.Errorf("restored alarm %v, want %v", got, alarm1)
	}
	if got := c.alarm.at(c.ns.IDFromName("a")); !got.Equal(alarm1) {
		t.Errorf("the schedule holds %v after the restore, want %v", got, alarm1)
	}

	// Undo the restore.
	status, out = c.json(t, "POST", "/v1/namespaces/BOXES/objects/name:a/restore", `{"bookmark": "`+b2+`"}`)
	if status != 200 {
		t.Fatalf("undo: %d %v", status, out)
	}
	if rows := c.exec(t, "name:a", "SELECT group_concat(x) FROM t"); !reflect.DeepEqual(rows, [][]any{{"1,2"}}) {
		t.Errorf("after undo t holds %v", rows)
	}
}

func TestBookmarkAt(t *testing.T) {
	c := newRecoveryConsole(t)
	c.exec(t, "name:a", "CREATE TABLE t (x)")
	b1 := c.bookmark(t, "name:a", "")
	time.Sleep(5 * time.Millisecond) // the real clock: a later write gets a later time
	mid := time.Now()
	time.Sleep(5 * time.Millisecond)
	c.exec(t, "name:a", "INSERT INTO t VALUES (1)")
	if got := c.bookmark(t, "name:a", "?at="+strconv.FormatInt(mid.UnixMilli(), 10)); got != b1 {
		t.Errorf("?at=<ms>: %s, want %s", got, b1)
	}
	if got := c.bookmark(t, "name:a", "?at="+mid.UTC().Format(time.RFC3339Nano)); got != b1 {
		t.Errorf("?at=<RFC 3339>: %s, want %s", got, b1)
	}
	for _, q := range []string{"?at=yesterday", "?at=" + strconv.FormatInt(time.Now().Add(-40*24*time.Hour).UnixMilli(), 10)} {
		if status, out := c.json(t, "GET", "/v1/namespaces/BOXES/objects/name:a/bookmark"+q, ""); status != 400 {
			t.Errorf("%s: %d %v", q, status, out)
		}
	}
}

func TestExportForkImport(t *testing.T) {
	c := newRecoveryConsole(t)
	c.exec(t, "name:src", "CREATE TABLE t (x); INSERT INTO t VALUES ('old')")
	c.setAlarm(t, "name:src", time.Now().Add(time.Hour))
	b1 := c.bookmark(t, "name:src", "")
	c.exec(t, "name:src", "UPDATE t SET x = 'new'")

	// Export now, and at a bookmark.
	status, now := c.do(t, "GET", "/v1/namespaces/BOXES/objects/name:src/export", nil)
	if status != 200 || !bytes.HasPrefix(now, []byte("SQLite format 3\x00")) {
		t.Fatalf("export: %d %q", status, now[:min(len(now), 40)])
	}
	status, old := c.do(t, "GET", "/v1/namespaces/BOXES/objects/name:src/export?bookmark="+b1, nil)
	if status != 200 || !bytes.HasPrefix(old, []byte("SQLite format 3\x00")) {
		t.Fatalf("export at a bookmark: %d %q", status, old[:min(len(old), 40)])
	}

	// Fork the old state; the source is untouched and the alarm stays behind.
	status, out := c.json(t, "POST", "/v1/namespaces/BOXES/objects/name:src/fork", `{"bookmark": "`+b1+`", "to": "name:copy"}`)
	if status != 200 || out["id"] != c.ns.IDFromName("copy").String() {
		t.Fatalf("fork: %d %v", status, out)
	}
	if rows := c.exec(t, "name:copy", "SELECT x FROM t"); !reflect.DeepEqual(rows, [][]any{{"old"}}) {
		t.Errorf("fork holds %v", rows)
	}
	if rows := c.exec(t, "name:src", "SELECT x FROM t"); !reflect.DeepEqual(rows, [][]any{{"new"}}) {
		t.Errorf("source holds %v after the fork", rows)
	}
	if at := c.alarmOf(t, "name:copy"); !at.IsZero() {
		t.Errorf("the fork has the source's alarm %v", at)
	}

	// Import the exports into other objects.
	for name, body := range map[string][]byte{"imp-now": now, "imp-old": old} {
		status, b := c.do(t, "POST", "/v1/namespaces/BOXES/objects/name:"+name+"/import", bytes.NewReader(body))
		if status != 200 {
			t.Fatalf("import %s: %d %s", name, status, b)
		}
	}
	if rows := c.exec(t, "name:imp-now", "SELECT x FROM t"); !reflect.DeepEqual(rows, [][]any{{"new"}}) {
		t.Errorf("import of the export now holds %v", rows)
	}
	if rows := c.exec(t, "name:imp-old", "SELECT x FROM t"); !reflect.DeepEqual(rows, [][]any{{"old"}}) {
		t.Errorf("import of the export at b1 holds %v", rows)
	}
	if status, b := c.do(t, "POST", "/v1/namespaces/BOXES/objects/name:bad/import", strings.NewReader("not a database")); status != 400 {
		t.Errorf("import of garbage: %d %s", status, b)
	}
}

func TestRecoveryRefusals(t *testing.T) {
	c := newRecoveryConsole(t)
	c.exec(t, "name:a", "CREATE TABLE t (x)")
	c.exec(t, "name:b", "CREATE TABLE t (x)")
	ofB := c.bookmark(t, "name:b", "")
	for _, tc := range []struct {
		method, path, body string
		status             int
		err                string
	}{
		{"POST", "name:a/restore", `{"bookmark": "` + ofB + `"}`, 400, "not in this object's history"},
		{"POST", "name:a/restore", `{"bookmark": "yesterday"}`, 400, "invalid bookmark"},
		{"POST", "name:a/restore", `{}`, 400, `"bookmark" is required`},
		{"POST", "name:a/restore", `{"bookmark": 1}`, 400, "invalid JSON body"},
		{"POST", "name:a/fork", `{"to": "name:a"}`, 400, "the same object"},
		{"POST", "name:a/fork", `{"bookmark": ""}`, 400, `"to" is required`},
		{"POST", "name:a/fork", `{"to": "zz"}`, 400, "64 hex digits"},
		{"GET", "name:a/export?bookmark=nope", "", 400, "invalid bookmark"},
	} {
		status, out := c.json(t, tc.method, "/v1/namespaces/BOXES/objects/"+tc.path, tc.body)
		if status != tc.status || !strings.Contains(fmt.Sprint(out["error"]), tc.err) {
			t.Errorf("%s %s %s: %d %v, want %d %q", tc.method, tc.path, tc.body, status, out, tc.status, tc.err)
		}
	}
}
