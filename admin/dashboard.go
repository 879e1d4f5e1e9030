package admin

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

// dashboardFiles are the dashboard's static files: plain HTML, CSS and
// JavaScript with no dependencies and no build step, embedded in the binary.
//
//go:embed dashboard
var dashboardFiles embed.FS

// dashboardCSP keeps the page to its own files: no inline script, no
// third-party origin, no framing.
const dashboardCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// newDashboard serves the embedded files under /dashboard/.
func newDashboard() http.Handler {
	sub, err := fs.Sub(dashboardFiles, "dashboard")
	if err != nil {
		panic(err) // the embed is fixed at build time
	}
	files := http.StripPrefix("/dashboard", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/dashboard" {
			http.Redirect(w, r, "/dashboard/", http.StatusMovedPermanently)
			return
		}
		hd := w.Header()
		hd.Set("Content-Security-Policy", dashboardCSP)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		if strings.HasSuffix(r.URL.Path, "/") || strings.HasSuffix(r.URL.Path, ".html") {
			hd.Set("Cache-Control", "no-cache")
		}
		files.ServeHTTP(w, r)
	})
}
