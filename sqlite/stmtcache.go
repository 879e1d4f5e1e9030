package sqlite

import (
	"container/list"

	"zombiezen.com/go/sqlite"
)

// The statement cache's bounds: workerd's 1 MiB of SQL text, and a count,
// since thousands of objects may be live at once and a compiled statement
// takes a few kilobytes however short its text.
const (
	stmtCacheMaxBytes = 1 << 20
	stmtCacheMaxStmts = 100
)

// stmtCache keeps the object's compiled user statements by their text, least
// recently used first out. It is separate from zombiezen's own cache
// (Conn.Prepare), which holds Den's statements and is unbounded.
type stmtCache struct {
	m     map[string]*cached
	lru   list.List // of *cached, most recently used at the front
	bytes int       // text of the statements in m
}

// cached is one statement in the cache.
type cached struct {
	query   string
	stmt    *sqlite.Stmt
	info    stmtInfo
	inUse   bool // an open cursor is reading it
	evicted bool // out of the cache: finalize it when the cursor is done
	elem    *list.Element
}

// get returns the statement for query, or nil.
func (c *stmtCache) get(query string) *cached {
	e := c.m[query]
	if e != nil {
		c.lru.MoveToFront(e.elem)
	}
	return e
}

// add caches stmt, in use, under query and evicts what no longer fits. It
// returns nil, caching nothing, for a query too long to cache.
func (c *stmtCache) add(query string, stmt *sqlite.Stmt, info stmtInfo) *cached {
	if len(query) > stmtCacheMaxBytes/8 {
		return nil
	}
	if c.m == nil {
		c.m = map[string]*cached{}
	}
	e := &cached{query: query, stmt: stmt, info: info, inUse: true}
	e.elem = c.lru.PushFront(e)
	c.m[query] = e
	c.bytes += len(query)
	for c.bytes > stmtCacheMaxBytes || len(c.m) > stmtCacheMaxStmts {
		c.evict(c.lru.Back().Value.(*cached))
	}
	return e
}

// evict removes e from the cache, finalizing its statement unless a cursor
// still reads it.
func (c *stmtCache) evict(e *cached) {
	c.lru.Remove(e.elem)
	delete(c.m, e.query)
	c.bytes -= len(e.query)
	if e.inUse {
		e.evicted = true
		return
	}
	e.stmt.Finalize()
}

// release returns e's statement to the cache once a cursor is done with it.
func (c *stmtCache) release(e *cached) {
	e.stmt.Reset() // the error, if any, was the last Step's
	e.stmt.ClearBindings()
	e.inUse = false
	if e.evicted {
		e.stmt.Finalize()
	}
}

// close finalizes every cached statement. Cursors must be closed first.
func (c *stmtCache) close() {
	for _, e := range c.m {
		e.stmt.Finalize()
	}
	c.m, c.bytes = nil, 0
	c.lru.Init()
}
