// Package admin is Den's operator API: an http.Handler served on its own
// listener (serve starts it on --admin-addr, loopback by default), apart from
// the app's traffic.
//
// Every request but /metrics, /healthz and the dashboard's static files
// (under /dashboard/) needs the header "Authorization: Bearer <token>",
// compared in constant time; [LoadToken] keeps the token in a file of the
// data directory, created on first start. Besides the SQL console below it
// lists namespaces and objects, shows and deletes objects, lists their
// key-value pairs, reports usage, serves Prometheus metrics and Go's pprof,
// from the parts in [See] (objects.go, usage.go, see.go, debug.go,
// dashboard.go); docs/OPERATIONS.md has the endpoints. The SQL console:
//
//	POST /v1/namespaces/{namespace}/objects/{id}/sql
//	{"sql": "SELECT …", "params": [1, "two", null, {"base64": "AAE="}]}
//
// runs the statements inside the object as one of its turns (serialized with
// its other events, in the same sandbox as the object's own SQL; the
// object's instance is not constructed for it) and answers
//
//	{"columns": ["id", "title"], "rows": [[1, "a"]], "rowsRead": 1, "rowsWritten": 0}
//
// or a 4xx (5xx for a server failure) with {"error": "…"}. {namespace} is
// the binding name (NOTES); {id} is the object's 64-hex ID, or name:<name>
// for the ID made from a name. BLOBs in rows are base64 text; a REAL that is
// infinite is the string "Infinity" or "-Infinity". A failed statement rolls
// back the whole request's writes.
//
// Point-in-time recovery (recovery.go), through Config.Recovery (actor.Host):
//
//	GET  …/objects/{id}/bookmark[?at=<unix ms or RFC 3339>]   {"bookmark": "..."}
//	POST …/objects/{id}/restore {"bookmark": "..."}           {"id": "...", "undo": "..."}
//	GET  …/objects/{id}/export[?bookmark=...]                 the database, a standalone SQLite file
//	POST …/objects/{id}/fork {"bookmark": "...", "to": "..."} {"id": "<to>", "undo": "..."}
//	POST …/objects/{id}/import (body: a SQLite file)          {"id": "...", "undo": "..."}
//	GET  …/objects/{id}/history                               {"oldest", "newest", "bytes", "retention"}
//
// A restore applies at once: a live instance is reset and constructed again
// by its next event. A fork copies the state (not the alarm) into another
// object and leaves the source untouched; "bookmark" empty means now.
package admin
