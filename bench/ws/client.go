package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/den-run/den/internal/rawconn"
	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

// client is one benchmark WebSocket: a TCP connection after a hand-written
// handshake, so that an idle client socket costs this process nothing but
// its descriptor (no goroutine, no buffer) and the server is measured alone.
type client struct {
	c  net.Conn
	rd *bufio.Reader // nil until the client reads
}

// dial opens a WebSocket to addr+path from local (an address on the
// loopback network: each gives another ~28,000 ephemeral ports).
func dial(ctx context.Context, addr, path string, local net.IP) (*client, error) {
	c, err := dialTCP(ctx, addr, local)
	if err != nil {
		return nil, err
	}
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write([]byte(req)); err != nil {
		c.Close()
		return nil, err
	}
	// Read the response byte by byte up to its blank line, so no frame
	// that follows is swallowed by a buffer.
	var head []byte
	b := make([]byte, 1)
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		if _, err := c.Read(b); err != nil {
			c.Close()
			return nil, fmt.Errorf("handshake: %w", err)
		}
		head = append(head, b[0])
		if len(head) > 8192 {
			c.Close()
			return nil, fmt.Errorf("handshake: response headers too long")
		}
	}
	if !strings.HasPrefix(string(head), "HTTP/1.1 101") {
		c.Close()
		line, _, _ := strings.Cut(string(head), "\r\n")
		return nil, fmt.Errorf("handshake: %s", line)
	}
	c.SetDeadline(time.Time{})
	return &client{c: c}, nil
}

// send writes one masked text frame.
func (c *client) send(text string) error {
	return ws.WriteFrame(c.c, ws.MaskFrame(ws.NewTextFrame([]byte(text))))
}

// read returns the next data frame's payload, answering nothing (the
// servers measured send no pings).
func (c *client) read() (string, error) {
	if c.rd == nil {
		c.rd = bufio.NewReaderSize(c.c, 4096)
	}
	for {
		f, err := ws.ReadFrame(c.rd)
		if err != nil {
			return "", err
		}
		switch f.Header.OpCode {
		case ws.OpText, ws.OpBinary:
			return string(f.Payload), nil
		case ws.OpClose:
			return "", fmt.Errorf("closed by the server: %q", f.Payload)
		}
	}
}

func (c *client) close() { c.c.Close() }

// dialTCP opens a TCP connection to addr from local.
func dialTCP(ctx context.Context, addr string, local net.IP) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: local}, Timeout: 10 * time.Second}
	return d.DialContext(ctx, "tcp", addr)
}

// detachAll detaches every client (see detach) and returns the descriptors;
// on an error it closes them all.
func detachAll(cs []*client) ([]int, error) {
	fds := make([]int, 0, len(cs))
	var first error
	for _, c := range cs {
		if first != nil {
			c.close()
			continue
		}
		fd, err := rawconn.Detach(c.c, true)
		if err != nil {
			first = err
			continue
		}
		fds = append(fds, fd)
	}
	if first != nil {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, first
	}
	return fds, nil
}

// sendRaw writes one masked text frame to a detached socket.
func sendRaw(fd int, text string) error {
	var b bytes.Buffer
	if err := ws.WriteFrame(&b, ws.MaskFrame(ws.NewTextFrame([]byte(text)))); err != nil {
		return err
	}
	n, err := unix.Write(fd, b.Bytes())
	if err == nil && n < b.Len() {
		err = fmt.Errorf("wrote %d of %d bytes", n, b.Len())
	}
	return err
}

// localIP returns the loopback address the i-th connection of a cell
// dials from. Each cell starts on a fresh address (base), so the ports the
// previous cell left in TIME_WAIT do not slow its connects down.
func localIP(base, i int) net.IP { return net.IPv4(127, 0, 0, byte(2+(base+i/25000)%250)) }
