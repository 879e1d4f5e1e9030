package admin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/den-run/den"
)

// MaxBodyBytes caps a request body: the SQL text and its parameters.
const MaxBodyBytes = den.MaxRPCBytes

// Runner runs fn inside an object as one of its turns. actor.Host's Run is
// one; bare is always true here: the object's instance is not constructed.
type Runner interface {
	Run(ctx context.Context, ns *den.Namespace, id den.ID, bare bool, fn func(ctx context.Context, obj any, st den.State) ([]byte, error)) ([]byte, error)
}

// Config sets up a Handler. Env, Runner and Token are required.
type Config struct {
	Env    *den.Env // the namespaces, by binding name
	Runner Runner
	Token  string // the bearer token every request must carry
	// MaxResultBytes caps a query's JSON answer; den.MaxRPCBytes when
	// zero. A larger result is an ELIMIT error: add a LIMIT.
	MaxResultBytes int
	// Logger receives one line per query, for the audit trail;
	// slog.Default() when nil.
	Logger *slog.Logger

	// The rest is optional: an endpoint whose part is missing answers 501.
	// Recovery serves the point-in-time recovery endpoints (recovery.go).
	Recovery den.Recovery
	See      // listing, usage, metrics, sockets (see.go)
}

// Handler serves the operator API. It is safe for concurrent use.
type Handler struct {
	cfg       Config
	token     [sha256.Size]byte // hashed, so comparing takes the same time whatever the length
	log       *slog.Logger
	mux       *http.ServeMux
	dashboard http.Handler
}

// New returns a Handler for cfg. It returns an EINVALID error if a
// required field is missing.
func New(cfg Config) (*Handler, error) {
	if cfg.Env == nil || cfg.Runner == nil {
		return nil, den.Errorf(den.EINVALID, "admin: Config.Env and Config.Runner are required")
	}
	if strings.TrimSpace(cfg.Token) == "" {
		return nil, den.Errorf(den.EINVALID, "admin: an empty token would let anyone in")
	}
	if cfg.MaxResultBytes <= 0 {
		cfg.MaxResultBytes = den.MaxRPCBytes
	}
	h := &Handler{cfg: cfg, token: sha256.Sum256([]byte(cfg.Token)), log: cfg.Logger, mux: http.NewServeMux()}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.dashboard = cfg.Dashboard
	if h.dashboard == nil {
		h.dashboard = newDashboard()
	}
	h.mux.HandleFunc("POST /v1/namespaces/{namespace}/objects/{id}/sql", h.sql)
	h.mux.HandleFunc("GET /v1/namespaces", h.namespaces)                               // objects.go
	h.mux.HandleFunc("GET /v1/namespaces/{namespace}/objects", h.objects)              // objects.go
	h.mux.HandleFunc("GET /v1/namespaces/{namespace}/objects/{id}", h.object)          // objects.go
	h.mux.HandleFunc("DELETE /v1/namespaces/{namespace}/objects/{id}", h.deleteObject) // objects.go
	h.mux.HandleFunc("GET /v1/namespaces/{namespace}/objects/{id}/kv", h.kv)           // objects.go
	h.mux.HandleFunc("GET /v1/usage", h.usage)                                         // usage.go
	h.routeDebug()                                                                     // debug.go: pprof
	h.mux.HandleFunc("GET /v1/namespaces/{namespace}/objects/{id}/bookmark", h.bookmark)
	h.mux.HandleFunc("POST /v1/namespaces/{namespace}/objects/{id}/restore", h.restore)
	h.mux.HandleFunc("GET /v1/namespaces/{namespace}/objects/{id}/export", h.export)
	h.mux.HandleFunc("POST /v1/namespaces/{namespace}/objects/{id}/fork", h.fork)
	h.mux.HandleFunc("POST /v1/namespaces/{namespace}/objects/{id}/import", h.importDB)
	h.mux.HandleFunc("GET /v1/namespaces/{namespace}/objects/{id}/history", h.historyInfo)
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: the operator API has "+routes+"; see docs/OPERATIONS.md")
	})
	return h, nil
}

