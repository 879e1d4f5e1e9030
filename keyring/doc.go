// Package keyring keeps namespace secret keys on disk.
//
// Every namespace has a [den.Key] that derives object IDs from names and signs
// every ID of the namespace. The key must outlive the process: a lost key
// orphans every object made from a name, because the same name would then
// give a different ID. Load therefore writes a new key once, atomically and
// durably, and afterwards only reads it; it never replaces a key file that
// exists, and it refuses to make a new one for a class whose objects are
// already stored (the key file was lost and must be restored from backup).
//
// A key file is <dir>/<class>.key: 64 lowercase hex digits and a newline,
// mode 0600, in a directory of mode 0700. Back it up with the data.
package keyring
