// Package commit makes committed writes durable for many objects at once:
// the durability barrier behind Den's output gate.
//
// An object's turn commits to its SQLite WAL without fsync and hands the
// database to a [Committer] with a callback that releases the turn's held
// outputs. The committer's loop takes everything that committed since its
// last barrier, makes all of it durable together — fdatasync of every WAL
// file in parallel, or one syncfs(2) of the whole filesystem — and then calls
// the callbacks in order. While one barrier is in flight the next batch
// gathers, so a busy node pays one barrier per batch instead of one fsync per
// write, and an object keeps running turns while its earlier outputs wait.
//
// If a barrier fails, every callback of the affected databases gets the
// error (the actor resets those objects and turns their held outputs into
// errors), and the committer refuses later flushes of the same database
// handle: after a failed fsync, Linux may have dropped the dirty pages, so a
// later successful fsync proves nothing.
package commit
