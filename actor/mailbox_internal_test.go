package actor

import (
	"sync"
	"testing"
	"time"
)

// take receives an event as the object's goroutine does, or returns nil if
// none is in the channel.
func (m *mailbox) take() *event {
	select {
	case ev := <-m.ch:
		m.received()
		return ev
	default:
		return nil
	}
}

// Events come out in the order they went in, through the channel and past
// it through overflow; a full mailbox refuses the next event and takes it
// once one leaves; an emptied overflow lets its array go; and every queued
// event is in the channel or behind a full one.
func TestMailboxKeepsOrderAndItsLimit(t *testing.T) {
	const limit = 100
	m := newMailbox(limit)
	evs := make([]*event, 3*limit)
	for i := range evs {
		evs[i] = &event{}
	}
	next, want := 0, 0
	put := func() {
		t.Helper()
		if !m.put(evs[next]) {
			t.Fatalf("put %d refused with %d queued; the limit is %d", next, m.len(), limit)
		}
		next++
		if m.over.Load() > 0 && len(m.ch) < cap(m.ch) {
			t.Fatalf("%d events wait in overflow behind a channel with room (%d of %d)", m.over.Load(), len(m.ch), cap(m.ch))
		}
	}
	takeOne := func() {
		t.Helper()
		if got := m.take(); got != evs[want] {
			t.Fatalf("take %d: got another event (or none), %d queued", want, m.len())
		}
		want++
		if m.over.Load() > 0 && len(m.ch) < cap(m.ch) {
			t.Fatalf("after a take, %d events wait in overflow behind a channel with room", m.over.Load())
		}
	}
	// Interleave puts and takes so that overflow fills and drains.
	for next < limit {
		for range min(3, limit-next) {
			put()
		}
		takeOne()
	}
	for m.len() < limit {
		put()
	}
	if m.len() != limit || m.over.Load() == 0 {
		t.Fatalf("%d queued (%d in overflow); want %d, past the channel's %d", m.len(), m.over.Load(), limit, cap(m.ch))
	}
	if m.put(evs[next]) {
		t.Fatalf("a full mailbox (%d) took another event", limit)
	}
	takeOne()
	put()
	for m.len() > 0 {
		takeOne()
	}
	if want != next {
		t.Fatalf("took %d events, put %d", want, next)
	}
	if m.take() != nil {
		t.Fatal("an empty mailbox gave an event")
	}
	if m.overflow != nil {
		t.Errorf("an emptied overflow keeps an array of %d", cap(m.overflow))
	}
}

// A goroutine that waits on the channel, as an object's does, gets every
// event, in order, while a producer (one at a time, as under Host.mu) puts
// faster than it takes: no event is left in overflow with the channel
// empty.
func TestMailboxDeliversEveryEventInOrder(t *testing.T) {
	const total = 5000
	m := newMailbox(total)
	evs := make([]*event, total)
	for i := range evs {
		evs[i] = &event{}
	}
	var mu sync.Mutex // Host.mu
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range total {
			mu.Lock()
			ok := m.put(evs[i])
			mu.Unlock()
			if !ok {
				t.Error("put refused below the limit")
				return
			}
			if i%64 == 0 {
				time.Sleep(time.Microsecond) // let the consumer catch up now and then
			}
		}
	})
	for got := range total {
		select {
		case ev := <-m.ch:
			m.received()
			if ev != evs[got] {
				t.Fatalf("event %d out of order", got)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no event with %d of %d taken: %d in the channel, %d in overflow", got, total, len(m.ch), m.over.Load())
		}
	}
	wg.Wait()
	if m.len() != 0 {
		t.Fatalf("%d events left after taking all %d", m.len(), total)
	}
}
