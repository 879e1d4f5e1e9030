package actor

import (
	"sync"
	"sync/atomic"
)

// mailbox holds an object's events in arrival order, at most max of them.
// A channel of mailboxChan slots carries them to the object's goroutine;
// events that find it full wait, in order, in overflow, and move into the
// channel as it drains. A channel of Config.MaxQueue pointers, which it
// replaces, cost every live object 8 KB whether anything queued or not —
// 80 MB for 10,000 live objects, most of them holding one event at a time,
// and all of it scanned by the garbage collector. A ring behind a mutex
// (tried first) kept the memory down but cost a warm call about 8%: its
// lock moved between the caller's core and the object's on every event.
// Here the common case is the channel alone, as before.
//
// put is called with Host.mu held, so puts never race each other; the
// object's goroutine receives from ch and then calls received.
type mailbox struct {
	ch  chan *event
	max int

	mu       sync.Mutex // guards overflow
	overflow []*event
	over     atomic.Int32 // len(overflow), read without mu

	// Invariant, after every put and received: overflow is empty or ch is
	// full. So an event waits in overflow only while events ahead of it
	// are in ch, and the goroutine's next receive is followed by a refill.
}

// mailboxChan is the channel's size: bursts beyond it use overflow.
const mailboxChan = 16

func newMailbox(limit int) mailbox {
	return mailbox{ch: make(chan *event, min(max(limit, 1), mailboxChan)), max: limit}
}

// put appends ev and reports whether there was room. Called with Host.mu
// held.
func (m *mailbox) put(ev *event) bool {
	if m.over.Load() == 0 { // nothing waits in overflow: ev may go first
		select {
		case m.ch <- ev:
			return true
		default:
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.ch)+len(m.overflow) >= m.max {
		return false
	}
	m.overflow = append(m.overflow, ev)
	m.over.Store(int32(len(m.overflow)))
	m.pump() // the goroutine may have emptied ch since the send above
	return true
}

// received refills ch from overflow after the object's goroutine took an
// event from it.
func (m *mailbox) received() {
	if m.over.Load() == 0 {
		return
	}
	m.mu.Lock()
	m.pump()
	m.mu.Unlock()
}

// pump moves the oldest events of overflow into ch while it has room.
// Called with m.mu held.
func (m *mailbox) pump() {
	moved := 0
	for _, ev := range m.overflow {
		select {
		case m.ch <- ev:
			moved++
			continue
		default:
		}
		break
	}
	if moved == 0 {
		return
	}
	n := copy(m.overflow, m.overflow[moved:])
	clear(m.overflow[n:])
	m.overflow = m.overflow[:n]
	if n == 0 {
		m.overflow = nil // let a burst's array go
	}
	m.over.Store(int32(n))
}

// len returns the number of events queued.
func (m *mailbox) len() int { return len(m.ch) + int(m.over.Load()) }
