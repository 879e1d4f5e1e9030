package den

import "time"

// EventKind is what a turn delivers, for metrics and usage metering.
type EventKind uint8

// The kinds of events. Internal turns are the runtime's and operators' own
// (the SQL console, abandoning an alarm, deleting an object): they are
// counted in metrics but never billed.
const (
	EventFetch     EventKind = iota // an HTTP request through a stub
	EventCall                       // an RPC method call through a stub
	EventAlarm                      // an alarm delivery
	EventWebSocket                  // a WebSocket message, close or error, from the hub
	EventInternal                   // the runtime's or an operator's own turn
)

var eventKindNames = [...]string{"fetch", "rpc", "alarm", "websocket", "internal"}

// String returns the kind's label: fetch, rpc, alarm, websocket or internal.
func (k EventKind) String() string {
	if int(k) < len(eventKindNames) {
		return eventKindNames[k]
	}
	return "unknown"
}

// TurnStats describes one turn that ended.
type TurnStats struct {
	Namespace *Namespace
	ID        ID // knows its name when the object was ever reached by name
	Kind      EventKind
	// Duration is the turn's wall time, from the start of its handling to
	// its end (construction included; the wait for durability is not).
	Duration time.Duration
	// Busy is the wall time the object spent in memory with work to do
	// since the last report (TurnStats or Observer.Idle): what Cloudflare
	// bills as duration.
	Busy time.Duration
	// RowsRead and RowsWritten count the rows the turn read and wrote in
	// Cloudflare's billing units: a key-value call counts one row per key
	// (a List the entries it returned, at least one); SQL counts the rows
	// its cursors returned and changed; setting or deleting the alarm is
	// one row written.
	RowsRead, RowsWritten int64
	// Wrote reports whether the turn committed writes.
	Wrote bool
	// Held reports whether the turn ended without a COMMIT of its own: its
	// writes waited in the open transaction to commit with the turns after
	// it (write coalescing; its output still waited for durability).
	Held bool
	// Activated reports whether the object's instance was constructed for
	// this turn.
	Activated bool
	// Bytes is the size of the object's database when the turn sampled it
	// (at most about once a second per object), or -1.
	Bytes int64
	// Code is the error code the turn failed with, or "".
	Code string
}

// Observer is told what happens to objects, for metrics and usage metering
// (the runtime's host calls it). Its methods are called from object
// goroutines and callers' goroutines, concurrently; they must be quick and
// must not block: no I/O, no waiting on an object.
type Observer interface {
	// Turn reports a turn that ended.
	Turn(TurnStats)
	// Refused reports an event that never became a turn: the object's
	// queue was full, the host was shutting down, or the caller went away.
	// code is the error's code.
	Refused(ns *Namespace, id ID, kind EventKind, code string)
	// Idle reports that the object has no more work (nothing queued or
	// running, no output waiting for durability, no WaitUntil work); busy
	// is the wall time it was busy since the last report. It is not billed
	// while idle: an idle Den object is what Cloudflare calls hibernatable.
	Idle(ns *Namespace, id ID, busy time.Duration)
	// Left reports that the object left memory (evicted, reset or shut
	// down). bytes is its database's size when last sampled (-1 if never);
	// stored reports whether its database still exists (an object that
	// stores nothing leaves no file).
	Left(ns *Namespace, id ID, bytes int64, stored bool)
}

// WebSocketObserver is told of hibernatable WebSockets, for metrics (sockets
// active and hibernated) and usage metering (incoming messages are billed at
// 20 to 1; an object with hibernated sockets and no instance costs nothing).
// The WebSocket hub calls it; the same rules as [Observer] apply.
type WebSocketObserver interface {
	// WebSocketOpened reports a socket the object accepted. (The upgrade
	// request was billed as the HTTP request that reached the object.)
	WebSocketOpened(ns *Namespace, id ID)
	// WebSocketMessage reports one incoming message delivered to the
	// object (auto-responses and protocol pings are not reported).
	WebSocketMessage(ns *Namespace, id ID)
	// WebSocketClosed reports a closed socket; hibernated says whether it
	// was hibernated when it closed.
	WebSocketClosed(ns *Namespace, id ID, hibernated bool)
	// WebSocketsHibernated reports that n of the object's sockets stay
	// connected while its instance leaves memory.
	WebSocketsHibernated(ns *Namespace, id ID, n int)
	// WebSocketsWoken reports that n hibernated sockets of the object are
	// active again: its instance is back in memory.
	WebSocketsWoken(ns *Namespace, id ID, n int)
}

// ObjectInfo is what the node's catalog of objects knows of one object.
type ObjectInfo struct {
	Class string
	ID    [32]byte
	// Name is the name the ID was made from, recorded the first time the
	// object was reached by name; "" if never.
	Name       string
	Bytes      int64     // the database's size when last sampled
	Created    time.Time // when the catalog first saw the object
	LastActive time.Time // when its last turn ended; zero if not known
}

// ObjectQuery selects a page of a namespace's objects in the catalog.
// Without a name prefix objects come in ID order; with one, in name order.
type ObjectQuery struct {
	NamePrefix string // only objects whose name begins with it
	IDPrefix   string // only objects whose hex ID begins with it (lowercase hex)
	Cursor     string // where the previous page ended; "" for the first page
	Limit      int    // objects per page
}
