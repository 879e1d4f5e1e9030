package hub_test

import (
	"testing"

	"github.com/coder/websocket"
	"github.com/den-run/den/actor"
	"github.com/den-run/den/hub"
	"golang.org/x/sys/unix"
)

// broadcast connects sockets to one room and has one of them broadcast
// rounds numbered messages, one at a time (as a room does), and then
// rounds more at once (so that frames queue up), and checks every socket
// gets all of them in order.
func broadcast(t *testing.T, n *node, sockets, rounds int) {
	t.Helper()
	cs := make([]*websocket.Conn, sockets)
	for i := range cs {
		cs[i] = n.dial(t, "/room/all")
	}
	for r := range rounds {
		write(t, cs[0], websocket.MessageText, "all "+itoa(r))
		for _, c := range cs {
			expect(t, c, websocket.MessageText, itoa(r))
		}
	}
	for r := range rounds {
		write(t, cs[0], websocket.MessageText, "all "+itoa(rounds+r))
	}
	for _, c := range cs {
		for r := range rounds {
			expect(t, c, websocket.MessageText, itoa(rounds+r))
		}
	}
}

// TestBroadcastGoesThroughIOURing: with io_uring available (as on Den's
// test machines), a broadcast's sends go through the writers' rings and
// arrive whole and in order.
func TestBroadcastGoesThroughIOURing(t *testing.T) {
	n := newNode(t, actor.Config{}, hub.Config{})
	st := n.hub.Stats()
	if st.Rings == 0 {
		t.Skip("io_uring is not available here")
	}
	broadcast(t, n, 20, 30)
	if got := n.hub.Stats().RingSends; got < 20*30 {
		t.Fatalf("%d sends through io_uring, want at least the %d of the first rounds", got, 20*30)
	}
}

// TestBroadcastWithoutIOURing: turned off, or unavailable (no kernel
// support, a seccomp filter), the hub sends with send(2) and a broadcast
// is the same.
func TestBroadcastWithoutIOURing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   hub.Config
		errno unix.Errno
	}{
		{"disabled", hub.Config{DisableIOURing: true}, 0},
		{"ENOSYS", hub.Config{}, unix.ENOSYS},
		{"EPERM", hub.Config{}, unix.EPERM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.errno != 0 {
				t.Cleanup(hub.FailRingSetup(tc.errno))
			}
			n := newNode(t, actor.Config{}, tc.cfg)
			if st := n.hub.Stats(); st.Rings != 0 {
				t.Fatalf("%d writers with io_uring, want none", st.Rings)
			}
			broadcast(t, n, 5, 10)
			if got := n.hub.Stats().RingSends; got != 0 {
				t.Fatalf("%d sends through io_uring, want none", got)
			}
		})
	}
}
