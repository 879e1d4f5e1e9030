// Package pitr keeps the history of each object's SQLite database, for
// point-in-time recovery: every committed transaction, captured from the
// database's write-ahead log before a checkpoint discards it, plus periodic
// snapshots. From the history it answers bookmarks (a string naming one
// committed state, sorting in time order), builds a database file as it was
// at any bookmark within the retention window, and stages such a file to
// replace the database when it is next opened.
//
// The package reads and writes files only: it parses the WAL format and
// writes SQLite pages, but it imports no SQLite driver. The sqlite package
// drives it through [Log]'s methods from the database's owner goroutine: it
// disables SQLite's automatic checkpoints, calls [Log.Committed] after every
// COMMIT, and [Log.Archive] then [Log.Checkpointed] around every checkpoint.
//
// The layout of an object's history, under the archive's directory:
//
//	<class>/<id[0:2]>/<id[2:4]>/<id>/
//	  <base>.snap       the database file as it was after transaction <base>
//	  <base>.log        the transactions after <base>, appended as they are archived
//	  restore.sqlite    a database staged to replace the object's at its next open
//
// docs/STORAGE.md describes the formats and the durability argument.
package pitr
