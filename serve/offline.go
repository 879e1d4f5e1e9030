package serve

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/actor"
	"github.com/den-run/den/admin"
	"github.com/den-run/den/alarm"
	"github.com/den-run/den/keyring"
	"github.com/den-run/den/pitr"
	"github.com/den-run/den/sqlite"
	metering "github.com/den-run/den/usage"
)

// Data is a data directory opened while no server runs, for the operator's
// tools (the den command): its Handler serves the operator API — the
// object-listing endpoints and everything package admin serves — from the
// files, so that the tools speak one protocol whether the server runs or
// not. Objects are never constructed; every operation is a bare turn.
type Data struct {
	dir     string
	objects string
	env     *den.Env
	host    *actor.Host
	store   *sqlite.Store
	history *pitr.Archive
	alarms  *alarm.Index
	unlock  func() error
	handler http.Handler
}

// OpenData takes the data directory dir (failing if a server holds it),
// loads its namespaces — the bindings the app last recorded, and a
// namespace named for each class stored without one — and their keys. Close
// releases it.
func OpenData(ctx context.Context, dir string, log *slog.Logger) (_ *Data, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, den.Errorf(den.ENOTFOUND, "data directory %s: %v", dir, err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			unlock()
		}
	}()
	rec, err := readRecord(dir)
	if err != nil {
		return nil, err
	}
	objects := filepath.Join(dir, "objects")
	bindings := rec.Bindings
	bound := map[string]bool{}
	for _, c := range bindings {
		bound[c] = true
	}
	names, err := os.ReadDir(objects)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, den.Errorf(den.EINTERNAL, "read data directory: %w", err)
	}
	for _, e := range names {
		if e.IsDir() && !bound[e.Name()] && keyExists(dir, e.Name()) {
			bindings[e.Name()] = e.Name()
		}
	}
	classes := map[string]bool{}
	var namespaces []*den.Namespace
	cfg := Config{Retention: rec.Retention, ClassRetention: rec.ClassRetention}
	history := cfg.archive(dir)
	store := sqlite.NewStoreWithOptions(objects, withHistory(sqlite.Options{}, history))
	alarms, err := openAlarmIndex(ctx, dir, objects, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			alarms.Close()
		}
	}()
	host := actor.New(actor.Config{Store: store, Alarms: alarms, TempDir: dir, Logger: log, IdleTimeout: time.Hour}, offlineClasses(bindings)...)
	keys := map[string]den.Key{}
	for _, b := range sortedKeys(bindings) {
		class := bindings[b]
		key, ok := keys[class]
		if !ok {
			key, err = keyring.Load(filepath.Join(dir, "keys"), class, keyring.Options{
				ObjectsExist: func() (bool, error) { return hasEntries(filepath.Join(objects, class)) },
			})
			if err != nil {
				return nil, err
			}
			keys[class] = key
		}
		classes[class] = true
		namespaces = append(namespaces, den.NewNamespace(b, class, key, host))
	}
	env := den.NewEnv(namespaces, nil)
	if err := host.Open(env); err != nil {
		return nil, err
	}
	token := make([]byte, 16)
	rand.Read(token)
	ah, err := admin.New(admin.Config{Env: env, Runner: host, Recovery: host, Token: hex.EncodeToString(token), Logger: log})
	if err != nil {
		host.Close(ctx)
		return nil, err
	}
	d := &Data{dir: dir, objects: objects, env: env, host: host, store: store, history: history, alarms: alarms, unlock: unlock}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/namespaces", d.listNamespaces)
	mux.HandleFunc("GET /v1/namespaces/{namespace}/objects", d.listObjects)
	mux.HandleFunc("GET /v1/namespaces/{namespace}/objects/{id}", d.showObject)
	mux.HandleFunc("DELETE /v1/namespaces/{namespace}/objects/{id}", d.deleteObject)
	bearer := "Bearer " + hex.EncodeToString(token)
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("Authorization", bearer)
		ah.ServeHTTP(w, r)
	}))
	d.handler = mux
	return d, nil
}

// keyExists reports whether class has a key in dir: only such class
// directories are namespaces.
func keyExists(dir, class string) bool {
	_, err := os.Stat(keyring.Path(filepath.Join(dir, "keys"), class))
	return err == nil
}

