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
// sends what objects' turns released through the output gate, with writev
// and without blocking; a socket whose peer reads too slowly is closed with
// 1008 once MaxSendQueue bytes wait for it.
//
// Lock order: Hub.mu → socket.mu → {Hub.fmu, Hub.wmu, timers.mu → Hub.evmu};
// the others are leaves. Hub.mu is never taken with a socket's lock held.
// See docs/WEBSOCKETS.md and docs/CONCURRENCY.md.
package hub
