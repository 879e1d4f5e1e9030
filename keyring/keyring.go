package keyring

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/den-run/den"
)

// Options tune [Load]. The zero value is valid.
type Options struct {
	// ObjectsExist reports whether objects of the class are already stored.
	// Load calls it only when the key file is missing; if it reports true,
	// Load refuses to generate a key, since a new key would orphan every
	// object made from a name. Nil means no objects exist.
	ObjectsExist func() (bool, error)

	// Rand is the source of new keys; nil means crypto/rand.
	Rand io.Reader
}

// Load returns the key of class kept in dir, generating it if there is none.
//
// An existing key file is read and checked; a malformed one is an EINVALID
// error and is left untouched. A missing one is generated and written
// atomically (a temporary file in dir, synced, then linked into place, then
// dir synced), unless opts.ObjectsExist reports stored objects: that is an
// EINVALID error asking to restore the key file from backup. dir is created
// with mode 0700 if needed.
//
// Load is safe to call concurrently, from goroutines or processes: when two
// calls race to create the key, one wins and both return its key.
func Load(dir, class string, opts Options) (den.Key, error) {
	if err := checkClass(class); err != nil {
		return den.Key{}, err
	}
	path := Path(dir, class)
	key, err := read(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if opts.ObjectsExist != nil {
		exist, err := opts.ObjectsExist()
		if err != nil {
			return den.Key{}, den.Errorf(den.EINTERNAL, "key of class %s: check for stored objects: %w", class, err)
		}
		if exist {
			return den.Key{}, den.Errorf(den.EINVALID, "key file %s is missing but class %s has stored objects: restore the key file from backup (a new key would orphan every object made from a name)", path, class)
		}
	}
	return create(dir, path, class, opts.Rand)
}

// Path returns the file that holds the key of class in dir.
func Path(dir, class string) string { return filepath.Join(dir, class+".key") }

// Encode returns key as it is written in a key file: 64 lowercase hex digits
// and a newline.
func Encode(key den.Key) []byte {
	b := make([]byte, hex.EncodedLen(len(key))+1)
	hex.Encode(b, key[:])
	b[len(b)-1] = '\n'
	return b
}

// Decode parses the contents of a key file. It accepts 64 hex digits with
// surrounding white space and rejects anything else, including the all-zero
// key, which is what a zero-filled (damaged) file would hold.
func Decode(b []byte) (den.Key, error) {
	var key den.Key
	s := bytes.TrimSpace(b)
	if len(s) != hex.EncodedLen(len(key)) {
		return den.Key{}, den.Errorf(den.EINVALID, "want 64 hex digits and a newline, got %d bytes", len(b))
	}
	if _, err := hex.Decode(key[:], s); err != nil {
		return den.Key{}, den.Errorf(den.EINVALID, "want 64 hex digits: %w", err)
	}
	if key == (den.Key{}) {
		return den.Key{}, den.Errorf(den.EINVALID, "the key is all zeros, which a damaged file would hold")
	}
	return key, nil
}

// read reads and decodes the key file at path. The error wraps
// fs.ErrNotExist when there is no file.
func read(path string) (den.Key, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return den.Key{}, err
	}
	if err != nil {
		return den.Key{}, den.Errorf(den.EINTERNAL, "read key file: %w", err)
	}
	key, err := Decode(b)
	if err != nil {
		return den.Key{}, den.Errorf(den.EINVALID, "key file %s is malformed (%v): restore it from backup; Den never replaces a key file", path, err)
	}
	return key, nil
}

// create generates a key and links it into place at path unless another
// caller did first, in which case it returns theirs.
func create(dir, path, class string, r io.Reader) (den.Key, error) {
	key, err := den.NewKey(r)
	if err != nil {
		return den.Key{}, den.Errorf(den.EINTERNAL, "generate key of class %s: %w", class, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return den.Key{}, den.Errorf(den.EINTERNAL, "create key directory: %w", err)
	}
	// Write a complete, synced temporary file first, so the final name
	// never shows a partial key, then link it: link fails with EEXIST if
	// the final name exists, which makes creation exclusive.
	tmp, err := os.CreateTemp(dir, "."+class+".key.tmp-*")
	if err != nil {
		return den.Key{}, den.Errorf(den.EINTERNAL, "create key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(Encode(key))
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return den.Key{}, den.Errorf(den.EINTERNAL, "write key file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return read(path) // another caller won the race
		}
		return den.Key{}, den.Errorf(den.EINTERNAL, "install key file: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return den.Key{}, den.Errorf(den.EINTERNAL, "sync key directory: %w", err)
	}
	return key, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// MaxClassBytes is the longest class name Load accepts, as sqlite.Store.
const MaxClassBytes = 128

// checkClass rejects class names that cannot safely name a file. The rule is
// the one the object store applies: a letter, then letters, digits, '_' or
// '-'.
func checkClass(class string) error {
	ok := class != "" && len(class) <= MaxClassBytes && isLetter(class[0])
	for i := 1; ok && i < len(class); i++ {
		c := class[i]
		ok = isLetter(c) || '0' <= c && c <= '9' || c == '_' || c == '-'
	}
	if !ok {
		return den.Errorf(den.EINVALID, "key of class %q: a class name must start with a letter and hold only letters, digits, '_' and '-', at most %d in all", class, MaxClassBytes)
	}
	return nil
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
