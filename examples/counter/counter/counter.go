package counter

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/den-run/den"
	"github.com/den-run/den/serve"
)

// Names of the app's class and binding.
const (
	ClassName = "Counter"
	Binding   = "COUNTER"
)

// MaxNameBytes is the longest counter name.
const MaxNameBytes = 256

// countKey is the storage key of the count.
const countKey = "count"

// App returns the counter app, ready for serve.Main or serve.Start.
func App() serve.App {
	return serve.App{
		Name:     "counter",
		Classes:  []den.Class{Class()},
		Bindings: map[string]string{Binding: ClassName},
		Worker:   Worker,
	}
}

// Class returns the Counter class.
func Class() den.Class {
	return den.Class{
		Name: ClassName,
		New:  func(state den.State, env *den.Env) (any, error) { return &Counter{state: state}, nil },
	}
}

// Counter is one named counter, kept in its object's storage as JSON.
type Counter struct {
	state den.State
}

// Increment adds by to the count and returns the new value.
func (c *Counter) Increment(ctx context.Context, by int) (int, error) {
	n, err := c.Value(ctx)
	if err != nil {
		return 0, err
	}
	n += by
	if err := den.PutJSON(c.state.Storage(), countKey, n); err != nil {
		return 0, err
	}
	return n, nil
}

// Value returns the count, 0 if it was never incremented.
func (c *Counter) Value(ctx context.Context) (int, error) {
	n, _, err := den.GetJSON[int](c.state.Storage(), countKey)
	return n, err
}

// ServeHTTP answers the two routes of the contract, as the worker forwards
// them: POST .../increment adds one, GET returns the count.
func (c *Counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var n int
	var err error
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/increment"):
		n, err = c.Increment(r.Context(), 1)
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		n, err = c.Value(r.Context())
	default:
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	if err != nil {
		den.WriteError(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(strconv.AppendInt(nil, int64(n), 10))
}

// Worker returns the front router: it checks the name and forwards the
// request to the counter's object.
func Worker(env *den.Env) http.Handler {
	ns := env.Namespace(Binding)
	forward := func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if name == "" || len(name) > MaxNameBytes {
			http.Error(w, "Bad Request: a counter name is 1 to "+strconv.Itoa(MaxNameBytes)+" bytes", http.StatusBadRequest)
			return
		}
		ns.GetByName(name).ServeHTTP(w, r)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /counter/{name}/increment", forward)
	mux.HandleFunc("GET /counter/{name}", forward)
	return mux
}
