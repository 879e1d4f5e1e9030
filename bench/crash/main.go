// Command crash is Den's crash harness. It builds examples/counter, runs it
// on a data directory, drives concurrent increments against many counters,
// kills the process with SIGKILL at random moments and restarts it on the
// same data, and checks after every restart that for each counter
//
//	acknowledged ≤ stored ≤ attempted
//
// where acknowledged counts the increments answered 200, attempted those
// sent, and stored is the value read back. It prints a summary and exits 1
// if any bound broke (2 if it could not run).
//
//	go run ./bench/crash                       # 20 cycles, about 20 s
//	go run ./bench/crash -cycles 100 -duration 2s -clients 32
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/den-run/den/internal/proc"
)

func main() {
	cfg := Config{Log: os.Stdout}
	flag.IntVar(&cfg.Cycles, "cycles", 20, "number of SIGKILLs")
	flag.DurationVar(&cfg.Duration, "duration", time.Second, "longest load per cycle; the kill comes at a random moment in its last nine tenths")
	flag.IntVar(&cfg.Clients, "clients", 16, "concurrent clients sending increments")
	flag.IntVar(&cfg.Names, "names", 200, "counters the clients pick from at random")
	flag.Uint64Var(&cfg.Seed, "seed", uint64(time.Now().UnixNano()), "random seed, to repeat a run")
	bin := flag.String("bin", "", "counter program to crash (default: build examples/counter)")
	keep := flag.Bool("keep", false, "keep the data directory and print where it is")
	flag.Parse()
	if cfg.Cycles < 1 || cfg.Duration <= 0 || cfg.Clients < 1 || cfg.Names < 1 {
		fmt.Fprintln(os.Stderr, "crash: -cycles, -duration, -clients and -names must be positive")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	sum, err := run(ctx, cfg, *bin, *keep)
	if err != nil {
		fmt.Fprintf(os.Stderr, "crash: %v\n", err)
		os.Exit(2)
	}
	sum.Write(os.Stdout)
	if !sum.OK() {
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg Config, bin string, keep bool) (Summary, error) {
	dir, err := os.MkdirTemp("", "den-crash-")
	if err != nil {
		return Summary{}, err
	}
	if keep {
		fmt.Printf("data directory: %s\n", filepath.Join(dir, "data"))
	} else {
		defer os.RemoveAll(dir)
	}
	if bin == "" {
		if bin, err = proc.Build(ctx, dir, "github.com/den-run/den/examples/counter"); err != nil {
			return Summary{}, err
		}
	}
	cfg.Bin, cfg.Data = bin, filepath.Join(dir, "data")
	fmt.Printf("crash: seed %d, %d cycles of up to %s, %d clients, %d counters\n", cfg.Seed, cfg.Cycles, cfg.Duration, cfg.Clients, cfg.Names)
	return Run(ctx, cfg)
}
