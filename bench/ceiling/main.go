// Command ceiling is the benchmarks' ceiling: the most trivial Go HTTP
// server, answering "1" to every request, so a table can show what this
// machine and its load generator allow at all. Like a Den program it listens
// on --addr (port 0 picks a free port), prints
//
//	den: listening on http://ADDR
//
// and exits 0 on SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "TCP address to listen on")
	flag.Parse()
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ceiling: %v\n", err)
		os.Exit(1)
	}
	s := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("1"))
	})}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(l) }()
	fmt.Printf("den: listening on http://%s\n", l.Addr())
	select {
	case err := <-errc:
		fmt.Fprintf(os.Stderr, "ceiling: %v\n", err)
		os.Exit(1)
	case <-ctx.Done():
	}
	if err := s.Shutdown(context.Background()); err != nil {
		os.Exit(1)
	}
}
