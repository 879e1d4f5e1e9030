// Package sqlite stores each Durable Object in its own SQLite database. It is
// the only package in Den that imports a SQLite driver (zombiezen.com/go/sqlite,
// pure Go on modernc).
//
// A [Store] lays the databases out under one directory, fanned out by the
// object's ID so that no directory holds more than a few thousand entries:
//
//	<dir>/<class>/<id[0:2]>/<id[2:4]>/<id>.sqlite
//
// A [DB] is one object's database on one connection in WAL mode. It implements
// [den.Database]: the key-value API lives in the table _cf_KV and the alarm
// and other metadata in _cf_METADATA, the names and layout workerd uses, so a
// database can be exported to and imported from Cloudflare's tooling. Every
// name that starts with _cf_ is reserved for Den.
//
// Durability is split from commit. Commit writes the turn's frames to the WAL
// without an fsync (synchronous=NORMAL); [DB.Sync] then fdatasyncs the WAL
// file, so a committer can make many objects' commits durable together.
package sqlite
