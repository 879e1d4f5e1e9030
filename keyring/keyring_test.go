package keyring_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/den-run/den"
	"github.com/den-run/den/keyring"
)

func TestLoadGeneratesOnceAndIsStable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	k1, err := keyring.Load(dir, "Counter", keyring.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if k1 == (den.Key{}) {
		t.Fatal("Load returned the zero key")
	}
	for i := 0; i < 3; i++ {
		k2, err := keyring.Load(dir, "Counter", keyring.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if k2 != k1 {
			t.Fatalf("load %d: key changed", i)
		}
	}
	other, err := keyring.Load(dir, "ChatRoom", keyring.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if other == k1 {
		t.Fatal("two classes got the same key")
	}
	b, err := os.ReadFile(keyring.Path(dir, "Counter"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, keyring.Encode(k1)) || len(b) != 65 || b[64] != '\n' {
		t.Fatalf("key file holds %q", b)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("key directory holds %d entries, want 2 (temporary files left?)", len(entries))
	}
}

func TestLoadFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	if _, err := keyring.Load(dir, "Counter", keyring.Options{}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(keyring.Path(dir, "Counter"))
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("key file mode %v, want 0600", got)
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := di.Mode().Perm(); got != 0o700 {
		t.Errorf("key directory mode %v, want 0700", got)
	}
}

func TestLoadMalformedIsErrorAndUntouched(t *testing.T) {
	for name, content := range map[string]string{
		"empty":     "",
		"short":     "abc123\n",
		"not hex":   strings.Repeat("zz", 32) + "\n",
		"zeros":     strings.Repeat("0", 64) + "\n",
		"too long":  strings.Repeat("ab", 33) + "\n",
		"two lines": strings.Repeat("ab", 32) + "\n" + strings.Repeat("cd", 32) + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := keyring.Path(dir, "Counter")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := keyring.Load(dir, "Counter", keyring.Options{})
			if err == nil {
				t.Fatal("Load accepted a malformed key file")
			}
			if den.ErrorCode(err) != den.EINVALID || !strings.Contains(err.Error(), "malformed") || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q (code %s) should be EINVALID and name the malformed file", err, den.ErrorCode(err))
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != content {
				t.Fatalf("key file was rewritten to %q", b)
			}
		})
	}
}

func TestLoadAcceptsHandWrittenKey(t *testing.T) {
	dir := t.TempDir()
	hexKey := strings.Repeat("0123456789ABCDEF", 4) // upper case, no newline
	if err := os.WriteFile(keyring.Path(dir, "Counter"), []byte(hexKey), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := keyring.Load(dir, "Counter", keyring.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(keyring.Encode(k))); got != strings.ToLower(hexKey) {
		t.Fatalf("key %s, want %s", got, strings.ToLower(hexKey))
	}
}

func TestLoadRefusesWhenObjectsExist(t *testing.T) {
	dir := t.TempDir()
	called := false
	_, err := keyring.Load(dir, "Counter", keyring.Options{ObjectsExist: func() (bool, error) {
		called = true
		return true, nil
	}})
	if !called {
		t.Fatal("ObjectsExist was not consulted")
	}
	if err == nil {
		t.Fatal("Load generated a key although objects exist")
	}
	for _, want := range []string{"missing", "stored objects", "restore", "backup", "Counter"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := os.Stat(keyring.Path(dir, "Counter")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a key file was written: %v", err)
	}

	// A failing check is an error too, never a new key.
	_, err = keyring.Load(dir, "Counter", keyring.Options{ObjectsExist: func() (bool, error) {
		return false, errors.New("disk on fire")
	}})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("error %v, want the check's error", err)
	}

	// Once the key exists, the check is not needed.
	want, err := keyring.Load(dir, "Counter", keyring.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := keyring.Load(dir, "Counter", keyring.Options{ObjectsExist: func() (bool, error) { return true, nil }})
	if err != nil || got != want {
		t.Fatalf("Load with objects and a key file: %v", err)
	}
}

func TestLoadConcurrentAgree(t *testing.T) {
	for round := 0; round < 20; round++ {
		dir := filepath.Join(t.TempDir(), "keys")
		const n = 8
		keys := make([]den.Key, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				keys[i], errs[i] = keyring.Load(dir, "Counter", keyring.Options{})
			})
		}
		close(start)
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("round %d, loader %d: %v", round, i, errs[i])
			}
			if keys[i] != keys[0] {
				t.Fatalf("round %d: loaders %d and 0 disagree", round, i)
			}
		}
		disk, err := keyring.Load(dir, "Counter", keyring.Options{})
		if err != nil || disk != keys[0] {
			t.Fatalf("round %d: the key on disk is not the one returned (%v)", round, err)
		}
	}
}

func TestLoadRejectsUnsafeClassNames(t *testing.T) {
	dir := t.TempDir()
	for _, class := range []string{"", ".", "..", "../x", "a/b", `a\b`, ".hidden", "a b", "a\x00b", "1abc", "a.b", strings.Repeat("a", 129)} {
		if _, err := keyring.Load(dir, class, keyring.Options{}); den.ErrorCode(err) != den.EINVALID {
			t.Errorf("class %q: error %v, want EINVALID", class, err)
		}
	}
}

func TestLoadUsesRand(t *testing.T) {
	dir := t.TempDir()
	k, err := keyring.Load(dir, "Counter", keyring.Options{Rand: bytes.NewReader(bytes.Repeat([]byte{7}, 32))})
	if err != nil {
		t.Fatal(err)
	}
	if k != den.Key(bytes.Repeat([]byte{7}, 32)) {
		t.Fatalf("key %x was not read from Rand", k)
	}
	// A short source is an error, not a weak key.
	_, err = keyring.Load(t.TempDir(), "Counter", keyring.Options{Rand: bytes.NewReader([]byte{1})})
	if err == nil {
		t.Fatal("Load accepted a short random source")
	}
}

func ExampleLoad() {
	dir, err := os.MkdirTemp("", "keys")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	// The first Load generates the key; later ones read it back.
	first, err := keyring.Load(dir, "Counter", keyring.Options{})
	if err != nil {
		panic(err)
	}
	again, err := keyring.Load(dir, "Counter", keyring.Options{})
	if err != nil {
		panic(err)
	}
	fmt.Println("same key:", first == again)
	fmt.Println("same IDs:", first.IDFromName("alice").Equal(again.IDFromName("alice")))

	// Without the key file, a class whose objects are stored gets no new key.
	os.Remove(keyring.Path(dir, "Counter"))
	_, err = keyring.Load(dir, "Counter", keyring.Options{
		ObjectsExist: func() (bool, error) { return true, nil },
	})
	fmt.Println("refused:", err != nil)
	// Output:
	// same key: true
	// same IDs: true
	// refused: true
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(strings.Repeat("ab", 32) + "\n"))
	f.Add([]byte(strings.Repeat("0", 64)))
	f.Add([]byte("not a key"))
	f.Add([]byte(" " + strings.Repeat("AB", 32) + "\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		key, err := keyring.Decode(b)
		if err != nil {
			if den.ErrorCode(err) != den.EINVALID {
				t.Fatalf("error %v is not EINVALID", err)
			}
			return
		}
		again, err := keyring.Decode(keyring.Encode(key))
		if err != nil || again != key {
			t.Fatalf("Encode and Decode disagree: %v", err)
		}
	})
}
