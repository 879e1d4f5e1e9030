package den

import (
	"context"
	"net/http"
	"sort"
)

// Dispatcher delivers events to objects, constructing them as needed. It is
// implemented by actor.Host and may be called from any goroutine. A ctx that
// carries a turn (an object calling another) carries its call chain too.
//
// Errors are *Error values; Fetch's response body and Call's arguments and
// result are already serialized, so nothing is shared between caller and
// object.
type Dispatcher interface {
	Fetch(ctx context.Context, ns *Namespace, id ID, req *http.Request) (*http.Response, error)
	Call(ctx context.Context, ns *Namespace, id ID, method string, args []byte) ([]byte, error)
}

// Namespace is one class as bound in configuration (COUNTER → Counter): it
// makes IDs with the namespace key and hands out stubs. It is safe for
// concurrent use.
type Namespace struct {
	binding string
	class   string
	key     Key
	d       Dispatcher
}

// NewNamespace returns the namespace bound as binding to class, with key.
func NewNamespace(binding, class string, key Key, d Dispatcher) *Namespace {
	return &Namespace{binding: binding, class: class, key: key, d: d}
}

// Binding returns the binding name, such as "COUNTER".
func (ns *Namespace) Binding() string { return ns.binding }

// Class returns the class name, such as "Counter".
func (ns *Namespace) Class() string { return ns.class }

// IDFromName returns the ID for name, the same every time.
func (ns *Namespace) IDFromName(name string) ID { return ns.key.IDFromName(name) }

// NewUniqueID returns a new random ID.
func (ns *Namespace) NewUniqueID() ID {
	id, err := ns.key.NewUniqueID(nil)
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return id
}

// IDFromString parses s as an ID of this namespace. The error says whether s
// is malformed or belongs to another namespace.
func (ns *Namespace) IDFromString(s string) (ID, error) { return ns.key.ParseID(s) }

// Get returns a stub for id without creating anything. A stub for an ID of
// another namespace fails on every call.
func (ns *Namespace) Get(id ID) *Stub {
	s := &Stub{ns: ns, id: id}
	if !ns.key.Signed(id) {
		s.err = Errorf(EINVALID, "%w", ErrForeignID)
	}
	return s
}

// GetByName returns a stub for the object named name.
func (ns *Namespace) GetByName(name string) *Stub {
	return &Stub{ns: ns, id: ns.IDFromName(name)} // signed just now
}

// Env is what the runtime hands the worker and every object: the namespaces
// by binding name and the app's variables. It is read-only and safe for
// concurrent use.
type Env struct {
	namespaces map[string]*Namespace
	vars       map[string]string
}

// NewEnv returns an Env with namespaces and vars.
func NewEnv(namespaces []*Namespace, vars map[string]string) *Env {
	e := &Env{namespaces: map[string]*Namespace{}, vars: map[string]string{}}
	for _, ns := range namespaces {
		e.namespaces[ns.binding] = ns
	}
	for k, v := range vars {
		e.vars[k] = v
	}
	return e
}

// Namespace returns the namespace bound as binding, or nil.
func (e *Env) Namespace(binding string) *Namespace { return e.namespaces[binding] }

// Namespaces returns every namespace, sorted by binding.
func (e *Env) Namespaces() []*Namespace {
	out := make([]*Namespace, 0, len(e.namespaces))
	for _, ns := range e.namespaces {
		out = append(out, ns)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].binding < out[j].binding })
	return out
}

// Var returns the variable named name and whether it is set.
func (e *Env) Var(name string) (string, bool) {
	v, ok := e.vars[name]
	return v, ok
}
