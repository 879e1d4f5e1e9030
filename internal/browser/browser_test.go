package browser_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/den-run/den/internal/browser"
)

func TestPageRendersScript(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><p id="out">static</p><script>document.getElementById("out").textContent = "from script " + (6*7)</script>`)
	}))
	defer srv.Close()
	ctx := browser.New(t, time.Minute)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text("#out"))
	if err != nil {
		t.Fatal(err)
	}
	if text != "from script 42" {
		t.Fatalf("page shows %q, want the script's text", text)
	}
}
