package actor

import "sync"

// mailbox holds an object's events in arrival order, at most max of them.
// Its ring grows as events queue and is dropped when it empties past
// mailboxKeep slots. A channel of Config.MaxQueue pointers, which it
// replaces, cost every live object 8 KB whether anything queued or not —
// 80 MB for 10,000 live objects, most of them holding one event at a time,
// and all of it scanned by the garbage collector.
//
// put is called by enqueue, take and len by the object's goroutine.
type mailbox struct {
	mu   sync.Mutex
	ring []*event
	head int // index of the oldest event
	n    int // events queued
	max  int

	// ready has a value whenever events may be queued that the object's
	// goroutine has not seen: put signals it after adding one, and the
	// goroutine, which waits on it, signals it again after a take that
	// leaves events behind. A signal with nothing queued is harmless.
	ready chan struct{}
}

// mailboxKeep is the ring size kept when a mailbox empties: enough for a
// steady trickle of events without allocating each time.
const mailboxKeep = 8

func newMailbox(max int) mailbox {
	return mailbox{max: max, ready: make(chan struct{}, 1)}
}

// put appends ev and reports whether there was room.
func (m *mailbox) put(ev *event) bool {
	m.mu.Lock()
	if m.n >= m.max {
		m.mu.Unlock()
		return false
	}
	if m.n == len(m.ring) {
		m.grow()
	}
	m.ring[(m.head+m.n)%len(m.ring)] = ev
	m.n++
	m.mu.Unlock()
	m.signal()
	return true
}

// grow doubles the ring (to at most max slots), keeping the events in order.
// Called with m.mu held.
func (m *mailbox) grow() {
	size := min(max(2*len(m.ring), 2), max(m.max, 1))
	ring := make([]*event, size)
	for i := range m.n {
		ring[i] = m.ring[(m.head+i)%len(m.ring)]
	}
	m.ring, m.head = ring, 0
}

// take removes and returns the oldest event, or nil if there is none. If
// events remain, it signals ready so that the goroutine's next wait sees
// them.
func (m *mailbox) take() *event {
	m.mu.Lock()
	if m.n == 0 {
		m.mu.Unlock()
		return nil
	}
	ev := m.ring[m.head]
	m.ring[m.head] = nil
	m.head = (m.head + 1) % len(m.ring)
	m.n--
	more := m.n > 0
	if !more {
		m.head = 0
		if len(m.ring) > mailboxKeep {
			m.ring = nil
		}
	}
	m.mu.Unlock()
	if more {
		m.signal()
	}
	return ev
}

// len returns the number of events queued.
func (m *mailbox) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n
}

func (m *mailbox) signal() {
	select {
	case m.ready <- struct{}{}:
	default:
	}
}
