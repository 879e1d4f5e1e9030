package admin

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/den-run/den"
)

// Object states in listings.
const (
	StateLive       = "live"       // in memory
	StateHibernated = "hibernated" // out of memory, WebSockets connected
	StateStored     = "stored"     // out of memory, only its data
)

// namespaceJSON is one entry of GET /v1/namespaces.
type namespaceJSON struct {
	Name    string `json:"name"`
	Class   string `json:"class"`
	Objects int64  `json:"objects"`
}

// objectJSON is one object in listings.
type objectJSON struct {
	ID         string     `json:"id"`
	Name       *string    `json:"name"`
	Bytes      int64      `json:"bytes"`
	State      string     `json:"state"`
	LastActive *time.Time `json:"last_active"`
	Alarm      *time.Time `json:"alarm"`
	WebSockets int        `json:"websockets"`
}

// objectDetail is GET /v1/namespaces/{namespace}/objects/{id}.
type objectDetail struct {
	objectJSON
	Namespace string       `json:"namespace"`
	Class     string       `json:"class"`
	Created   *time.Time   `json:"created"`
	Sockets   []SocketInfo `json:"sockets"`
}

// MaxListLimit caps ?limit= on listings.
const MaxListLimit = 1000

func (h *Handler) namespaces(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Catalog != nil {
		if err := h.cfg.Catalog.Flush(r.Context()); err != nil {
			writeErr(w, err)
			return
		}
	}
	out := []namespaceJSON{}
	for _, ns := range h.cfg.Env.Namespaces() {
		n := namespaceJSON{Name: ns.Binding(), Class: ns.Class()}
		if h.cfg.Catalog != nil {
			n.Objects = h.cfg.Catalog.Count(ns.Class())
		}
		out = append(out, n)
	}
	writeJSON(w, out)
}

// objects lists a namespace's objects: ?limit= (100, at most 1000),
// ?cursor= (from the previous page), ?name= (name prefix), ?id= (hex ID
// prefix).
func (h *Handler) objects(w http.ResponseWriter, r *http.Request) {
	ns, ok := h.namespace(w, r)
	if !ok {
		return
	}
	if h.cfg.Catalog == nil {
		notImplemented(w, "the object catalog")
		return
	}
	q := r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > MaxListLimit {
			writeError(w, http.StatusBadRequest, "limit must be a whole number from 1 to "+strconv.Itoa(MaxListLimit))
			return
		}
		limit = n
	}
	if err := h.cfg.Catalog.Flush(r.Context()); err != nil {
		writeErr(w, err)
		return
	}
	objs, next, err := h.cfg.Catalog.List(r.Context(), ns.Class(), den.ObjectQuery{
		NamePrefix: q.Get("name"), IDPrefix: q.Get("id"), Cursor: q.Get("cursor"), Limit: limit,
	})
	if err != nil {
		writeErr(w, err)
		return
	}
	page := struct {
		Objects []objectJSON `json:"objects"`
		Cursor  *string      `json:"cursor"`
	}{Objects: make([]objectJSON, 0, len(objs))}
	for _, o := range objs {
		page.Objects = append(page.Objects, h.describe(ns, o))
	}
	if next != "" {
		page.Cursor = &next
	}
	writeJSON(w, page)
}

// describe returns o as listings show it, with its state.
func (h *Handler) describe(ns *den.Namespace, o den.ObjectInfo) objectJSON {
	hexID := hex.EncodeToString(o.ID[:])
	j := objectJSON{ID: hexID, Bytes: o.Bytes, State: StateStored}
	if o.Name != "" {
		name := o.Name
		j.Name = &name
	}
	if !o.LastActive.IsZero() {
		t := o.LastActive.UTC()
		j.LastActive = &t
	}
	id, err := ns.IDFromString(hexID)
	if err != nil {
		return j // not this namespace's (a foreign file): stored, nothing more
	}
	active, hibernated := 0, 0
	if h.cfg.Catalog != nil {
		active, hibernated = h.cfg.Catalog.WebSockets(o.Class, o.ID)
	}
	j.WebSockets = active + hibernated
	switch {
	case h.cfg.Objects != nil && h.cfg.Objects.IsLive(o.Class, id):
		j.State = StateLive
	case hibernated > 0:
		j.State = StateHibernated
	}
	if h.cfg.Alarm != nil {
		if t, ok := h.cfg.Alarm(o.Class, id); ok {
			t = t.UTC()
			j.Alarm = &t
		}
	}
	return j
}

func (h *Handler) object(w http.ResponseWriter, r *http.Request) {
	ns, id, o, ok := h.found(w, r)
	if !ok {
		return
	}
	d := objectDetail{objectJSON: h.describe(ns, o), Namespace: ns.Binding(), Class: ns.Class(), Sockets: []SocketInfo{}}
	if !o.Created.IsZero() {
		t := o.Created.UTC()
		d.Created = &t
	}
	if h.cfg.Sockets != nil {
		if s := h.cfg.Sockets.Sockets(ns, id); s != nil {
			d.Sockets = s
		}
	}
	writeJSON(w, d)
}

