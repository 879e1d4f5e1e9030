// Package actor runs live objects: one goroutine owns each, events reach it
// through a bounded mailbox one turn at a time, and each turn's writes commit
// atomically before its outputs are released through the output gate.
//
// A [Host] is the node's registry of live objects. It constructs an object
// lazily on its first event, evicts it after the idle timeout or when the cap
// on live objects is reached (least recently used first), resets it when its
// code panics or aborts, and drains every object on Close. Calls between
// objects carry a call chain, so a call that comes back into an object that is
// waiting in the same chain is let in (A→B→A completes) while unrelated events
// wait their turn.
//
// Turns and yields: a turn begins the object's implicit transaction, runs the
// handler and commits. An outgoing call from a turn is a yield point, as an
// await is in JavaScript: the writes so far commit and become durable before
// the call leaves (the output gate), and a new transaction begins when the
// reply comes back; Storage.Sync yields the same way. Inside
// Storage.Transaction nothing commits at a yield (a savepoint is open), and
// inside Transaction or BlockConcurrencyWhile no other event, not even a
// re-entrant one, is delivered until the call returns.
package actor
