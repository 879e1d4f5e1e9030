package sqlite

import (
	"sync"
	"testing"
)

// TestAuthKeysAreReusedOnlyWhenFree checks the authorizer table: a key
// names its sandbox until it is forgotten, a forgotten key names nothing,
// keys are reused only once free, and keys past a chunk boundary work.
func TestAuthKeysAreReusedOnlyWhenFree(t *testing.T) {
	const n = authChunk + 10 // into a second chunk
	sbs := make([]*sandbox, n)
	keys := make([]uintptr, n)
	seen := map[uintptr]bool{}
	for i := range sbs {
		sbs[i] = &sandbox{}
		key, err := registerAuth(sbs[i])
		if err != nil {
			t.Fatal(err)
		}
		if seen[key] {
			t.Fatalf("key %d handed out twice while in use", key)
		}
		seen[key], keys[i] = true, key
	}
	for i, key := range keys {
		if got := lookupAuth(key); got != sbs[i] {
			t.Fatalf("key %d names %p, want %p", key, got, sbs[i])
		}
	}
	forgetAuth(keys[3])
	if got := lookupAuth(keys[3]); got != nil {
		t.Fatalf("a forgotten key still names %p", got)
	}
	again, err := registerAuth(&sandbox{})
	if err != nil {
		t.Fatal(err)
	}
	if again != keys[3] {
		t.Errorf("a free key was not reused: got %d, want %d", again, keys[3])
	}
	keys[3] = again
	for _, key := range keys {
		forgetAuth(key)
	}
	for _, key := range []uintptr{0, authChunk * authChunks, authChunk*authChunks + 1} {
		if got := lookupAuth(key); got != nil {
			t.Errorf("key %d names %p, want nothing", key, got)
		}
	}
}

// TestAuthLookupsRaceWithRegistrations has callbacks read while other
// connections register and forget, as thousands of activations do at once;
// under -race it checks that the lock-free read is synchronized.
func TestAuthLookupsRaceWithRegistrations(t *testing.T) {
	own := &sandbox{}
	key, err := registerAuth(own)
	if err != nil {
		t.Fatal(err)
	}
	defer forgetAuth(key)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 2000 {
				k, err := registerAuth(&sandbox{})
				if err != nil {
					t.Error(err)
					return
				}
				forgetAuth(k)
			}
		})
		wg.Go(func() {
			for range 20000 {
				if lookupAuth(key) != own {
					t.Error("a registered key lost its sandbox")
					return
				}
			}
		})
	}
	wg.Wait()
}
