package den

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// MaxIDNameBytes is the longest name an ID remembers. Longer names still make
// valid IDs, but [ID.Name] reports "" for them, as Cloudflare does.
const MaxIDNameBytes = 1024

// ID identifies one object within a namespace: 32 bytes shown as 64 lowercase
// hex digits. The first 16 bytes are the base (an HMAC of the name, or random);
// the last 16 are an HMAC of the base under the namespace key, so an ID cannot
// be forged without the key and belongs to exactly one namespace.
//
// Compare IDs with [ID.Equal]: two IDs with the same bytes are the same object
// whether or not one of them knows its name. The zero ID is invalid.
type ID struct {
	raw  [32]byte
	name string
}

// String returns the ID as 64 lowercase hex digits.
func (id ID) String() string { return hex.EncodeToString(id.raw[:]) }

// Name returns the name the ID was made from, or "" if it was unique, parsed
// from a string, or made from a name longer than [MaxIDNameBytes].
func (id ID) Name() string { return id.name }

// Equal reports whether id and other name the same object.
func (id ID) Equal(other ID) bool { return id.raw == other.raw }

// IsZero reports whether id is the zero ID, which names no object.
func (id ID) IsZero() bool { return id.raw == [32]byte{} }

// Bytes returns the 32 bytes of the ID; use it as a map key.
func (id ID) Bytes() [32]byte { return id.raw }

// WithName returns the ID carrying name, as an object learns it from the
// caller. It does not check that name derives the ID; the runtime does.
func (id ID) WithName(name string) ID {
	if len(name) > MaxIDNameBytes {
		name = ""
	}
	id.name = name
	return id
}

// Key is a namespace's secret. It derives IDs from names and signs every ID of
// the namespace. Losing it orphans every object made from a name.
type Key [32]byte

// NewKey returns a random key read from r (crypto/rand when r is nil).
func NewKey(r io.Reader) (Key, error) {
	if r == nil {
		r = rand.Reader
	}
	var k Key
	if _, err := io.ReadFull(r, k[:]); err != nil {
		return Key{}, fmt.Errorf("new namespace key: %w", err)
	}
	return k, nil
}

// IDFromName returns the ID for name; the same key and name always give the
// same ID.
func (k Key) IDFromName(name string) ID {
	m := hmac.New(sha256.New, k[:])
	m.Write([]byte(name))
	var id ID
	copy(id.raw[:16], m.Sum(nil))
	k.sign(&id)
	return id.WithName(name)
}

// NewUniqueID returns a random ID read from r (crypto/rand when r is nil).
func (k Key) NewUniqueID(r io.Reader) (ID, error) {
	if r == nil {
		r = rand.Reader
	}
	var id ID
	if _, err := io.ReadFull(r, id.raw[:16]); err != nil {
		return ID{}, fmt.Errorf("new unique id: %w", err)
	}
	k.sign(&id)
	return id, nil
}

// ErrInvalidID is returned, wrapped, for a string that is not 64 hex digits.
var ErrInvalidID = errors.New("Invalid Durable Object ID: must be 64 hex digits")

// ErrForeignID is returned for a well-formed ID made by another namespace, or forged.
var ErrForeignID = errors.New("Durable Object ID is not valid for this namespace.")

// ParseID checks that s is an ID of this key's namespace and returns it. The
// result knows no name.
func (k Key) ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 64 {
		return ID{}, Errorf(EINVALID, "%w (got %d characters)", ErrInvalidID, len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return ID{}, Errorf(EINVALID, "%w (character %d is %q; use lowercase hex)", ErrInvalidID, i+1, c)
		}
	}
	if _, err := hex.Decode(id.raw[:], []byte(s)); err != nil {
		return ID{}, Errorf(EINVALID, "%w", ErrInvalidID)
	}
	if !k.Signed(id) {
		return ID{}, Errorf(EINVALID, "%w", ErrForeignID)
	}
	return id, nil
}

// Signed reports whether id was made with this key.
func (k Key) Signed(id ID) bool {
	want := id
	k.sign(&want)
	return hmac.Equal(want.raw[16:], id.raw[16:])
}

func (k Key) sign(id *ID) {
	m := hmac.New(sha256.New, k[:])
	m.Write(id.raw[:16])
	copy(id.raw[16:], m.Sum(nil))
}
