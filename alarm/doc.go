// Package alarm is the node's schedule of Durable Object alarms and the
// runner that delivers them.
//
// An object's alarm lives in its own database (written in the same
// transaction as the turn that set it); the [Index] is a second, node-wide
// record of when each object must be looked at: a small SQLite database
// (<data>/alarms.sqlite) with a row per object, ordered by due time. It lets
// the [Runner] wake objects that are not in memory, and survives restarts:
// rows that fell due while the process was down are delivered as soon as the
// Runner opens.
//
// The two records are kept consistent by one rule: the index never holds a
// later time for an object than the object's own alarm (except while a
// failed delivery waits for its retry). The host calls
// [Index.ScheduleAlarm] before it commits a turn that set an alarm, and the
// index keeps the earlier of the two times; deletions and later times are
// not reported. So the index may be early or stale, never late: a firing
// delivers the alarm only if the object's own record says it is due, and
// then sets the row to whatever the object's record holds afterwards. If the
// index file is new or lost, Open rebuilds it from the objects' records.
// docs/ALARMS.md has the whole design.
//
// The Runner keeps one timer, for the earliest due row, and pages due rows
// from the index in batches to a fixed pool of workers, so a million
// scheduled alarms cost a million rows on disk and nothing in memory.
//
// This package imports the root and zombiezen.com/go/sqlite; it knows
// objects only through den.AlarmDeliverer (actor.Host) and reads their
// records only through IndexConfig.Scan (sqlite.Store.ScanAlarms), wired
// together in serve.
package alarm
