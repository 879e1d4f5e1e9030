package serve_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/den-run/den/internal/testhttp"
	"github.com/den-run/den/serve"
)

// adminSQL posts a query to the operator API at addr and returns the status
// and the answer.
func adminSQL(tb testing.TB, c *http.Client, addr, token, id, query string) (int, map[string]any) {
	tb.Helper()
	body, _ := json.Marshal(map[string]string{"sql": query})
	req, _ := http.NewRequest("POST", "http://"+addr+"/v1/namespaces/NOTES/objects/"+id+"/sql", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestAdminListener(t *testing.T) {
	dir := t.TempDir()
	c := testhttp.Client(t)
	s := mustStart(t, testApp(nil, nil), serve.Config{Data: dir, AdminAddr: "127.0.0.1:0"})
	addr := s.AdminAddr()
	if addr == "" || addr == s.Addr() {
		t.Fatalf("admin address %q, app address %q", addr, s.Addr())
	}
	// The token was generated into the data directory, readable by its
	// owner only.
	path := filepath.Join(dir, "admin.token")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi, err)
	}
	b, _ := os.ReadFile(path)
	token := strings.TrimSpace(string(b))
	if status, _ := testhttp.Do(t, c, "PUT", "http://"+s.Addr()+"/notes/a", "x"); status != 204 {
		t.Fatalf("PUT: %d", status)
	}
	status, out := adminSQL(t, c, addr, token, "name:a", "SELECT 1 AS one")
	if status != 200 || !strings.Contains(mustJSON(t, out), `"rows":[[1]]`) {
		t.Errorf("query: %d %v", status, out)
	}
	if status, _ := adminSQL(t, c, addr, "wrong", "name:a", "SELECT 1"); status != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", status)
	}
	// The app's listener does not serve the operator API.
	if status, _ := adminSQL(t, c, s.Addr(), token, "name:a", "SELECT 1"); status == 200 {
		t.Error("the app's listener answered an operator query")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// The next start reuses the token.
	s = mustStart(t, testApp(nil, nil), serve.Config{Data: dir, AdminAddr: "127.0.0.1:0"})
	if status, _ := adminSQL(t, c, s.AdminAddr(), token, "name:a", "SELECT 1"); status != 200 {
		t.Errorf("after a restart: %d", status)
	}
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestAdminOffAndTaken(t *testing.T) {
	for _, addr := range []string{"", "off"} {
		s := mustStart(t, testApp(nil, nil), serve.Config{AdminAddr: addr})
		if s.AdminAddr() != "" {
			t.Errorf("AdminAddr %q serves at %s", addr, s.AdminAddr())
		}
	}
	// An address asked for must be had.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = serve.Start(context.Background(), testApp(nil, nil), serve.Config{Addr: "127.0.0.1:0", Data: t.TempDir(), AdminAddr: ln.Addr().String(), AdminToken: "t"})
	if err == nil || !strings.Contains(err.Error(), "admin API") {
		t.Errorf("Start with a taken admin address: %v", err)
	}
}

// TestAdminAndSizeFlags runs the command line with the operator API's flags
// and a small database cap, which the console then runs into.
func TestAdminAndSizeFlags(t *testing.T) {
	r := startRun(t, testApp(nil, nil), []string{
		"--addr", "127.0.0.1:0", "--data", t.TempDir(), "--admin-addr", "127.0.0.1:0",
		"--admin-token", "flag-token", "--max-db-size", "64KiB",
	}, nil)
	c := testhttp.Client(t)
	var addr string
	pollUntil(t, func() bool {
		m := regexp.MustCompile(`msg="admin listening" addr=(\S+)`).FindStringSubmatch(r.stderr.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	status, out := adminSQL(t, c, addr, "flag-token", "name:big", "CREATE TABLE b (x); INSERT INTO b VALUES (zeroblob(100000))")
	if status != 400 || !strings.Contains(mustJSON(t, out), "64 KiB (65536 bytes)") {
		t.Errorf("write past --max-db-size: %d %v", status, out)
	}
	if status, _ := adminSQL(t, c, addr, "flag-token", "name:big", "SELECT 1"); status != 200 {
		t.Errorf("after the quota error: %d", status)
	}
	for _, args := range [][]string{{"--max-db-size", "lots"}, {"--max-db-size", "-1MB"}} {
		err := serve.Run(context.Background(), testApp(nil, nil), append([]string{"--data", t.TempDir(), "--addr", "127.0.0.1:0"}, args...),
			func(string) string { return "" }, &strings.Builder{}, &strings.Builder{})
		if err == nil || !strings.Contains(err.Error(), "--max-db-size") {
			t.Errorf("%v: %v", args, err)
		}
	}
}

// pollUntil polls ok until it returns true, failing the test after 10s.
func pollUntil(tb testing.TB, ok func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			tb.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