// ServeHTTP serves the open endpoints (/metrics, /healthz, the dashboard's
// static files), and for everything else checks the bearer token, then
// routes the request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.serveOpen(w, r) { // see.go
		return
	}
	if !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="den-admin"`)
		writeError(w, http.StatusUnauthorized, "missing or wrong bearer token: send Authorization: Bearer <token> (see admin.token in the data directory)")
		return
	}
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) authorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(got[:], h.token[:]) == 1
}

// request is the SQL console's request body.
type request struct {
	SQL    string            `json:"sql"`
	Params []json.RawMessage `json:"params"`
}

// result is the SQL console's answer.
type result struct {
	Columns     []string `json:"columns"`
	Rows        [][]any  `json:"rows"`
	RowsRead    int64    `json:"rowsRead"`
	RowsWritten int64    `json:"rowsWritten"`
}

func (h *Handler) sql(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	binding, rawID := r.PathValue("namespace"), r.PathValue("id")
	ns := h.cfg.Env.Namespace(binding)
	if ns == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no namespace %q: use a binding name such as %s", binding, bindings(h.cfg.Env)))
		return
	}
	id, err := parseID(ns, rawID)
	if err != nil {
		writeError(w, den.HTTPStatus(err), den.AsError(err).Message)
		return
	}
	req, params, err := decode(w, r)
	if err != nil {
		writeError(w, den.HTTPStatus(err), den.AsError(err).Message)
		return
	}
	body, err := h.cfg.Runner.Run(r.Context(), ns, id, true, func(ctx context.Context, obj any, st den.State) ([]byte, error) {
		return h.run(st, req.SQL, params)
	})
	h.log.Info("admin sql", "namespace", binding, "id", id.String(), "name", id.Name(),
		"sql", truncate(req.SQL, 200), "params", len(params), "err", errString(err), "duration", time.Since(start))
	if err != nil {
		status := den.HTTPStatus(err)
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		writeError(w, status, den.AsError(err).Message)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

// run executes the query in the object's turn and encodes the answer.
func (h *Handler) run(st den.State, query string, params []any) ([]byte, error) {
	c, err := st.Storage().SQL().Exec(query, params...)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	res := result{Columns: c.Columns(), Rows: [][]any{}}
	if res.Columns == nil {
		res.Columns = []string{}
	}
	size := 0
	for c.Next() {
		row := c.Values()
		for i, v := range row {
			row[i] = jsonValue(v)
			size += valueSize(row[i])
		}
		if size > h.cfg.MaxResultBytes {
			return nil, den.Errorf(den.ELIMIT, "the result is larger than %d bytes: select fewer rows (LIMIT) or columns", h.cfg.MaxResultBytes)
		}
		res.Rows = append(res.Rows, row)
	}
	if err := c.Err(); err != nil {
		return nil, err
	}
	res.RowsRead, res.RowsWritten = c.RowsRead(), c.RowsWritten()
	return json.Marshal(res)
}

// jsonValue returns v as it goes into a JSON answer: BLOBs as base64 text,
// infinities as strings (JSON has no number for them).
func jsonValue(v any) any {
	switch v := v.(type) {
	case []byte:
		return base64.StdEncoding.EncodeToString(v)
	case float64:
		switch {
		case math.IsInf(v, 1):
			return "Infinity"
		case math.IsInf(v, -1):
			return "-Infinity"
		case math.IsNaN(v):
			return "NaN"
		}
	}
	return v
}

// valueSize estimates v's share of the JSON answer.
func valueSize(v any) int {
	if s, ok := v.(string); ok {
		return len(s) + 3
	}
	return 24
}

// parseID reads {id}: 64 hex digits, or name:<name>.
func parseID(ns *den.Namespace, s string) (den.ID, error) {
	if name, ok := strings.CutPrefix(s, "name:"); ok {
		if name == "" {
			return den.ID{}, den.Errorf(den.EINVALID, "empty name in %q: use name:<name>", s)
		}
		return ns.IDFromName(name), nil
	}
	id, err := ns.IDFromString(s)
	if err != nil {
		return den.ID{}, den.Errorf(den.EINVALID, "%s; or use name:<name> for an object reached by name", den.AsError(err).Message)
	}
	return id, nil
}

// decode reads the request body and converts its params to Go values.
func decode(w http.ResponseWriter, r *http.Request) (request, []any, error) {
	var req request
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return req, nil, den.Errorf(den.ETOOLARGE, "request body larger than %d bytes", MaxBodyBytes)
		}
		return req, nil, den.Errorf(den.EINVALID, `invalid JSON body: %v; send {"sql": "...", "params": [...]}`, err)
	}
	if dec.More() {
		return req, nil, den.Errorf(den.EINVALID, "invalid JSON body: more than one value")
	}
	if strings.TrimSpace(req.SQL) == "" {
		return req, nil, den.Errorf(den.EINVALID, `"sql" is required`)
	}
	params := make([]any, len(req.Params))
	for i, raw := range req.Params {
		v, err := param(raw)
		if err != nil {
			return req, nil, den.Errorf(den.EINVALID, "params[%d]: %v", i, err)
		}
		params[i] = v
	}
	return req, params, nil
}

// param converts one JSON parameter: null, a boolean, a number (an integer
// when it is one), a string, or {"base64": "..."} for a BLOB.
func param(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	switch v := v.(type) {
	case nil, bool, string:
		return v, nil
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n, nil
		}
		f, err := v.Float64()
		if err != nil {
			return nil, fmt.Errorf("number %s is out of range", v)
		}
		return f, nil
	case map[string]any:
		if s, ok := v["base64"].(string); ok && len(v) == 1 {
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return nil, fmt.Errorf("base64: %v", err)
			}
			return b, nil
		}
	}
	return nil, errors.New(`want null, a boolean, a number, a string or {"base64": "..."} for a BLOB`)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"error": msg})
	w.Write(append(b, '\n'))
}

func bindings(env *den.Env) string {
	var names []string
	for _, ns := range env.Namespaces() {
		names = append(names, ns.Binding())
	}
	if len(names) == 0 {
		return "(none: the app binds no namespace)"
	}
	return strings.Join(names, ", ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
