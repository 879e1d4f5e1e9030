package admin

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/den-run/den"
)

// TokenFile is the name of the token's file in the data directory.
const TokenFile = "admin.token"

// LoadToken returns the token kept in the file at path, reporting whether
// it had to create it. A missing file is created with a new random token
// (32 bytes, hex), mode 0600, atomically: written to a temporary file,
// synced, renamed into place, and the directory synced; so a crash leaves
// either no token or the whole of it. An existing file must hold a token
// and be readable by its owner only (mode 0600 or stricter): LoadToken
// refuses one that others could read rather than serve with a leaked
// secret.
func LoadToken(path string) (token string, created bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		fi, err := os.Stat(path)
		if err != nil {
			return "", false, den.Errorf(den.EINTERNAL, "admin token: %w", err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return "", false, den.Errorf(den.EINVALID, "admin token file %s has mode %04o: others may read it; run chmod 600 %s, or delete it for a new token", path, fi.Mode().Perm(), path)
		}
		token = strings.TrimSpace(string(b))
		if token == "" {
			return "", false, den.Errorf(den.EINVALID, "admin token file %s is empty: delete it for a new token, or write one in it", path)
		}
		return token, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", false, den.Errorf(den.EINTERNAL, "admin token: %w", err)
	}
	raw := make([]byte, 32)
	rand.Read(raw) // never fails
	token = hex.EncodeToString(raw)
	if err := writeAtomic(path, []byte(token+"\n")); err != nil {
		return "", false, den.Errorf(den.EINTERNAL, "admin token: %w", err)
	}
	return token, true, nil
}

// writeAtomic writes data to path with mode 0600 through a temporary file
// in the same directory.
func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
