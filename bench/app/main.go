// Command app is the Den side of the benchmarks against workerd: the counter
// example's routes, plus the same counter kept in a SQL table, which is what
// the workerd side runs in JavaScript.
//
//	POST /counter/{name}/increment   key-value: get, add one, put (examples/counter)
//	GET  /counter/{name}
//	POST /sql/{name}                 SQL: one upsert returning the new value
//	GET  /sql/{name}
//
// Each answers the counter's value as decimal text. It takes every Den flag
// (run it with --help).
//
// With DEN_BENCH_CPUPROFILE=FILE it writes a CPU profile to FILE, for go
// tool pprof: of the window between SIGUSR1 and SIGUSR2 (the harness sends
// them around the measured load, leaving out warming and shutdown), or of
// its whole run if no SIGUSR1 came before it stops (SIGTERM).
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"syscall"

	"github.com/den-run/den"
	"github.com/den-run/den/examples/counter/counter"
	"github.com/den-run/den/serve"
)

func main() {
	if path := os.Getenv("DEN_BENCH_CPUPROFILE"); path != "" {
		if err := runProfiled(path); err != nil {
			fmt.Fprintf(os.Stderr, "bench app: %v\n", err)
			os.Exit(1)
		}
		return
	}
	serve.Main(App())
}

// runProfiled is serve.Main under a CPU profile written to path.
func runProfiled(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	window := make(chan os.Signal, 2)
	signal.Notify(window, syscall.SIGUSR1, syscall.SIGUSR2)
	done := make(chan struct{})
	go func() { // owned by runProfiled: it returns after done closes
		defer close(done)
		for sig := range window {
			if sig == syscall.SIGUSR1 { // start again: the profile so far is dropped
				pprof.StopCPUProfile()
				f.Truncate(0)
				f.Seek(0, 0)
				pprof.StartCPUProfile(f)
				continue
			}
			pprof.StopCPUProfile()
			return
		}
	}()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = serve.Run(ctx, App(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	signal.Stop(window)
	close(window)
	<-done
	pprof.StopCPUProfile()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// App returns the benchmark app.
func App() serve.App {
	sql := sqlClass()
	return serve.App{
		Name:     "bench",
		Classes:  []den.Class{counter.Class(), sql},
		Bindings: map[string]string{counter.Binding: counter.ClassName, sqlBinding: sql.Name},
		Worker:   worker,
	}
}

// sqlBinding is the binding of the SQL counter's class.
const sqlBinding = "SQL_COUNTER"

func worker(env *den.Env) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/counter/", counter.Worker(env))
	ns := env.Namespace(sqlBinding)
	sql := func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if len(name) > counter.MaxNameBytes {
			http.Error(w, "Bad Request: a counter name is 1 to "+strconv.Itoa(counter.MaxNameBytes)+" bytes", http.StatusBadRequest)
			return
		}
		ns.GetByName(name).ServeHTTP(w, r)
	}
	mux.HandleFunc("POST /sql/{name}", sql)
	mux.HandleFunc("GET /sql/{name}", sql)
	return mux
}
