// Command floor is the kernel's floor for bench/ws's broadcast: the least a
// server on this machine can spend sending one small frame to each of many
// loopback TCP sockets. It holds the connections it accepts and, on command,
// writes one pre-built frame to each with plain write(2) from one or more
// threads; nothing else (no WebSocket library, no queue, no poller).
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
//
// Errors are answered "error TEXT". It prints "floor listening on ADDR" once
// it listens and exits 0 on SIGTERM.
package main

import (
	"bufio"
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
			fd, err := detach(c)
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
	case len(args) == 3 && args[0] == "write":
		threads, err := strconv.Atoi(args[1])
		if err != nil || threads < 1 {
			return "", fmt.Errorf("bad thread count %q", args[1])
		}
		frame, err := hex.DecodeString(args[2])
		if err != nil {
			return "", err
		}
		first, err := f.write(threads, frame)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("ok %d", first), nil
	}
	return "", fmt.Errorf("unknown command %q", strings.Join(args, " "))
}

// write sends frame to every data socket, the sockets split evenly among
// threads OS threads, and returns the first write's CLOCK_MONOTONIC time.
func (f *floor) write(threads int, frame []byte) (int64, error) {
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

// detach takes the connection's descriptor (duplicated, blocking) from the
// Go runtime and closes the net.Conn.
func detach(c net.Conn) (int, error) {
	defer c.Close()
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(f uintptr) { fd, derr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, derr
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func monotonic() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}
