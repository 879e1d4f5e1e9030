package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/den-run/den/internal/proc"
)

// floorThreads are the writer thread counts the floor is measured with.
var floorThreads = []int{1, 2}

// floor measures the kernel's floor for the broadcast cell: bench/ws/floor
// holds o.Fanout loopback TCP sockets and writes the same frame Den's
// broadcast sends (a text frame of the round number) to each with plain
// write(2), from one thread and then from two. The time runs from the first
// write to the last socket's message being complete in the same receiver
// the runtimes' cells use. It returns one row per thread count.
func floor(ctx context.Context, bin string, o Options) ([]string, error) {
	p, err := proc.Start(ctx, proc.Spec{Path: bin, Args: []string{"-addr", "127.0.0.1:0"}, Ready: floorListening})
	if err != nil {
		return nil, err
	}
	s := &server{p: p, name: "floor"}
	defer s.stop()
	ctl, err := dialControl(ctx, p.Addr())
	if err != nil {
		return nil, err
	}
	defer ctl.close()
	cs, err := dialAll(ctx, o.Fanout, func(i int, local net.IP) (*client, error) {
		c, err := dialTCP(ctx, p.Addr(), local)
		if err != nil {
			return nil, err
		}
		if _, err := c.Write([]byte{'d'}); err != nil {
			c.Close()
			return nil, err
		}
		return &client{c: c}, nil
	})
	if err != nil {
		return nil, err
	}
	fds, err := detachAll(cs)
	if err != nil {
		return nil, err
	}
	rc, err := newReceiver(fds)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if err := ctl.send(fmt.Sprintf("wait %d", o.Fanout)); err != nil {
		return nil, err
	}
	if _, err := ctl.reply(); err != nil {
		return nil, err
	}
	var rows []string
	got := 0
	for _, threads := range floorThreads {
		var lat []time.Duration
		var srvCPU, cliCPU time.Duration
		for round := range o.Rounds + 1 {
			payload := strconv.Itoa(round) // what Den's cell sends for "b:<round>"
			frame := append([]byte{0x81, byte(len(payload))}, payload...)
			s0, c0 := s.cpu(), selfCPU()
			if err := ctl.send(fmt.Sprintf("write %d %x", threads, frame)); err != nil {
				return nil, err
			}
			last, err := rc.await(got+1, time.Now().Add(60*time.Second))
			if err != nil {
				return nil, fmt.Errorf("floor, %d threads, round %d: %w", threads, round, err)
			}
			got++
			reply, err := ctl.reply()
			if err != nil {
				return nil, err
			}
			first, err := strconv.ParseInt(strings.TrimPrefix(reply, "ok "), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("floor: %q", reply)
			}
			if round > 0 {
				lat = append(lat, time.Duration(last-first))
				srvCPU += s.cpu() - s0
				cliCPU += selfCPU() - c0
			}
		}
		rows = append(rows, fmt.Sprintf("| kernel floor | broadcast to %d sockets, write(2) from %d thread%s | %s |",
			o.Fanout, threads, map[bool]string{true: "s"}[threads > 1], summary(lat, srvCPU, cliCPU, "writer")))
	}
	return rows, nil
}

// floorListening parses bench/ws/floor's ready line.
func floorListening(line string) (string, bool) {
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "floor listening on ")
	return addr, ok && addr != ""
}

// control is a connection to bench/ws/floor's control port.
type control struct {
	c  net.Conn
	rd *bufio.Reader
}

// dialControl opens a control connection.
func dialControl(ctx context.Context, addr string) (*control, error) {
	c, err := dialTCP(ctx, addr, net.IPv4(127, 0, 0, 1))
	if err != nil {
		return nil, err
	}
	if _, err := c.Write([]byte{'c'}); err != nil {
		c.Close()
		return nil, err
	}
	return &control{c: c, rd: bufio.NewReader(c)}, nil
}

// send writes one command line.
func (c *control) send(cmd string) error {
	_, err := c.c.Write([]byte(cmd + "\n"))
	return err
}

// reply reads the next answer: "ok ..." or an error.
func (c *control) reply() (string, error) {
	line, err := c.rd.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("floor: %w", err)
	}
	line = strings.TrimSpace(line)
	if e, ok := strings.CutPrefix(line, "error "); ok {
		return "", fmt.Errorf("floor: %s", e)
	}
	return line, nil
}

func (c *control) close() { c.c.Close() }
