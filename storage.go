package den

import (
	"context"
	"encoding/json"
	"fmt"
)

// Key-value limits, enforced by every Storage.
const (
	MaxKeyBytes      = 2048     // longest key, in bytes of UTF-8
	MaxKeyValueBytes = 2 << 20  // key plus value, in bytes
	MaxBatchKeys     = 128      // keys in one GetMany, PutMany or DeleteMany
	MaxRPCBytes      = 32 << 20 // serialized RPC arguments or result
	MaxFetchBytes    = 32 << 20 // a buffered request or response body through a stub
)

// Entry is one key-value pair.
type Entry struct {
	Key   string
	Value []byte
}

// ListOptions selects a range of keys for [Storage.List]. Keys order by their
// UTF-8 bytes. The zero value lists every key.
//
// Start is inclusive and End exclusive; Reverse walks the same range from its
// end. StartAfter is an exclusive start and may not be combined with Start.
// Prefix narrows the range to keys that begin with it. Limit, when positive,
// caps the number of entries; a negative Limit is an error. An empty string
// means "no bound", so End "" does not select the empty range.
type ListOptions struct {
	Start      string
	StartAfter string
	End        string
	Prefix     string
	Reverse    bool
	Limit      int
}

// KV is the key-value API on an object's own database. It is used only from
// the object's own turns (the runtime calls it from one goroutine), so its
// methods take no context: they never wait for another object.
//
// Every write joins the turn's implicit transaction: all writes of one turn
// commit atomically when it ends, and roll back if it fails. Errors are
// *Error values: ELIMIT for a broken limit (the message names it), EINVALID
// for bad arguments, EINTERNAL for storage failures (the object then resets).
type KV interface {
	// Get returns the value of key and whether it exists.
	Get(key string) (value []byte, ok bool, err error)
	// GetMany returns the existing keys among keys, sorted by key.
	GetMany(keys []string) ([]Entry, error)
	// Put sets key to value.
	Put(key string, value []byte) error
	// PutMany sets every entry, atomically.
	PutMany(entries []Entry) error
	// Delete removes key and reports whether it existed.
	Delete(key string) (bool, error)
	// DeleteMany removes keys and returns how many existed.
	DeleteMany(keys []string) (int, error)
	// List returns the entries in the range opts selects, in key order
	// (descending with Reverse).
	List(opts ListOptions) ([]Entry, error)
	// DeleteAll wipes the object's whole database atomically: every key,
	// and every table, index, view and trigger its SQL created. It fails
	// inside Transaction.
	DeleteAll() error
	// Transaction runs fn in a nested transaction: if fn returns an error or
	// panics, its writes roll back and the error is returned (the panic goes
	// on). Transactions nest.
	Transaction(fn func() error) error
}

// Storage is what an object holds: its key-value API plus control over
// durability. A turn's reply (and any call it makes) is held until the
// turn's writes are durable: that is the output gate.
type Storage interface {
	KV
	// AlarmStorage sets, reads and deletes the object's alarm.
	AlarmStorage
	// SQL returns the SQL API on the same database. Its writes share the
	// turn's transaction, and Transaction, with the key-value writes.
	SQL() SQL
	// Sync commits the turn's writes so far, waits until they and every
	// earlier write are durable, and begins a new transaction. Like an
	// outgoing call it is a yield point; inside Transaction it only waits
	// for earlier writes.
	Sync(ctx context.Context) error
	// Unconfirmed returns the same storage with the output gate opted out:
	// its writes do not hold the turn's reply (allowUnconfirmed). They are
	// still made durable, in order, and a failure still resets the object.
	Unconfirmed() KV
	// PointInTime is the database's history: bookmarks and restores.
	PointInTime
}

