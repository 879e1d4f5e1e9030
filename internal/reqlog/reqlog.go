// Package reqlog carries a request's identity through its context so that
// every log line about the request names it: the gateway gives each request
// an ID, the host records the namespace and object the request reached, and
// [Handler] adds them to any line logged with that context (slog's
// ...Context methods and LogAttrs).
package reqlog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
)

// Info is one request's identity. The object it reached is filled in by the
// first delivery to an object; Info is safe for concurrent use (a worker may
// call objects from several goroutines).
type Info struct {
	ID string // the request ID: the client's X-Request-Id, or a new one

	mu        sync.Mutex // protects following fields
	namespace string
	object    string
}

// Reached records the namespace and object (its 32-byte ID) the request
// reached, unless it already reached one.
func (i *Info) Reached(namespace string, object [32]byte) {
	i.mu.Lock()
	if i.object == "" {
		i.namespace, i.object = namespace, hex.EncodeToString(object[:])
	}
	i.mu.Unlock()
}

// Object returns the namespace and object the request reached, "" if none.
func (i *Info) Object() (namespace, object string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.namespace, i.object
}

type infoKey struct{}

// With returns ctx carrying info.
func With(ctx context.Context, info *Info) context.Context {
	return context.WithValue(ctx, infoKey{}, info)
}

// From returns the Info ctx carries, or nil.
func From(ctx context.Context) *Info {
	i, _ := ctx.Value(infoKey{}).(*Info)
	return i
}

// NewID returns a new random request ID: 16 hex digits.
func NewID() string {
	var b [8]byte
	rand.Read(b[:]) // never fails
	return hex.EncodeToString(b[:])
}

// ObjectKey is the context key under which the runtime keeps the running
// turn; the value implements [Object], so lines logged inside a turn name
// the object whatever request (or none) started it.
type ObjectKey struct{}

// Object is a running turn's object, as a log line names it.
type Object interface {
	LogObject() (namespace, id string)
}

// Handler wraps h: records logged with a context get request_id from the
// request's Info, and namespace and object_id from the running turn, or else
// from the object the request reached, unless the record names them itself.
func Handler(h slog.Handler) slog.Handler { return &handler{next: h} }

type handler struct{ next slog.Handler }

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	if ctx == nil {
		return h.next.Handle(ctx, r)
	}
	info := From(ctx)
	obj, _ := ctx.Value(ObjectKey{}).(Object)
	if info == nil && obj == nil {
		return h.next.Handle(ctx, r)
	}
	has := map[string]bool{}
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "request_id", "namespace", "object_id", "id":
			has[a.Key] = true
		}
		return true
	})
	r = r.Clone()
	if info != nil && info.ID != "" && !has["request_id"] {
		r.AddAttrs(slog.String("request_id", info.ID))
	}
	var ns, id string
	if obj != nil {
		ns, id = obj.LogObject()
	} else if info != nil {
		ns, id = info.Object()
	}
	if ns != "" && !has["namespace"] {
		r.AddAttrs(slog.String("namespace", ns))
	}
	if id != "" && !has["object_id"] && !has["id"] {
		r.AddAttrs(slog.String("object_id", id))
	}
	return h.next.Handle(ctx, r)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &handler{next: h.next.WithAttrs(attrs)}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{next: h.next.WithGroup(name)}
}