// offlineClasses returns a class for each class bound in bindings, whose
// New refuses: the tools only run bare turns.
func offlineClasses(bindings map[string]string) []den.Class {
	seen := map[string]bool{}
	var out []den.Class
	for _, c := range bindings {
		if seen[c] {
			continue
		}
		seen[c] = true
		out = append(out, den.Class{Name: c, New: func(den.State, *den.Env) (any, error) {
			return nil, den.Errorf(den.EINVALID, "objects are not constructed while the server is stopped")
		}})
	}
	return out
}

// Handler returns the operator API over the data directory. It needs no
// token: it is served in-process only.
func (d *Data) Handler() http.Handler { return d.handler }

// Close closes every database and releases the data directory.
func (d *Data) Close(ctx context.Context) error {
	err := d.host.Close(ctx)
	if cerr := d.alarms.Close(); err == nil {
		err = cerr
	}
	if cerr := d.unlock(); err == nil {
		err = cerr
	}
	return err
}

// NamespaceInfo is one namespace in GET /v1/namespaces.
type NamespaceInfo struct {
	Name    string `json:"name"`
	Class   string `json:"class"`
	Objects int    `json:"objects"`
}

// ObjectInfo is one object in GET /v1/namespaces/{ns}/objects and the
// answer of GET …/objects/{id}. From the files alone, name is unknown,
// state is "stored" and websockets 0.
type ObjectInfo struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	Bytes      int64   `json:"bytes"`
	State      string  `json:"state"`
	LastActive string  `json:"last_active"`
	Alarm      *string `json:"alarm"`
	WebSockets int     `json:"websockets"`
}

// ObjectPage is the answer of GET /v1/namespaces/{ns}/objects.
type ObjectPage struct {
	Objects []ObjectInfo `json:"objects"`
	Cursor  *string      `json:"cursor"`
}

func (d *Data) listNamespaces(w http.ResponseWriter, r *http.Request) {
	out := []NamespaceInfo{}
	for _, ns := range d.env.Namespaces() {
		n := 0
		d.walk(ns.Class(), "", func(string, string) bool { n++; return true })
		out = append(out, NamespaceInfo{Name: ns.Binding(), Class: ns.Class(), Objects: n})
	}
	writeJSON(w, out)
}

// walk calls fn with the ID and path of each database of class after the
// ID cursor, in ID order, until fn returns false.
func (d *Data) walk(class, cursor string, fn func(id, path string) bool) {
	root := filepath.Join(d.objects, class)
	l1, _ := readDir(root)
	for _, a := range l1 {
		if len(cursor) >= 2 && a < cursor[:2] {
			continue
		}
		l2, _ := readDir(filepath.Join(root, a))
		for _, b := range l2 {
			if len(cursor) >= 4 && a+b < cursor[:4] {
				continue
			}
			files, _ := readDir(filepath.Join(root, a, b))
			for _, f := range files {
				id, ok := strings.CutSuffix(f, ".sqlite")
				if !ok || len(id) != 64 || id <= cursor {
					continue
				}
				if !fn(id, filepath.Join(root, a, b, f)) {
					return
				}
			}
		}
	}
}

func readDir(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names, err
}

func (d *Data) namespace(w http.ResponseWriter, r *http.Request) *den.Namespace {
	ns := d.env.Namespace(r.PathValue("namespace"))
	if ns == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no namespace %q in %s", r.PathValue("namespace"), d.dir))
	}
	return ns
}

func (d *Data) listObjects(w http.ResponseWriter, r *http.Request) {
	ns := d.namespace(w, r)
	if ns == nil {
		return
	}
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 || n > 1000 {
			writeError(w, http.StatusBadRequest, "limit must be a whole number from 1 to 1000")
			return
		}
		limit = n
	}
	page := ObjectPage{Objects: []ObjectInfo{}}
	d.walk(ns.Class(), r.URL.Query().Get("cursor"), func(id, path string) bool {
		if len(page.Objects) == limit {
			last := page.Objects[len(page.Objects)-1].ID
			page.Cursor = &last
			return false
		}
		page.Objects = append(page.Objects, d.fileInfo(id, path))
		return true
	})
	ids := make([]string, len(page.Objects))
	for i, o := range page.Objects {
		ids[i] = o.ID
	}
	names := d.catalogNames(r.Context(), ns.Class(), ids...)
	for i := range page.Objects {
		page.Objects[i].Name = names[page.Objects[i].ID]
	}
	writeJSON(w, page)
}

