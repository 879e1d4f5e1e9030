// Package den holds Den's domain: what a Durable Object is, independent of how
// it is stored, scheduled or served.
//
// A Den app defines object types ([Class]), binds them to namespaces
// ([Namespace], the equivalent of a Durable Object class binding such as
// CHAT_ROOM → ChatRoom), and supplies a front router (the worker) that picks an
// object by [ID] and reaches it through a [Stub]. Each object runs one turn at a
// time and owns its own strongly consistent [Storage].
//
// This package imports only the standard library. The adapters live in
// packages named for what they wrap: actor (live objects and turns), sqlite
// (per-object databases), gateway (HTTP serving), keyring (namespace keys), and
// serve wires them into one command line.
package den
