package admin

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/den-run/den"
)

// See is what the operator API shows beyond the SQL console: the catalog of
// objects, their state, usage, metrics and sockets. Every field is optional;
// the endpoints that need a missing one answer 501 Not Implemented.
type See struct {
	// Catalog lists and finds objects (usage.Meter).
	Catalog Catalog
	// Objects tells which objects are in memory and wipes them
	// (actor.Host).
	Objects Objects
	// Alarm returns the time of an object's alarm, if it has one.
	Alarm func(class string, id den.ID) (time.Time, bool)
	// DeleteOutside deletes what an object keeps outside its own database
	// (its alarm schedule entry, its history); DELETE calls it inside the
	// wiping turn, so a failure deletes nothing.
	DeleteOutside func(ctx context.Context, ns *den.Namespace, id den.ID) error
	// Sockets lists and closes an object's WebSockets (the hub).
	Sockets Sockets
	// Usage reports usage and its bill for the namespaces (one object of
	// them when id is not nil) over [from, to); its result is written as
	// JSON (usage.Report).
	Usage func(ctx context.Context, namespaces []*den.Namespace, id *den.ID, from, to time.Time) (any, error)
	// Metrics serves GET /metrics (Prometheus), without the token.
	Metrics http.Handler
	// Dashboard serves the dashboard's pages at /dashboard/, without the
	// token: they hold no data (every call they make carries it). Nil
	// serves the dashboard embedded in this package.
	Dashboard http.Handler
}

// Catalog is the node's catalog of objects; usage.Meter implements it.
type Catalog interface {
	// Count returns the number of objects of class.
	Count(class string) int64
	// List returns a page of the objects of class and the next page's
	// cursor ("" after the last).
	List(ctx context.Context, class string, q den.ObjectQuery) ([]den.ObjectInfo, string, error)
	// Lookup returns one object's entry.
	Lookup(ctx context.Context, class string, id [32]byte) (den.ObjectInfo, bool, error)
	// Forget deletes one object's entry.
	Forget(ctx context.Context, class string, id [32]byte) error
	// Flush makes everything observed so far visible to List and Lookup.
	Flush(ctx context.Context) error
	// WebSockets returns the object's sockets, active and hibernated.
	WebSockets(class string, id [32]byte) (active, hibernated int)
}

// Objects is the node's host of live objects; actor.Host implements it.
type Objects interface {
	IsLive(class string, id den.ID) bool
	Wipe(ctx context.Context, ns *den.Namespace, id den.ID, also func(ctx context.Context) error) error
	Done(class string, id den.ID) <-chan struct{}
}

// Sockets is the node's WebSocket hub, as operators see it.
type Sockets interface {
	// Sockets lists the object's accepted sockets.
	Sockets(ns *den.Namespace, id den.ID) []SocketInfo
	// CloseSockets closes every socket of the object (with code 1001,
	// going away) before it is deleted.
	CloseSockets(ctx context.Context, ns *den.Namespace, id den.ID) error
}

// SocketInfo is one accepted WebSocket.
type SocketInfo struct {
	Tags       []string  `json:"tags"`
	Hibernated bool      `json:"hibernated"`
	Opened     time.Time `json:"opened"`
	Remote     string    `json:"remote,omitempty"`
}

// serveOpen serves the endpoints that need no token and reports whether it
// did: /metrics (counts, no data), /healthz, and the dashboard's static
// files (the page asks for the token and sends it with every API call).
func (h *Handler) serveOpen(w http.ResponseWriter, r *http.Request) bool {
	p := r.URL.Path
	switch {
	case p == "/metrics":
		if h.cfg.Metrics == nil {
			writeError(w, http.StatusNotImplemented, "metrics are not enabled on this server")
			return true
		}
		h.cfg.Metrics.ServeHTTP(w, r)
	case p == "/healthz":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	case p == "/":
		http.Redirect(w, r, "/dashboard/", http.StatusFound)
	case p == "/dashboard" || strings.HasPrefix(p, "/dashboard/"):
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeError(w, http.StatusMethodNotAllowed, "the dashboard's files are read-only: use GET")
			return true
		}
		h.dashboard.ServeHTTP(w, r)
	default:
		return false
	}
	return true
}

// notImplemented answers 501 for an endpoint whose part is not wired.
func notImplemented(w http.ResponseWriter, what string) {
	writeError(w, http.StatusNotImplemented, what+" is not available on this server")
}
