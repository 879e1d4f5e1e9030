// Command floor is the kernel's floor for bench/ws's broadcast: the least a
// server on this machine can spend sending one small frame to each of many
// loopback TCP sockets. It holds the connections it accepts and, on command,
// writes one pre-built frame to each with plain write(2) from one or more
// threads, or with io_uring sends submitted in batches; nothing else (no
// WebSocket library, no queue, no poller).
//
//	floor -addr 127.0.0.1:0
//
// Each connection's first byte says what it is: 'd' a data socket (written
// to), 'c' a control connection, which takes lines:
//
//	wait N              answers "ok" once N data sockets are held
//	write T HEXFRAME    writes the frame to every data socket from T threads
//	                    and answers "ok FIRST", FIRST being the first write's
//	                    CLOCK_MONOTONIC nanoseconds
//	uring T B HEXFRAME  the same with io_uring: each thread has a ring and
//	                    submits IORING_OP_SEND for B sockets per
//	                    io_uring_enter, then reaps their completions
//
// Errors are answered "error TEXT". It prints "floor listening on ADDR" once
// it listens and exits 0 on SIGTERM.
package main

import (
	"bufio"
	"cmp"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/den-run/den/internal/rawconn"
	"golang.org/x/sys/unix"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "floor: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("floor listening on %s\n", ln.Addr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	f := &floor{}
	f.cond = sync.NewCond(&f.mu)
	go f.accept(ln)
	<-sig
	os.Exit(0)
}

// floor holds the data sockets.
type floor struct {
	mu   sync.Mutex // protects fds
	cond *sync.Cond // signalled when fds grows
	fds  []int      // blocking descriptors, written from locked threads
}

func (f *floor) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "floor: accept: %v\n", err)
			os.Exit(1)
		}
		var kind [1]byte
		if _, err := c.Read(kind[:]); err != nil {
			c.Close()
			continue
		}
		switch kind[0] {
		case 'c':
			go f.control(c)
		case 'd':
			fd, err := rawconn.Detach(c, false)
			if err != nil {
				fmt.Fprintf(os.Stderr, "floor: %v\n", err)
				os.Exit(1)
			}
			f.mu.Lock()
			f.fds = append(f.fds, fd)
			f.cond.Broadcast()
			f.mu.Unlock()
		default:
			c.Close()
		}
	}
}

// control serves one control connection.
func (f *floor) control(c net.Conn) {
	defer c.Close()
	in := bufio.NewScanner(c)
	for in.Scan() {
		reply, err := f.command(strings.Fields(in.Text()))
		if err != nil {
			reply = "error " + err.Error()
		}
		if _, err := fmt.Fprintln(c, reply); err != nil {
			return
		}
	}
}

func (f *floor) command(args []string) (string, error) {
	switch {
	case len(args) == 2 && args[0] == "wait":
		n, err := strconv.Atoi(args[1])
		if err != nil {
			return "", err
		}
		f.mu.Lock()
		for len(f.fds) < n {
			f.cond.Wait()
		}
		f.mu.Unlock()
		return "ok", nil
	case len(args) == 3 && args[0] == "write", len(args) == 4 && args[0] == "uring":
		threads, err := strconv.Atoi(args[1])
		if err != nil || threads < 1 {
			return "", fmt.Errorf("bad thread count %q", args[1])
		}
		batch := 0 // write(2)
		if args[0] == "uring" {
			batch, err = strconv.Atoi(args[2])
			if err != nil || batch < 1 || batch > 4096 || batch&(batch-1) != 0 {
				return "", fmt.Errorf("bad batch %q: a power of two up to 4096", args[2])
			}
		}
		frame, err := hex.DecodeString(args[len(args)-1])
		if err != nil {
			return "", err
		}
		first, err := f.write(threads, batch, frame)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("ok %d", first), nil
	}
	return "", fmt.Errorf("unknown command %q", strings.Join(args, " "))
}

// write sends frame to every data socket, the sockets split evenly among
// threads OS threads, and returns the first write's CLOCK_MONOTONIC time.
// With batch 0 each thread calls write(2) per socket; otherwise each sets up
// an io_uring (before the clock starts) and submits batch sends at a time.
func (f *floor) write(threads, batch int, frame []byte) (int64, error) {
	f.mu.Lock()
	fds := f.fds
	f.mu.Unlock()
	start := make(chan struct{})
	firsts := make([]int64, threads)
	errs := make([]error, threads)
	var ready, done sync.WaitGroup
	for t := range threads {
		part := fds[t*len(fds)/threads : (t+1)*len(fds)/threads]
		ready.Add(1)
		done.Go(func() {
			runtime.LockOSThread() // a thread of its own: no scheduling between writes
			defer runtime.UnlockOSThread()
			if batch > 0 {
				r, err := newRing(uint32(batch))
				if err != nil {
					errs[t] = err
					ready.Done()
					<-start
					return
				}
				defer r.close()
				ready.Done()
				<-start
				firsts[t] = monotonic()
				errs[t] = sendAll(r, part, batch, frame)
				return
			}
			ready.Done()
			<-start
			firsts[t] = monotonic()
			for _, fd := range part {
				n, err := unix.Write(fd, frame)
				if err == nil && n < len(frame) {
					err = fmt.Errorf("short write: %d of %d bytes", n, len(frame))
				}
				if err != nil {
					errs[t] = err
					return
				}
			}
		})
	}
	ready.Wait()
	close(start)
	done.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	first := firsts[0]
	for _, t := range firsts[1:] {
		first = min(first, t)
	}
	return first, nil
}

// sendAll sends frame to every fd through r, batch sends per submit.
func sendAll(r *ring, fds []int, batch int, frame []byte) error {
	var err error
	done := func(_ uint64, res int32) {
		switch {
		case res < 0:
			err = cmp.Or(err, error(fmt.Errorf("io_uring send: %w", unix.Errno(-res))))
		case int(res) < len(frame):
			err = cmp.Or(err, error(fmt.Errorf("short send: %d of %d bytes", res, len(frame))))
		}
	}
	for len(fds) > 0 {
		n := min(batch, len(fds))
		for i, fd := range fds[:n] {
			r.send(fd, frame, uint64(i))
		}
		if err := r.submit(done); err != nil {
			return err
		}
		fds = fds[n:]
	}
	return err
}

func monotonic() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}
