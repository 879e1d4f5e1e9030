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

// floorVariant is one way bench/ws/floor sends: its row name and command.
type floorVariant struct{ name, cmd string }

// floorVariants are write(2) from each of floorThreads and, unless batch
// is 0, io_uring with batch sends per io_uring_enter from each.
func floorVariants(batch int) []floorVariant {
	var vs []floorVariant
	plural := func(n int) string { return map[bool]string{true: "s"}[n > 1] }
	for _, t := range floorThreads {
		vs = append(vs, floorVariant{fmt.Sprintf("write(2) from %d thread%s", t, plural(t)), fmt.Sprintf("write %d", t)})
	}
	if batch > 0 {
		for _, t := range floorThreads {
			vs = append(vs, floorVariant{fmt.Sprintf("io_uring send, %d per enter, %d thread%s", batch, t, plural(t)), fmt.Sprintf("uring %d %d", t, batch)})
		}
	}
	return vs
}

// floor measures the kernel's floor for the broadcast cell: bench/ws/floor
// holds o.Fanout loopback TCP sockets and writes the same frame Den's
// broadcast sends (a text frame of the round number) to each with plain
// write(2), from one thread and from two, and (unless o.UringBatch is 0)
// with io_uring sends submitted o.UringBatch at a time. The time runs from
// the first write to the last socket's message being complete in the same
// receiver the runtimes' cells use. It returns one row per variant.
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
	variants := floorVariants(o.UringBatch)
	type stats struct {
		lat            []time.Duration
		srvCPU, cliCPU time.Duration
	}
	st := make([]stats, len(variants))
	got := 0
	// Rounds interleave the variants (round 1 of each, then round 2 of
	// each...) so that a noisy neighbour weighs on all of them alike.
	for round := range o.Rounds + 1 {
		payload := strconv.Itoa(round) // what Den's cell sends for "b:<round>"
		frame := append([]byte{0x81, byte(len(payload))}, payload...)
		for i, v := range variants {
			s0, c0 := s.p.CPUTime(), selfCPU()
			if err := ctl.send(fmt.Sprintf("%s %x", v.cmd, frame)); err != nil {
				return nil, err
			}
			last, err := rc.await(got+1, time.Now().Add(60*time.Second))
			if err != nil {
				return nil, fmt.Errorf("floor, %s, round %d: %w", v.name, round, err)
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
				st[i].lat = append(st[i].lat, time.Duration(last-first))
				st[i].srvCPU += s.p.CPUTime() - s0
				st[i].cliCPU += selfCPU() - c0
			}
		}
	}
	var rows []string
	for i, v := range variants {
		rows = append(rows, fmt.Sprintf("| kernel floor | broadcast to %d sockets, %s | %s |",
			o.Fanout, v.name, summary(st[i].lat, st[i].srvCPU, st[i].cliCPU, "writer")))
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
