package admin

import (
	"net/http"
	"strings"
	"time"

	"github.com/den-run/den"
)

// DefaultUsagePeriod is the period GET /v1/usage reports without ?from=.
const DefaultUsagePeriod = 24 * time.Hour

// usage reports usage and its estimated bill: ?namespace= (a binding; all
// when absent), ?object= (an ID or name:<name>, with namespace), ?from= and
// ?to= (RFC 3339 times, dates such as 2026-11-02, or durations such as 24h
// meaning that long ago; to defaults to now, from to a day before to).
func (h *Handler) usage(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Usage == nil {
		notImplemented(w, "usage metering")
		return
	}
	q := r.URL.Query()
	now := time.Now()
	to, err := parseWhen(q.Get("to"), now, now)
	if err != nil {
		writeError(w, http.StatusBadRequest, "to: "+err.Error())
		return
	}
	from, err := parseWhen(q.Get("from"), to.Add(-DefaultUsagePeriod), now)
	if err != nil {
		writeError(w, http.StatusBadRequest, "from: "+err.Error())
		return
	}
	nss := h.cfg.Env.Namespaces()
	if b := q.Get("namespace"); b != "" {
		ns := h.cfg.Env.Namespace(b)
		if ns == nil {
			writeError(w, http.StatusNotFound, "no namespace "+b+": use a binding name such as "+bindings(h.cfg.Env))
			return
		}
		nss = []*den.Namespace{ns}
	}
	var id *den.ID
	if o := q.Get("object"); o != "" {
		if q.Get("namespace") == "" {
			writeError(w, http.StatusBadRequest, "object needs namespace: add ?namespace=<binding>")
			return
		}
		parsed, err := parseID(nss[0], o)
		if err != nil {
			writeErr(w, err)
			return
		}
		id = &parsed
	}
	if h.cfg.Catalog != nil {
		if err := h.cfg.Catalog.Flush(r.Context()); err != nil {
			writeErr(w, err)
			return
		}
	}
	report, err := h.cfg.Usage(r.Context(), nss, id, from, to)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, report)
}

// parseWhen reads a time: "" (def), RFC 3339, a date (midnight UTC), or a
// duration before now.
func parseWhen(s string, def, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return def, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, den.Errorf(den.EINVALID, "%q is not a time: use RFC 3339 (2026-11-02T15:04:05Z), a date (2026-11-02) or a duration ago (24h)", s)
}
