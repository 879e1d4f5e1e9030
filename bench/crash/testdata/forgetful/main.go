// Command forgetful is a counter server that keeps its counts only in
// memory, so a SIGKILL loses them: the crash harness's test runs it to check
// that the harness notices. It accepts and ignores the Den flags.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "")
	flag.String("data", "", "")
	flag.String("log-level", "", "")
	flag.Parse()
	var mu sync.Mutex // protects counts
	counts := map[string]int{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /counter/{name}/increment", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		counts[r.PathValue("name")]++
		n := counts[r.PathValue("name")]
		mu.Unlock()
		fmt.Fprint(w, n)
	})
	mux.HandleFunc("GET /counter/{name}", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n := counts[r.PathValue("name")]
		mu.Unlock()
		w.Write(strconv.AppendInt(nil, int64(n), 10))
	})
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("den: listening on http://%s\n", l.Addr())
	go http.Serve(l, mux)
	ctx, _ := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	<-ctx.Done() // exit 0, as a Den program does after its drain

}
