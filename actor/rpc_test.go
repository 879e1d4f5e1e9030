package actor_test

import (
	"context"
	"testing"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/actor"
)

// FuzzCall sends arbitrary method names and argument bytes over RPC: every
// input gets a result or a clear error, and the object keeps serving.
func FuzzCall(f *testing.F) {
	w := newWorld(f, actor.Config{})
	for _, seed := range []struct{ method, args string }{
		{"Add", "[1]"}, {"Add", "[]"}, {"Add", `["x"]`}, {"Add", "[1,2]"}, {"Add", "not json"},
		{"Add", "{}"}, {"Add", "[1e400]"}, {"Count", "null"}, {"Relay", `[[]]`}, {"ServeHTTP", "[]"},
		{"", "[]"}, {"enter", "[]"}, {"Memory", `[ ]`}, {"Add", "[9223372036854775808]"},
	} {
		f.Add(seed.method, []byte(seed.args))
	}
	stub := w.ns.GetByName("fuzz")
	f.Fuzz(func(t *testing.T, method string, args []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a hang fails

		defer cancel()
		if method == "Wait" || method == "Linger" || method == "Slow" || method == "RelayWait" {
			return // these block on the test's own gate or clock
		}
		_, err := w.host.Call(ctx, w.ns, stub.ID(), method, args)
		if err != nil {
			if den.ErrorCode(err) == "" || err.Error() == "" {
				t.Fatalf("error without code or message: %#v", err)
			}
		}
		if _, err := den.Call[int](ctx, stub, "Count"); err != nil {
			t.Fatalf("object stopped serving after %q %q: %v", method, args, err)
		}
	})
}
