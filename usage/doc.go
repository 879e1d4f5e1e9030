// Package usage meters what each object uses, in Cloudflare's billing units,
// and keeps the node's catalog of objects. Both live in one SQLite file,
// <data>/usage.sqlite, written by one goroutine that folds everything
// observed since its last pass into one transaction (every second by
// default), so the turn path only adds to counters in memory.
//
// Usage ([Meter] is the den.Observer and den.WebSocketObserver that gathers
// it) is aggregated per object per hour: requests (HTTP requests, RPC calls,
// alarm runs; incoming WebSocket messages are billed 20 to 1), duration
// (wall time in memory with work to do, billed at 128 MB: GB-s = seconds ×
// 0.128; nothing while idle or hibernated), the time objects spent
// hibernated with sockets connected (what hibernation saved), rows read and
// written, and each namespace's stored bytes, sampled hourly for GB-months.
// [Meter.Report] prices it with [Prices], Cloudflare's list prices and the
// date they were read.
//
// The catalog has one row per object that exists: its class, ID, the name it
// was first reached by (so operators can search by name), its database's
// size, when it was first seen and last active. It is updated as objects
// run, write and leave memory, and filled from the object files by
// Config.Scan when it is new. It lists a page of a namespace's objects by ID
// or by name prefix through the primary key or an index, so a page costs the
// same with a million objects as with ten.
//
// Why one file for both: they are fed by the same observations and written
// by the same pass, in one transaction; a second file would double the
// writer goroutines and syncs for no gain. The file is derived data (usage
// history aside): losing its last second in a crash loses a second of
// metering, never an object's data.
package usage
