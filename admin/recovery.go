package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/den-run/den"
)

// The point-in-time recovery endpoints (see doc.go). Each runs as a turn of
// the object through Config.Recovery.

// bookmarkReply is the answer of GET …/bookmark.
type bookmarkReply struct {
	Bookmark string `json:"bookmark"`
}

// restoreRequest is the body of POST …/restore.
type restoreRequest struct {
	Bookmark string `json:"bookmark"`
}

// forkRequest is the body of POST …/fork.
type forkRequest struct {
	Bookmark string `json:"bookmark"`
	To       string `json:"to"`
}

// undoReply is the answer of a restore, a fork or an import: the bookmark
// that undoes it, and the object changed.
type undoReply struct {
	ID   string `json:"id"`
	Undo string `json:"undo"`
}

// recoveryObject resolves {namespace} and {id}, writing the error if it cannot.
func (h *Handler) recoveryObject(w http.ResponseWriter, r *http.Request) (*den.Namespace, den.ID, bool) {
	if h.cfg.Recovery == nil {
		writeError(w, http.StatusNotImplemented, den.MsgNoHistory)
		return nil, den.ID{}, false
	}
	binding := r.PathValue("namespace")
	ns := h.cfg.Env.Namespace(binding)
	if ns == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no namespace %q: use a binding name such as %s", binding, bindings(h.cfg.Env)))
		return nil, den.ID{}, false
	}
	id, err := parseID(ns, r.PathValue("id"))
	if err != nil {
		writeErr(w, err)
		return nil, den.ID{}, false
	}
	return ns, id, true
}

// decodeJSON reads a small JSON body into v.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, want string) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return den.Errorf(den.ETOOLARGE, "request body larger than 64 KiB")
		}
		return den.Errorf(den.EINVALID, "invalid JSON body: %v; send %s", err, want)
	}
	return nil
}

func (h *Handler) bookmark(w http.ResponseWriter, r *http.Request) {
	ns, id, ok := h.recoveryObject(w, r)
	if !ok {
		return
	}
	var at time.Time
	if s := r.URL.Query().Get("at"); s != "" {
		t, err := den.ParseTime(s)
		if err != nil {
			writeErr(w, err)
			return
		}
		at = t
	}
	b, err := h.cfg.Recovery.Bookmark(r.Context(), ns, id, at)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, bookmarkReply{Bookmark: b})
}

func (h *Handler) restore(w http.ResponseWriter, r *http.Request) {
	ns, id, ok := h.recoveryObject(w, r)
	if !ok {
		return
	}
	var req restoreRequest
	if err := decodeJSON(w, r, &req, `{"bookmark": "..."}`); err != nil {
		writeErr(w, err)
		return
	}
	if req.Bookmark == "" {
		writeErr(w, den.Errorf(den.EINVALID, `"bookmark" is required: get one from GET …/bookmark?at=<time>`))
		return
	}
	undo, err := h.cfg.Recovery.Restore(r.Context(), ns, id, req.Bookmark)
	h.log.Info("admin restore", "namespace", ns.Binding(), "id", id.String(), "bookmark", req.Bookmark, "undo", undo, "err", errString(err))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, undoReply{ID: id.String(), Undo: undo})
}

func (h *Handler) fork(w http.ResponseWriter, r *http.Request) {
	ns, id, ok := h.recoveryObject(w, r)
	if !ok {
		return
	}
	var req forkRequest
	if err := decodeJSON(w, r, &req, `{"bookmark": "...", "to": "<id or name:...>"}`); err != nil {
		writeErr(w, err)
		return
	}
	if req.To == "" {
		writeErr(w, den.Errorf(den.EINVALID, `"to" is required: the destination object's ID or name:<name>`))
		return
	}
	to, err := parseID(ns, req.To)
	if err != nil {
		writeErr(w, err)
		return
	}
	undo, err := h.cfg.Recovery.Fork(r.Context(), ns, id, req.Bookmark, to)
	h.log.Info("admin fork", "namespace", ns.Binding(), "id", id.String(), "bookmark", req.Bookmark, "to", to.String(), "err", errString(err))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, undoReply{ID: to.String(), Undo: undo})
}

func (h *Handler) export(w http.ResponseWriter, r *http.Request) {
	ns, id, ok := h.recoveryObject(w, r)
	if !ok {
		return
	}
	bookmark := r.URL.Query().Get("bookmark")
	if bookmark != "" {
		if _, err := den.ParseBookmark(bookmark); err != nil {
			writeErr(w, err)
			return
		}
	}
	// The body streams after the copy is made; headers go out with the
	// first write, so an error before it still gets its status.
	hw := &headerWriter{w: w, header: func() {
		w.Header().Set("Content-Type", "application/vnd.sqlite3")
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", id.String()+".sqlite"))
	}}
	n, err := h.cfg.Recovery.Export(r.Context(), ns, id, bookmark, hw)
	h.log.Info("admin export", "namespace", ns.Binding(), "id", id.String(), "bookmark", bookmark, "bytes", n, "err", errString(err))
	if err != nil && !hw.started {
		writeErr(w, err)
	}
}

// headerWriter sets headers before its first write.
type headerWriter struct {
	w       http.ResponseWriter
	header  func()
	started bool
}

func (hw *headerWriter) Write(p []byte) (int, error) {
	if !hw.started {
		hw.started = true
		hw.header()
	}
	return hw.w.Write(p)
}

func (h *Handler) importDB(w http.ResponseWriter, r *http.Request) {
	ns, id, ok := h.recoveryObject(w, r)
	if !ok {
		return
	}
	body := http.MaxBytesReader(w, r.Body, den.DefaultMaxDatabaseBytes)
	undo, err := h.cfg.Recovery.Import(r.Context(), ns, id, body)
	h.log.Info("admin import", "namespace", ns.Binding(), "id", id.String(), "bytes", r.ContentLength, "err", errString(err))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, undoReply{ID: id.String(), Undo: undo})
}

func (h *Handler) historyInfo(w http.ResponseWriter, r *http.Request) {
	ns, id, ok := h.recoveryObject(w, r)
	if !ok {
		return
	}
	info, err := h.cfg.Recovery.History(r.Context(), ns, id)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, historyReply{HistoryInfo: info, RetentionSeconds: int64(info.Retention / time.Second), Span: span(info)})
}

// historyReply is the answer of GET …/history: the bookmarks of the oldest
// and newest states and the history's size.
type historyReply struct {
	den.HistoryInfo
	RetentionSeconds int64  `json:"retention_seconds"`
	Span             string `json:"span"`
}

// span says in words how far back the history reaches.
func span(info den.HistoryInfo) string {
	o, err1 := den.ParseBookmark(info.Oldest)
	n, err2 := den.ParseBookmark(info.Newest)
	if err1 != nil || err2 != nil {
		return ""
	}
	return o.Time.UTC().Format(time.RFC3339) + " to " + n.Time.UTC().Format(time.RFC3339)
}

// routes lists the endpoints for the 404 message.
var routes = strings.Join([]string{
	"GET /v1/namespaces", "GET /v1/namespaces/{namespace}/objects[?limit=&cursor=&name=&id=]",
	"GET|DELETE /v1/namespaces/{namespace}/objects/{id}", "GET …/kv", "GET /v1/usage",
	"POST /v1/namespaces/{namespace}/objects/{id}/sql",
	"GET …/bookmark[?at=]", "POST …/restore", "GET …/export[?bookmark=]", "POST …/fork", "POST …/import", "GET …/history",
}, ", ")
