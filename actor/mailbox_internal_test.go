package actor

import (
	"sync"
	"testing"
	"time"
)

// Events come out in the order they went in, across the ring's growth and
// wrap-around; a full mailbox refuses the next event and takes it once one
// leaves; an emptied ring past mailboxKeep slots is dropped.
func TestMailboxKeepsOrderAndItsLimit(t *testing.T) {
	const limit = 100
	m := newMailbox(limit)
	evs := make([]*event, 3*limit)
	for i := range evs {
		evs[i] = &event{}
	}
	next, want := 0, 0
	takeOne := func() {
		t.Helper()
		if got := m.take(); got != evs[want] {
			t.Fatalf("take %d: got another event (or none)", want)
		}
		want++
	}
	// Interleave puts and takes so that the ring wraps while it grows.
	for next < limit {
		for range min(3, limit-next) {
			if !m.put(evs[next]) {
				t.Fatalf("put %d refused with %d queued; the limit is %d", next, m.len(), limit)
			}
			next++
		}
		takeOne()
	}
	for m.len() < limit {
		if !m.put(evs[next]) {
			t.Fatalf("put %d refused with %d queued", next, m.len())
		}
		next++
	}
	if len(m.ring) != limit {
		t.Errorf("a full mailbox has %d slots, want %d (no more than its limit)", len(m.ring), limit)
	}
	if m.put(evs[next]) {
		t.Fatalf("a full mailbox (%d) took another event", limit)
	}
	takeOne()
	if !m.put(evs[next]) {
		t.Fatal("a mailbox with room refused an event")
	}
	next++
	for m.len() > 0 {
		takeOne()
	}
	if want != next {
		t.Fatalf("took %d events, put %d", want, next)
	}
	if m.take() != nil {
		t.Fatal("an empty mailbox gave an event")
	}
	if m.ring != nil {
		t.Errorf("an emptied mailbox keeps %d slots; want its ring dropped past %d", len(m.ring), mailboxKeep)
	}
}

// A consumer that waits on ready, as an object's goroutine does, sees every
// event put from other goroutines.
func TestMailboxSignalsEveryEvent(t *testing.T) {
	const producers, each = 4, 500
	m := newMailbox(producers * each)
	var wg sync.WaitGroup
	for range producers {
		wg.Go(func() {
			for range each {
				if !m.put(&event{}) {
					t.Error("put refused below the limit")
					return
				}
			}
		})
	}
	got := 0
	for got < producers*each {
		select {
		case <-m.ready:
		case <-time.After(10 * time.Second):
			t.Fatalf("no signal with %d of %d events taken and %d queued", got, producers*each, m.len())
		}
		if m.take() != nil {
			got++
		}
	}
	wg.Wait()
	if m.len() != 0 {
		t.Fatalf("%d events left after taking all %d", m.len(), producers*each)
	}
}
