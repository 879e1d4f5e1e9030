// Package reminders is Den's alarm example: per-user reminders, delivered
// when they are due by the user's object, which its alarm wakes even when it
// is not in memory. Its HTTP contract must not change:
//
//	POST /reminders/{user}  {"at": <unix ms>, "message": "..."}
//	                        201 and the reminder; 400 for bad JSON, a missing
//	                        or non-positive "at", or a message over 4 KiB
//	GET  /reminders/{user}  200 {"pending":   [{"at", "message"}],
//	                             "delivered": [{"at", "message", "delivered_at"}]}
//
// A user name is 1 to 256 bytes (else 400). Each user is one Durable Object
// of class Reminders in the namespace bound as REMINDERS. Its alarm is always
// set to its earliest pending reminder; when the alarm runs, every reminder
// due moves from pending to delivered in the alarm's own turn, so each
// reminder is delivered exactly once even though alarms are delivered at
// least once, across kill -9 and restarts.
//
// The object also offers RPC methods, Add and List:
//
//	l, err := den.Call[reminders.List](ctx, env.Namespace("REMINDERS").GetByName("ann"), "List")
package reminders
