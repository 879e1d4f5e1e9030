package serve_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"

	"github.com/den-run/den"
	"github.com/den-run/den/serve"
)

// Visits counts the visits of one page in its storage.
type Visits struct{ state den.State }

// ServeHTTP counts a visit and answers with the count.
func (v *Visits) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n, _, err := den.GetJSON[int](v.state.Storage(), "n")
	if err == nil {
		n++
		err = den.PutJSON(v.state.Storage(), "n", n)
	}
	if err != nil {
		den.WriteError(w, err)
		return
	}
	io.WriteString(w, strconv.Itoa(n))
}

func ExampleStart() {
	app := serve.App{
		Name: "visits",
		Classes: []den.Class{{
			Name: "Visits",
			New:  func(state den.State, env *den.Env) (any, error) { return &Visits{state: state}, nil },
		}},
		Bindings: map[string]string{"VISITS": "Visits"},
		Worker: func(env *den.Env) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				env.Namespace("VISITS").GetByName(r.URL.Path).ServeHTTP(w, r)
			})
		},
	}
	data, _ := os.MkdirTemp("", "visits")
	defer os.RemoveAll(data)

	s, err := serve.Start(context.Background(), app, serve.Config{
		Addr:   "127.0.0.1:0",
		Data:   data,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	defer s.Close(context.Background())

	for range 2 {
		resp, err := http.Get("http://" + s.Addr() + "/home")
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(string(body))
	}
	// Output:
	// 1
	// 2
}
