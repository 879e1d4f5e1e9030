package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/den-run/den/usage"
)

func TestUsageCommand(t *testing.T) {
	var gotAuth, gotQuery string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth, gotQuery = r.Header.Get("Authorization"), r.URL.RawQuery
		if r.URL.Path != "/v1/usage" {
			http.NotFound(w, r)
			return
		}
		u := usage.Usage{HTTP: 30, RPC: 10, WebSocketMessages: 200, BusySeconds: 100, RowsWritten: 7, HibernatedSeconds: 3600}
		u.Requests, u.DurationGBs, u.HibernatedGBs = 50, 12.8, 460.8
		rep := usage.Report{
			From: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC),
			Prices: usage.Prices, Usage: u, Bill: usage.Prices.Price(u),
			Namespaces: []usage.NamespaceReport{{Namespace: "ROOMS", Class: "Room", Usage: u, Bill: usage.Prices.Price(u),
				Objects: []usage.ObjectReport{{ID: strings.Repeat("ab", 32), Name: "lobby", Usage: u, Bill: usage.Prices.Price(u)}}}},
		}
		json.NewEncoder(w).Encode(rep)
	}))
	defer srv.Close()
	t.Setenv("DEN_ADMIN_TOKEN", "secret")
	code, out, errs := runT(t, "usage", "--admin", srv.URL, "--namespace", "ROOMS", "--from", "2026-11-02")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errs)
	}
	if gotAuth != "Bearer secret" || !strings.Contains(gotQuery, "namespace=ROOMS") || !strings.Contains(gotQuery, "from=2026-11-02") {
		t.Errorf("sent auth %q, query %q", gotAuth, gotQuery)
	}
	for _, want := range []string{"ROOMS (Room)", "requests", "50", "WebSocket messages 200 at 20:1", "12.800 GB-s", "saved by hibernation", "460.800 GB-s", "lobby", "2026-10-01"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// A refused token is reported.
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(401)
		w.Write([]byte(`{"error": "missing or wrong bearer token"}`))
	})
	if code, _, errs := runT(t, "usage", "--admin", srv.URL); code != 1 || !strings.Contains(errs, "wrong bearer token") {
		t.Errorf("refused: code %d, %q", code, errs)
	}
}