// catalogNames returns the names of the objects ids (hex) as the usage
// meter's catalog holds them: the names the server saw them reached by.
// Without a catalog it finds none.
func (d *Data) catalogNames(ctx context.Context, class string, ids ...string) map[string]string {
	names := map[string]string{}
	path := filepath.Join(d.dir, UsageFile)
	if _, err := os.Stat(path); err != nil {
		return names
	}
	m := metering.New(metering.Config{Path: path, Logger: slog.New(slog.DiscardHandler)})
	if err := m.Open(ctx); err != nil {
		return names
	}
	defer m.Close()
	for _, id := range ids {
		var key [32]byte
		if b, err := hex.DecodeString(id); err == nil && len(b) == len(key) {
			copy(key[:], b)
			if o, ok, err := m.Lookup(ctx, class, key); err == nil && ok && o.Name != "" {
				names[id] = o.Name
			}
		}
	}
	return names
}

// fileInfo describes an object from its files.
func (d *Data) fileInfo(id, path string) ObjectInfo {
	info := ObjectInfo{ID: id, State: "stored"}
	var last time.Time
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			info.Bytes += fi.Size()
			if fi.ModTime().After(last) {
				last = fi.ModTime()
			}
		}
	}
	if !last.IsZero() {
		info.LastActive = last.UTC().Format(time.RFC3339Nano)
	}
	return info
}

func (d *Data) showObject(w http.ResponseWriter, r *http.Request) {
	ns := d.namespace(w, r)
	if ns == nil {
		return
	}
	id, err := d.parseID(ns, r.PathValue("id"))
	if err != nil {
		writeError(w, den.HTTPStatus(err), den.AsError(err).Message)
		return
	}
	if !d.store.Exists(ns.Class(), id) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("object %s of %s has no database", id, ns.Binding()))
		return
	}
	info := d.fileInfo(id.String(), d.store.Path(ns.Class(), id))
	info.Name = id.Name()
	if info.Name == "" {
		info.Name = d.catalogNames(r.Context(), ns.Class(), id.String())[id.String()]
	}
	_, err = d.host.Run(r.Context(), ns, id, true, func(ctx context.Context, _ any, st den.State) ([]byte, error) {
		at, ok, err := st.Storage().GetAlarm()
		if ok {
			s := at.UTC().Format(time.RFC3339Nano)
			info.Alarm = &s
		}
		return nil, err
	})
	if err != nil {
		writeError(w, den.HTTPStatus(err), den.AsError(err).Message)
		return
	}
	writeJSON(w, info)
}

func (d *Data) deleteObject(w http.ResponseWriter, r *http.Request) {
	ns := d.namespace(w, r)
	if ns == nil {
		return
	}
	id, err := d.parseID(ns, r.PathValue("id"))
	if err != nil {
		writeError(w, den.HTTPStatus(err), den.AsError(err).Message)
		return
	}
	path := d.store.Path(ns.Class(), id)
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
	}
	if d.history != nil {
		if err := d.history.Delete(ns.Class(), id); err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
	}
	// The node's schedule and catalog must forget it too, or the next start
	// would run its alarm (constructing it again) and list it.
	if err := d.alarms.Forget(r.Context(), ns.Class(), id); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if err := d.forgetCatalog(r.Context(), ns.Class(), id); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// forgetCatalog removes the object from the usage meter's catalog, if the
// data directory has one.
func (d *Data) forgetCatalog(ctx context.Context, class string, id den.ID) error {
	path := filepath.Join(d.dir, UsageFile)
	if _, err := os.Stat(path); err != nil {
		return nil // never served with metering: no catalog
	}
	m := metering.New(metering.Config{Path: path, Logger: slog.New(slog.DiscardHandler)})
	if err := m.Open(ctx); err != nil {
		return err
	}
	err := m.Forget(ctx, class, id.Bytes())
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	return err
}

func (d *Data) parseID(ns *den.Namespace, s string) (den.ID, error) {
	if name, ok := strings.CutPrefix(s, "name:"); ok && name != "" {
		return ns.IDFromName(name), nil
	}
	return ns.IDFromString(s)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	b, _ := json.Marshal(v)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"error": msg})
	w.Write(append(b, '\n'))
}
