// Package counter is Den's smallest app: named counters that survive
// restarts. Tooling and benchmarks rely on its HTTP contract, which must not
// change:
//
//	POST /counter/{name}/increment  200, the new value as decimal text
//	GET  /counter/{name}            200, the current value (0 if never incremented)
//
// A name is 1 to 256 bytes (else 400); other paths are 404 and other
// methods on these paths 405. Each name is one Durable Object of class
// Counter in the namespace bound as COUNTER, so increments of one name are
// serialized and each acknowledged increment is durable.
//
// The Counter object also offers RPC methods, Increment and Value, which
// other objects or tests call through a stub:
//
//	n, err := den.Call[int](ctx, env.Namespace("COUNTER").GetByName("a"), "Increment", 1)
package counter