// Database is one object's storage as the runtime sees it: the user's
// Storage plus the turn's implicit transaction and durability. It is used
// from one goroutine at a time, except Sync, which a committer may call from
// any goroutine, concurrently with the other methods and even after Close.
//
// Rollback with no transaction open does nothing; Begin while one is open and
// Commit with none open are errors. After a failed COMMIT, or a transaction
// SQLite rolled back on its own (disk full, I/O error), the Database is
// broken and every call but Sync and Close returns that error: the runtime
// closes it and opens it again.
type Database interface {
	KV
	// AlarmStorage reads and writes the stored alarm record as is, in the
	// turn's transaction.
	AlarmStorage
	// SQL returns the SQL API on the database, sandboxed for user code.
	// Cursors it returns are closed by Commit, Rollback and Close.
	SQL() SQL
	// Begin starts the turn's implicit transaction.
	Begin() error
	// Commit ends it, reporting whether it wrote anything. The writes are
	// committed but not yet durable: see [Committer].
	Commit() (wrote bool, err error)
	// Rollback discards the turn's writes.
	Rollback() error
	// Sync makes every committed write durable (an fsync of the log).
	Sync() error
	// Close closes the database. A transaction still open is rolled back.
	// A database left holding nothing is removed from disk.
	Close() error
}

// Store opens the databases of objects. Open may be called from many
// goroutines; each returned Database is then owned by its caller.
type Store interface {
	// Open opens (creating if needed) the database of object id of class.
	Open(ctx context.Context, class string, id ID) (Database, error)
}

// Committer makes committed writes durable before their outputs are released
// (the output gate). Flush is called on the object's goroutine right after a
// commit that wrote; it calls done exactly once, with nil once db's writes are
// durable or with the error that prevented it, and calls done for one
// database in the order Flush was called. An implementation may call done
// before returning (one fsync per commit) or later (a barrier shared by many
// objects); done must not block.
type Committer interface {
	Flush(db Database, done func(error))
}

// SyncCommitter is the simplest Committer: it syncs each database on the
// caller's goroutine before returning.
type SyncCommitter struct{}

// Flush syncs db and calls done with the result.
func (SyncCommitter) Flush(db Database, done func(error)) { done(db.Sync()) }

// GetJSON reads key and decodes its JSON value into a T. The typed layer
// stores values as JSON text (UTF-8), which JavaScript objects will read with
// JSON.parse; ok is false when key does not exist.
func GetJSON[T any](s KV, key string) (v T, ok bool, err error) {
	b, ok, err := s.Get(key)
	if err != nil || !ok {
		return v, ok, err
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, true, Errorf(EINVALID, "decode value of key %q as %T: %w", key, v, err)
	}
	return v, true, nil
}

// PutJSON encodes v as JSON and stores it under key.
func PutJSON[T any](s KV, key string, v T) error {
	b, err := json.Marshal(v)
	if err != nil {
		return Errorf(EINVALID, "encode value for key %q: %w", key, err)
	}
	return s.Put(key, b)
}

// CheckKey returns an ELIMIT error if key is longer than MaxKeyBytes and an
// EINVALID error if it is not UTF-8.
func CheckKey(key string) error {
	if err := CheckKeyText(key); err != nil {
		return err
	}
	if len(key) > MaxKeyBytes {
		return Errorf(ELIMIT, "Keys cannot be larger than %d bytes. A key of size %d was provided.", MaxKeyBytes, len(key))
	}
	return nil
}

// CheckEntry returns an ELIMIT error if key or key plus value break a limit.
func CheckEntry(key string, value []byte) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if n := len(key) + len(value); n > MaxKeyValueBytes {
		return Errorf(ELIMIT, "Key and value together cannot be larger than %d bytes (2 MiB). Key %q and its value are %d bytes.", MaxKeyValueBytes, truncate(key, 64), n)
	}
	return nil
}

// CheckBatch returns an ELIMIT error if a batch has more than MaxBatchKeys keys.
func CheckBatch(n int) error {
	if n > MaxBatchKeys {
		return Errorf(ELIMIT, "Maximum number of key value pairs is %d. %d pairs were provided.", MaxBatchKeys, n)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("%s…", s[:n])
}
