package serve_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/den-run/den/internal/testhttp"
	"github.com/den-run/den/serve"
)

// adminDo sends an operator API request with token ("" for none) and
// returns the status and body.
func adminDo(tb testing.TB, c *http.Client, method, url, token string) (int, string) {
	tb.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func decode[T any](tb testing.TB, body string) T {
	tb.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		tb.Fatalf("decode %q: %v", body, err)
	}
	return v
}

type objectPage struct {
	Objects []struct {
		ID         string     `json:"id"`
		Name       *string    `json:"name"`
		Bytes      int64      `json:"bytes"`
		State      string     `json:"state"`
		LastActive *time.Time `json:"last_active"`
		Alarm      *time.Time `json:"alarm"`
		WebSockets int        `json:"websockets"`
	} `json:"objects"`
	Cursor *string `json:"cursor"`
}

func TestSeeInside(t *testing.T) {
	dir := t.TempDir()
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	const token = "test-token"
	s := mustStart(t, testApp(nil, nil), serve.Config{Data: dir, AdminAddr: "127.0.0.1:0", AdminToken: token, Logger: logger})
	c := testhttp.Client(t)
	app, adm := "http://"+s.Addr(), "http://"+s.AdminAddr()

	for _, name := range []string{"ann", "alice", "bob"} {
		req, _ := http.NewRequest("PUT", app+"/notes/"+name, strings.NewReader("note of "+name))
		req.Header.Set("X-Request-Id", "req-"+name)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 204 || resp.Header.Get("X-Request-Id") != "req-"+name {
			t.Fatalf("PUT %s: %d, request ID %q", name, resp.StatusCode, resp.Header.Get("X-Request-Id"))
		}
	}
	annID := s.Env().Namespace("NOTES").IDFromName("ann").String()

	// Open endpoints: metrics and health, no token. The replies are out
	// before their objects finish the bookkeeping of their turns (the queue
	// gauge, say), so read the metrics until they settle.
	wants := []string{
		`den_turns_total{kind="fetch",namespace="NOTES"} 3`,
		`den_requests_total{kind="fetch",namespace="NOTES"} 3`,
		`den_commits_total{namespace="NOTES"} 3`,
		`den_rows_written_total{namespace="NOTES"} 3`,
		`den_activations_total{namespace="NOTES"} 3`,
		`den_turn_duration_seconds_count{kind="fetch",namespace="NOTES"} 3`,
		"den_live_objects 3", "den_queued_events 0", "den_durability_barriers_total",
		"den_alarms_run_total 0", "go_goroutines", "process_resident_memory_bytes",
	}
	var missing []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		status, body := adminDo(t, c, "GET", adm+"/metrics", "")
		if status != 200 {
			t.Fatalf("/metrics: %d %s", status, body)
		}
		missing = missing[:0]
		for _, want := range wants {
			if !strings.Contains(body, want) {
				missing = append(missing, want)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range missing {
		t.Errorf("/metrics lacks %q", want)
	}
	if status, body := adminDo(t, c, "GET", adm+"/healthz", ""); status != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", status, body)
	}
	// Everything else needs the token, pprof included.
	if status, _ := adminDo(t, c, "GET", adm+"/debug/pprof/", ""); status != 401 {
		t.Errorf("pprof without the token: %d", status)
	}
	if status, body := adminDo(t, c, "GET", adm+"/debug/pprof/goroutine?debug=1", token); status != 200 || !strings.Contains(body, "goroutine profile") {
		t.Errorf("pprof with the token: %d", status)
	}
	if status, _ := adminDo(t, c, "GET", adm+"/v1/namespaces", ""); status != 401 {
		t.Errorf("listing without the token: %d", status)
	}

	status, body := adminDo(t, c, "GET", adm+"/v1/namespaces", token)
	if status != 200 || strings.TrimSpace(body) != `[{"name":"NOTES","class":"Note","objects":3}]` {
		t.Errorf("namespaces: %d %s", status, body)
	}
	// Two pages.
	status, body = adminDo(t, c, "GET", adm+"/v1/namespaces/NOTES/objects?limit=2", token)
	page := decode[objectPage](t, body)
	if status != 200 || len(page.Objects) != 2 || page.Cursor == nil {
		t.Fatalf("page 1: %d %s", status, body)
	}
	status, body = adminDo(t, c, "GET", adm+"/v1/namespaces/NOTES/objects?limit=2&cursor="+*page.Cursor, token)
	page2 := decode[objectPage](t, body)
	if status != 200 || len(page2.Objects) != 1 || page2.Cursor != nil {
		t.Fatalf("page 2: %d %s", status, body)
	}
	for _, o := range append(page.Objects, page2.Objects...) {
		if o.Name == nil || o.State != "live" || o.Bytes <= 0 || o.LastActive == nil || o.Alarm != nil || o.WebSockets != 0 {
			t.Errorf("object %+v", o)
		}
	}
	// Search by name prefix.
	_, body = adminDo(t, c, "GET", adm+"/v1/namespaces/NOTES/objects?name=a", token)
	var names []string
	for _, o := range decode[objectPage](t, body).Objects {
		names = append(names, *o.Name)
	}
	if strings.Join(names, ",") != "alice,ann" {
		t.Errorf("name search a: %v", names)
	}
	status, body = adminDo(t, c, "GET", adm+"/v1/namespaces/NOTES/objects/name:ann", token)
	if status != 200 || !strings.Contains(body, `"id":"`+annID+`"`) || !strings.Contains(body, `"state":"live"`) {
		t.Errorf("object ann: %d %s", status, body)
	}
	status, body = adminDo(t, c, "GET", adm+"/v1/namespaces/NOTES/objects/name:ann/kv", token)
	if status != 200 || !strings.Contains(body, `{"key":"text","value":"note of ann"}`) {
		t.Errorf("kv of ann: %d %s", status, body)
	}

	// Usage.
	status, body = adminDo(t, c, "GET", adm+"/v1/usage?namespace=NOTES", token)
	type report struct {
		Usage struct {
			HTTP        int64   `json:"http_requests"`
			Requests    float64 `json:"requests"`
			RowsWritten int64   `json:"rows_written"`
			Busy        float64 `json:"busy_seconds"`
		} `json:"usage"`
		Bill struct {
			Total float64 `json:"total"`
		} `json:"bill"`
		Prices struct {
			Date string `json:"date"`
		} `json:"prices"`
	}
	r := decode[report](t, body)
	if status != 200 || r.Usage.HTTP != 3 || r.Usage.Requests != 3 || r.Usage.RowsWritten != 3 || r.Usage.Busy <= 0 || r.Bill.Total <= 0 || r.Prices.Date == "" {
		t.Errorf("usage: %d %+v", status, r)
	}

	// Delete ann: gone from the catalog, from memory and from disk.
	status, body = adminDo(t, c, "DELETE", adm+"/v1/namespaces/NOTES/objects/name:ann", token)
	if status != 200 || !strings.Contains(body, `"deleted":true`) || !strings.Contains(body, `"left_memory":true`) {
		t.Fatalf("delete: %d %s", status, body)
	}
	if status, _ := adminDo(t, c, "GET", adm+"/v1/namespaces/NOTES/objects/name:ann", token); status != 404 {
		t.Errorf("GET after delete: %d", status)
	}
	file := filepath.Join(dir, "objects", "Note", annID[0:2], annID[2:4], annID+".sqlite")
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("database file after delete: %v", err)
	}
	for _, p := range []string{file + "-wal", filepath.Join(dir, serve.HistoryDir, "Note", annID[0:2], annID[2:4], annID)} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s after delete: %v", p, err)
		}
	}
	if _, body := adminDo(t, c, "GET", adm+"/v1/namespaces", token); !strings.Contains(body, `"objects":2`) {
		t.Errorf("namespaces after delete: %s", body)
	}
	if status, _ := testhttp.Do(t, c, "GET", app+"/notes/ann", ""); status != 404 {
		t.Errorf("the app still sees ann: %d", status)
	}

	// Every log line about a request names it, its namespace and object.
	found := false
	for line := range strings.Lines(logs.String()) {
		var rec map[string]any
		json.Unmarshal([]byte(line), &rec)
		if rec["msg"] == "request" && rec["request_id"] == "req-ann" {
			found = true
			if rec["namespace"] != "NOTES" || rec["object_id"] != annID {
				t.Errorf("access log line %s", line)
			}
		}
	}
	if !found {
		t.Errorf("no access log line for req-ann in:\n%s", logs.String())
	}

	// Usage survives a restart.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	s = mustStart(t, testApp(nil, nil), serve.Config{Data: dir, AdminAddr: "127.0.0.1:0", AdminToken: token})
	_, body = adminDo(t, c, "GET", "http://"+s.AdminAddr()+"/v1/usage?namespace=NOTES", token)
	if r := decode[report](t, body); r.Usage.HTTP != 4 { // the three PUTs and the GET after the delete
		t.Errorf("usage after a restart: %+v", r)
	}
}
