package sqlite

import "modernc.org/libc"

// A live object's connection holds a C stack (a modernc thread state) only
// while the object's goroutine works: Enter lends it one from cStacks and
// Leave gives it back. Between events the connection keeps a thread state
// of its own, home, which runs no deep call and so holds almost no stack.
//
// modernc gives each thread state a stack of blocks, one per call depth,
// allocated when first reached and kept until the state closes, about
// 24–38 KB once a connection has parsed and stepped its statements. Every
// live object held one for as long as it stayed in memory, though nothing
// is on a C stack between calls: with 9,000 objects live, over 200 MB of
// stacks that only the few objects running at a moment used. Now the
// stacks in use are the objects running, and an activation takes a stack
// already faulted in.
//
// Only the object's goroutine calls Enter and Leave, and no C call may be
// running on the connection when it does; no other goroutine makes C calls
// on an open connection (Sync does not, and the interrupt goroutine of
// zombiezen's SetInterrupt runs only while openDB sets the connection up).
// Code that keeps the thread state must read it when it calls (d.sql.tls,
// set here), never store it.

// Enter gives the connection a C stack for the calls the object's goroutine
// is about to make. It is a no-op on a closed DB or one already entered.
func (d *DB) Enter() {
	if d.conn == nil || d.work != nil {
		return
	}
	t := cStacks.take()
	if t == nil {
		t = libc.NewTLS()
	}
	d.work = t
	d.home = setConnTLS(d.conn, t)
	d.sql.tls = t
}

// Leave gives the connection's C stack back for other objects; the object's
// goroutine is about to wait. A later call without Enter runs on the
// connection's own thread state, which grows a stack of its own.
func (d *DB) Leave() {
	if d.conn == nil || d.work == nil {
		return
	}
	setConnTLS(d.conn, d.home)
	d.sql.tls = d.home
	cStacks.keep(d.work)
	d.work = nil
}

// closeConnection closes d's connection: the lent stack goes back to the
// pool, and closeConn keeps home, the state it finds there.
func (d *DB) closeConnection() error {
	d.Leave()
	err := closeConn(d.conn)
	d.conn, d.home = nil, nil
	return err
}
