package serve_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/den-run/den/internal/browser"
	"github.com/den-run/den/internal/testhttp"
	"github.com/den-run/den/serve"
)

// TestDashboard drives the operator dashboard in headless Chromium: sign in
// with the token, see the namespaces, list and search objects, and open one
// to see its SQL rows, key-value pairs and usage chart.
func TestDashboard(t *testing.T) {
	ctx := browser.New(t, 2*time.Minute)
	const token = "dashboard-token"
	s := mustStart(t, testApp(nil, nil), serve.Config{AdminAddr: "127.0.0.1:0", AdminToken: token})
	c := testhttp.Client(t)
	for _, name := range []string{"ann", "bob"} {
		if status, _ := testhttp.Do(t, c, "PUT", "http://"+s.Addr()+"/notes/"+name, "note of "+name); status != 204 {
			t.Fatalf("PUT %s: %d", name, status)
		}
	}
	adm := "http://" + s.AdminAddr()
	body, _ := json.Marshal(map[string]string{"sql": "CREATE TABLE items (id INTEGER PRIMARY KEY, title TEXT); INSERT INTO items VALUES (1, 'Milk'), (2, 'Eggs')"})
	req, _ := http.NewRequest("POST", adm+"/v1/namespaces/NOTES/objects/name:ann/sql", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("create table: %v %v", resp, err)
	}
	resp.Body.Close()

	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return v
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// The page itself needs no token; it asks for one.
	do("open the dashboard", chromedp.Navigate(adm+"/"), chromedp.WaitVisible(chromedp.CSS("#login-token")))
	do("sign in with a wrong token",
		chromedp.SendKeys(chromedp.CSS("#login-token"), "wrong"),
		chromedp.Click(chromedp.CSS("#login-go")),
		chromedp.WaitVisible(chromedp.CSS("#login")))
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector("#login-error").textContent.includes("refused")`)); err != nil {
		t.Fatalf("the refusal of a wrong token is not shown: %v", err)
	}

	do("sign in",
		chromedp.SendKeys(chromedp.CSS("#login-token"), token),
		chromedp.Click(chromedp.CSS("#login-go")),
		chromedp.WaitVisible(chromedp.CSS(`#view[data-ready="#/"]`)))
	if got := text("#namespaces tbody"); !strings.Contains(got, "NOTES") || !strings.Contains(got, "Note") || !strings.Contains(got, "2") {
		t.Errorf("namespaces table shows %q", got)
	}

	do("open the namespace",
		chromedp.Click(chromedp.CSS(`#namespaces a`)),
		chromedp.WaitVisible(chromedp.CSS(`#view[data-ready="#/ns/NOTES"]`)))
	if got := text("#objects tbody"); !strings.Contains(got, "ann") || !strings.Contains(got, "bob") || !strings.Contains(got, "live") {
		t.Errorf("objects table shows %q", got)
	}
	do("search by name",
		chromedp.SendKeys(chromedp.CSS("#search"), "an"),
		chromedp.Click(chromedp.CSS("#search-go")),
		chromedp.WaitVisible(chromedp.CSS(`#view[data-ready="#/ns/NOTES?by=name&q=an"]`)))
	if got := text("#objects tbody"); !strings.Contains(got, "ann") || strings.Contains(got, "bob") {
		t.Errorf("search for an shows %q", got)
	}

	do("open ann",
		chromedp.Click(chromedp.CSS(`#objects tbody a`)),
		chromedp.WaitVisible(chromedp.CSS(`#view[data-ready^="#/ns/NOTES/obj/"]`)))
	annID := s.Env().Namespace("NOTES").IDFromName("ann").String()
	if got := text("#object-title"); got != "ann" {
		t.Errorf("title %q", got)
	}
	if got := text("#object-id"); got != annID {
		t.Errorf("ID %q, want %s", got, annID)
	}
	if got := text("#tables"); !strings.Contains(got, "items") {
		t.Errorf("tables %q", got)
	}
	if got := text("#table-rows"); !strings.Contains(got, "Milk") || !strings.Contains(got, "Eggs") {
		t.Errorf("rows %q", got)
	}
	if got := text("#kv"); !strings.Contains(got, "text") || !strings.Contains(got, "note of ann") {
		t.Errorf("key-value pairs %q", got)
	}
	if got := text("#sockets"); !strings.Contains(got, "No WebSockets") {
		t.Errorf("sockets %q", got)
	}
	total, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`[data-testid="chart-requests"]`), "data-total"))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := strconv.ParseFloat(total.Value, 64); n < 1 {
		t.Errorf("the requests chart totals %q, want at least the PUT", total.Value)
	}
	bars, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="chart-requests"] rect.bar').length`))
	if err != nil || bars != 24 && bars != 25 {
		t.Errorf("the requests chart has %d bars (%v), want one per hour of the day", bars, err)
	}
	// The token stays in this tab's session storage, never in local storage.
	stored, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`localStorage.length === 0 && sessionStorage.getItem("den-admin-token") === "`+token+`"`))
	if err != nil || !stored {
		t.Errorf("token storage: %v %v", stored, err)
	}
}