// found finds the object a request names, in the catalog (or in memory),
// answering 404 if it does not exist.
func (h *Handler) found(w http.ResponseWriter, r *http.Request) (*den.Namespace, den.ID, den.ObjectInfo, bool) {
	ns, ok := h.namespace(w, r)
	if !ok {
		return nil, den.ID{}, den.ObjectInfo{}, false
	}
	if h.cfg.Catalog == nil {
		notImplemented(w, "the object catalog")
		return nil, den.ID{}, den.ObjectInfo{}, false
	}
	id, err := parseID(ns, r.PathValue("id"))
	if err != nil {
		writeErr(w, err)
		return nil, den.ID{}, den.ObjectInfo{}, false
	}
	if err := h.cfg.Catalog.Flush(r.Context()); err != nil {
		writeErr(w, err)
		return nil, den.ID{}, den.ObjectInfo{}, false
	}
	o, ok, err := h.cfg.Catalog.Lookup(r.Context(), ns.Class(), id.Bytes())
	if err != nil {
		writeErr(w, err)
		return nil, den.ID{}, den.ObjectInfo{}, false
	}
	if !ok && (h.cfg.Objects == nil || !h.cfg.Objects.IsLive(ns.Class(), id)) {
		writeError(w, http.StatusNotFound, "no object "+r.PathValue("id")+" in namespace "+ns.Binding()+": it never stored anything, or it was deleted")
		return nil, den.ID{}, den.ObjectInfo{}, false
	}
	if !ok {
		o = den.ObjectInfo{Class: ns.Class(), ID: id.Bytes(), Name: id.Name()}
	}
	return ns, id, o, true
}

// deleteWait bounds how long DELETE waits for a wiped object to leave
// memory (and its files to go) before answering anyway.
const deleteWait = 5 * time.Second

// deleteObject wipes an object: closes its sockets, deletes its data, alarm
// and history as one of its turns, drops its instance, forgets it in the
// catalog, and waits (briefly) for it to leave memory, which removes its
// files.
func (h *Handler) deleteObject(w http.ResponseWriter, r *http.Request) {
	ns, ok := h.namespace(w, r)
	if !ok {
		return
	}
	if h.cfg.Objects == nil || h.cfg.Catalog == nil {
		notImplemented(w, "deleting objects")
		return
	}
	id, err := parseID(ns, r.PathValue("id"))
	if err != nil {
		writeErr(w, err)
		return
	}
	ctx := r.Context()
	if h.cfg.Sockets != nil {
		if err := h.cfg.Sockets.CloseSockets(ctx, ns, id); err != nil {
			writeErr(w, err)
			return
		}
	}
	var also func(context.Context) error
	if h.cfg.DeleteOutside != nil {
		also = func(ctx context.Context) error { return h.cfg.DeleteOutside(ctx, ns, id) }
	}
	err = h.cfg.Objects.Wipe(ctx, ns, id, also)
	h.log.Info("admin delete", "namespace", ns.Binding(), "object_id", id.String(), "name", id.Name(), "err", errString(err))
	if err != nil {
		writeErr(w, err)
		return
	}
	if err := h.cfg.Catalog.Forget(ctx, ns.Class(), id.Bytes()); err != nil {
		writeErr(w, err)
		return
	}
	gone := true
	select {
	case <-h.cfg.Objects.Done(ns.Class(), id):
	case <-time.After(deleteWait):
		gone = false // still busy: it leaves when idle
	case <-ctx.Done():
		gone = false
	}
	writeJSON(w, map[string]any{"id": id.String(), "deleted": true, "left_memory": gone})
}

// kvEntry is one key-value pair: value holds UTF-8 text, base64 anything
// else.
type kvEntry struct {
	Key    string  `json:"key"`
	Value  *string `json:"value,omitempty"`
	Base64 *string `json:"base64,omitempty"`
}

// kv lists an object's key-value pairs, as one of its turns (its instance
// is not constructed): ?prefix=, ?cursor= (the last key of the previous
// page), ?limit= (100, at most 1000).
func (h *Handler) kv(w http.ResponseWriter, r *http.Request) {
	ns, id, _, ok := h.found(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > MaxListLimit {
			writeError(w, http.StatusBadRequest, "limit must be a whole number from 1 to "+strconv.Itoa(MaxListLimit))
			return
		}
		limit = n
	}
	opts := den.ListOptions{Prefix: q.Get("prefix"), StartAfter: q.Get("cursor"), Limit: limit + 1}
	body, err := h.cfg.Runner.Run(r.Context(), ns, id, true, func(ctx context.Context, obj any, st den.State) ([]byte, error) {
		entries, err := st.Storage().List(opts)
		if err != nil {
			return nil, err
		}
		page := struct {
			Entries []kvEntry `json:"entries"`
			Cursor  *string   `json:"cursor"`
		}{Entries: []kvEntry{}}
		if len(entries) > limit {
			entries = entries[:limit]
			last := entries[limit-1].Key
			page.Cursor = &last
		}
		for _, e := range entries {
			kv := kvEntry{Key: e.Key}
			if utf8.Valid(e.Value) {
				v := string(e.Value)
				kv.Value = &v
			} else {
				b := base64.StdEncoding.EncodeToString(e.Value)
				kv.Base64 = &b
			}
			page.Entries = append(page.Entries, kv)
		}
		return json.Marshal(page)
	})
	if err != nil {
		writeErr(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

// namespace returns the namespace {namespace} names, or answers 404.
func (h *Handler) namespace(w http.ResponseWriter, r *http.Request) (*den.Namespace, bool) {
	binding := r.PathValue("namespace")
	ns := h.cfg.Env.Namespace(binding)
	if ns == nil {
		writeError(w, http.StatusNotFound, "no namespace "+strconv.Quote(binding)+": use a binding name such as "+bindings(h.cfg.Env))
		return nil, false
	}
	return ns, true
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encode the answer: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '\n'))
}

// writeErr answers with err's status and message.
func writeErr(w http.ResponseWriter, err error) {
	status := den.HTTPStatus(err)
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeError(w, status, den.AsError(err).Message)
}
