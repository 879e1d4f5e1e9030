package actor_test

import (
	"context"
	"fmt"
	"os"

	"github.com/den-run/den"
	"github.com/den-run/den/actor"
	"github.com/den-run/den/sqlite"
)

// Greeter is an object with one RPC method.
type Greeter struct{ st den.State }

// Greet counts greetings in the object's storage.
func (g *Greeter) Greet(ctx context.Context, who string) (string, error) {
	n, _, err := den.GetJSON[int](g.st.Storage(), "greetings")
	if err != nil {
		return "", err
	}
	n++
	if err := den.PutJSON(g.st.Storage(), "greetings", n); err != nil {
		return "", err
	}
	return fmt.Sprintf("hello %s from %s (#%d)", who, g.st.ID().Name(), n), nil
}

func Example() {
	dir, _ := os.MkdirTemp("", "den-example")
	defer os.RemoveAll(dir)

	host := actor.New(actor.Config{Store: sqlite.NewStore(dir)}, den.Class{
		Name: "Greeter",
		New:  func(st den.State, env *den.Env) (any, error) { return &Greeter{st: st}, nil },
	})
	key, _ := den.NewKey(nil) // a real app keeps it in the data directory
	ns := den.NewNamespace("GREETER", "Greeter", key, host)
	if err := host.Open(den.NewEnv([]*den.Namespace{ns}, nil)); err != nil {
		panic(err)
	}
	defer host.Close(context.Background())

	ctx := context.Background()
	for range 2 {
		msg, err := den.Call[string](ctx, ns.GetByName("lobby"), "Greet", "ada")
		if err != nil {
			panic(err)
		}
		fmt.Println(msg)
	}
	// Output:
	// hello ada from lobby (#1)
	// hello ada from lobby (#2)
}
