// Package hub keeps a node's hibernatable WebSockets: accepted sockets
// belong to the Hub, not to the live object, so they stay connected while
// their object is evicted, and their next message constructs it again.
//
// Connections are taken from net/http by hijacking (the handshake is
// gobwas/ws's), their file descriptors duplicated and parked in one epoll
// set that a single poller goroutine watches. An idle socket costs its
// record (a few hundred bytes) and a kernel socket: no goroutine, no read
// or write buffer. The poller reads ready sockets into one shared buffer,
// answers pings and the object's auto-response itself, and hands messages,
// closes and errors to the objects as turns through den.WebSocketDeliverer
// (actor.Host), one event per socket at a time. A small pool of writers
// sends what objects' turns released through the output gate, without
// blocking: each writer has an io_uring and sends up to 64 sockets' output
// with one io_uring_enter (send(2) and writev where io_uring is turned off
// or unavailable); a socket whose peer reads too slowly is closed with 1008
// once MaxSendQueue bytes wait for it.
//
// Lock order: Hub.mu → socket.mu → {Hub.fmu, Hub.wmu, timers.mu → Hub.evmu};
// the others are leaves. Hub.mu is never taken with a socket's lock held.
// A writer with a ring holds the locks of all the sockets whose sends are
// in it until they complete; nothing else holds two sockets' locks, and a
// socket is in one writer's batch at a time (socket.queued), so writers
// cannot wait on each other.
// See docs/WEBSOCKETS.md and docs/CONCURRENCY.md.
package hub
