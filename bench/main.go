// Command bench runs Den's benchmarks against workerd, the open-source
// Cloudflare Workers runtime, on this machine, and prints one table.
//
//	go run ./bench            # every cell, 10 s each: a few minutes
//	go run ./bench -quick     # a smoke run, 2 s per cell and 1,000 objects
//
// It installs what it needs into bench/.cache (wrk from Debian, workerd from
// npm), builds the Den programs, and for each workload × runtime × variant
// starts a fresh server on a fresh data directory, drives it with wrk, reads
// its peak RSS and stops it. See bench/README.md for what each column means.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/den-run/den/internal/proc"
)

// Options are the command line.
type Options struct {
	Duration   time.Duration // per measured cell
	NewCap     time.Duration // cap of workload new, which ends when every object was touched
	Objects    int           // objects in workloads rr and new
	HotConns   int           // connections in workload hot
	Conns      int           // connections in workloads rr and new
	Threads    int           // wrk threads
	Runtimes   []string      // go, den, workerd
	Variants   []string      // kv, sql
	Workloads  []string      // hot, rr, new
	DenFlags   []string      // extra flags for the Den programs
	Profile    string        // directory for CPU profiles of Den, or ""
	Cache, Out string
}

func main() {
	opts, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, opts, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (Options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var o Options
	var runtimes, variants, workloads, denFlags string
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "how long wrk drives each cell")
	fs.DurationVar(&o.NewCap, "new-cap", time.Minute, "the longest workload new may take to touch every object")
	fs.IntVar(&o.Objects, "objects", 10_000, "objects in workloads rr and new")
	fs.IntVar(&o.HotConns, "hot-conns", 16, "wrk connections in workload hot")
	fs.IntVar(&o.Conns, "conns", 128, "wrk connections in workloads rr and new")
	fs.IntVar(&o.Threads, "threads", 2, "wrk threads")
	fs.StringVar(&runtimes, "runtimes", "go,den,workerd", "runtimes to run, comma-separated: go (the ceiling), den, workerd")
	fs.StringVar(&variants, "variants", "kv,sql", "variants to run: kv, sql")
	fs.StringVar(&workloads, "workloads", "hot,rr,new", "workloads to run: hot, rr, new")
	fs.StringVar(&denFlags, "den-flags", "", "extra flags for the Den programs, space-separated")
	fs.StringVar(&o.Profile, "profile", "", "write a CPU profile of the measured load of each Den cell into this directory (Den kv then runs bench/app, the same counter code)")
	fs.StringVar(&o.Cache, "cache", "", "cache directory for wrk's scripts, workerd, binaries and data (default bench/.cache)")
	fs.StringVar(&o.Out, "out", "", `markdown file to write the table to (default bench/results/DATE.md; "-" for none)`)
	quick := fs.Bool("quick", false, "smoke run: -duration 2s -objects 1000 -new-cap 10s unless given")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *quick {
		if !set["duration"] {
			o.Duration = 2 * time.Second
		}
		if !set["objects"] {
			o.Objects = 1000
		}
		if !set["new-cap"] {
			o.NewCap = 10 * time.Second
		}
	}
	var err error
	if o.Runtimes, err = list("runtimes", runtimes, "go", "den", "workerd"); err != nil {
		return o, err
	}
	if o.Variants, err = list("variants", variants, "kv", "sql"); err != nil {
		return o, err
	}
	if o.Workloads, err = list("workloads", workloads, "hot", "rr", "new"); err != nil {
		return o, err
	}
	o.DenFlags = strings.Fields(denFlags)
	if o.Duration < time.Second || o.Objects < 1 || o.HotConns < 1 || o.Conns < 1 || o.Threads < 1 {
		return o, errors.New("-duration must be at least 1s; -objects, -conns, -hot-conns and -threads positive")
	}
	if o.HotConns < o.Threads || o.Conns < o.Threads {
		return o, errors.New("wrk needs at least one connection per thread: raise -conns or -hot-conns, or lower -threads")
	}
	return o, nil
}

// list splits a comma-separated flag and checks each item.
func list(name, value string, allowed ...string) ([]string, error) {
	var out []string
	for _, v := range strings.Split(value, ",") {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if !slices.Contains(allowed, v) {
			return nil, fmt.Errorf("-%s: unknown %q (want some of %s)", name, v, strings.Join(allowed, ", "))
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-%s is empty", name)
	}
	return out, nil
}

// target is a server to measure: a runtime running one variant.
type target struct {
	runtime string // "Den", "workerd" or "Go net/http"
	variant string // "kv", "sql", or "-" for the ceiling
	path    string // request path, with {name}
	start   func(ctx context.Context, dir string) (*proc.Process, error)
	// profiled: the process writes a CPU profile of the window between
	// SIGUSR1 and SIGUSR2 (bench/app), sent around the measured load.
	profiled bool
}

// workload is one row group of the table.
type workload struct {
	key, title string
	mode       string
	conns      int
	warm       bool // touch every object before measuring
}

// harness holds what every cell needs.
type harness struct {
	opts   Options
	wrk    string
	runDir string
	log    io.Writer
}

func run(ctx context.Context, opts Options, stdout, log io.Writer) error {
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	if opts.Cache == "" {
		opts.Cache = filepath.Join(root, "bench", ".cache")
	}
	if opts.Cache, err = filepath.Abs(opts.Cache); err != nil {
		return err
	}
	if opts.Profile != "" {
		if opts.Profile, err = filepath.Abs(opts.Profile); err != nil {
			return err
		}
		if err := os.MkdirAll(opts.Profile, 0o755); err != nil {
			return err
		}
	}
	if opts.Out == "" {
		opts.Out = filepath.Join(root, "bench", "results", time.Now().Format("2006-01-02-150405")+".md")
	}
	env := Environment{Date: time.Now(), Go: runtime.Version(), CPUs: runtime.NumCPU(), Opts: opts}
	env.LoadBefore = loadAverage() // before this run's own builds
	if l, err := strconv.ParseFloat(env.LoadBefore, 64); err == nil && l > 0.5 {
		fmt.Fprintf(log, "warning: the load average is %s: other work on this machine will skew the numbers\n", env.LoadBefore)
	}
	h := &harness{opts: opts, log: log}
	if h.wrk, err = ensureWrk(ctx, log); err != nil {
		return err
	}
	env.Wrk = wrkVersion(h.wrk)
	if err := os.MkdirAll(opts.Cache, 0o755); err != nil {
		return err
	}
	if h.runDir, err = os.MkdirTemp(opts.Cache, "run-"); err != nil {
		return err
	}
	defer os.RemoveAll(h.runDir)
	targets, err := h.targets(ctx)
	if err != nil {
		return err
	}
	if slices.Contains(opts.Runtimes, "workerd") {
		env.Workerd = workerdVersion
	}
	var results []Result
	for _, key := range opts.Workloads {
		w := workloads(opts)[key]
		for _, t := range targets {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			fmt.Fprintf(log, "%-22s %-12s %-4s ... ", w.title, t.runtime, t.variant)
			r := h.cell(ctx, w, t)
			fmt.Fprintln(log, r.Summary())
			results = append(results, r)
		}
	}
	env.LoadAfter = loadAverage()
	report := Report{Env: env, Results: results}
	report.Markdown(stdout)
	if opts.Out != "-" {
		if err := os.MkdirAll(filepath.Dir(opts.Out), 0o755); err != nil {
			return err
		}
		f, err := os.Create(opts.Out)
		if err != nil {
			return err
		}
		report.Markdown(f)
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Fprintf(log, "wrote %s\n", opts.Out)
	}
	return nil
}

// targets builds or installs the server of each runtime asked for, and
// returns them in the table's order: the ceiling first, then by variant, Den
// before workerd.
func (h *harness) targets(ctx context.Context) ([]target, error) {
	opts := h.opts
	bin := filepath.Join(opts.Cache, "bin")
	if err := os.MkdirAll(bin, 0o700); err != nil {
		return nil, err
	}
	var targets []target
	for _, rt := range opts.Runtimes {
		switch rt {
		case "go":
			ceiling, err := proc.Build(ctx, bin, "github.com/den-run/den/bench/ceiling")
			if err != nil {
				return nil, err
			}
			targets = append(targets, target{runtime: "Go net/http", variant: "-", path: "/ceiling/{name}",
				start: func(ctx context.Context, dir string) (*proc.Process, error) {
					return proc.Start(ctx, proc.Spec{Path: ceiling, Args: []string{"--addr", "127.0.0.1:0"}, Ready: proc.DenListening})
				}})
		case "den":
			counter, err := proc.Build(ctx, bin, "github.com/den-run/den/examples/counter")
			if err != nil {
				return nil, err
			}
			app, err := proc.Build(ctx, bin, "github.com/den-run/den/bench/app")
			if err != nil {
				return nil, err
			}
			for _, v := range opts.Variants {
				program, path := counter, "/counter/{name}/increment"
				if v == "sql" || opts.Profile != "" {
					program = app // the same counter code, or the SQL counter
				}
				if v == "sql" {
					path = "/sql/{name}"
				}
				targets = append(targets, target{runtime: "Den", variant: v, path: path, profiled: opts.Profile != "",
					start: func(ctx context.Context, dir string) (*proc.Process, error) {
						var env []string
						if opts.Profile != "" {
							env = append(env, "DEN_BENCH_CPUPROFILE="+filepath.Join(opts.Profile, filepath.Base(dir)+".pprof"))
						}
						return startDen(ctx, program, dir, opts.DenFlags, env)
					}})
			}
		case "workerd":
			workerd, err := ensureWorkerd(ctx, opts.Cache, h.log)
			if err != nil {
				return nil, err
			}
			for _, v := range opts.Variants {
				targets = append(targets, target{runtime: "workerd", variant: v, path: "/" + v + "/{name}",
					start: func(ctx context.Context, dir string) (*proc.Process, error) {
						return startWorkerd(ctx, workerd, dir)
					}})
			}
		}
	}
	slices.SortStableFunc(targets, func(a, b target) int { return strings.Compare(order(a), order(b)) })
	return targets, nil
}

func order(t target) string {
	if t.variant == "-" {
		return "0"
	}
	return "1" + t.variant + map[string]string{"Den": "0", "workerd": "1"}[t.runtime]
}

// workloads returns the workloads by key.
func workloads(o Options) map[string]workload {
	return map[string]workload{
		"hot": {key: "hot", title: "(a) one hot object", mode: "hot", conns: o.HotConns},
		"rr":  {key: "rr", title: fmt.Sprintf("(b) %d objects, round-robin", o.Objects), mode: "rr", conns: o.Conns, warm: true},
		"new": {key: "new", title: fmt.Sprintf("(c) first touch of %d objects", o.Objects), mode: "seq", conns: o.Conns},
	}
}

// startDen runs a Den program on dir/data, with extra flags and env added
// to its environment.
func startDen(ctx context.Context, bin, dir string, extra, env []string) (*proc.Process, error) {
	args := []string{"--addr", "127.0.0.1:0", "--data", filepath.Join(dir, "data"), "--log-level", "error"}
	return proc.Start(ctx, proc.Spec{Path: bin, Args: append(args, extra...), Env: append(env, proc.DenEnv...), Ready: proc.DenListening})
}

// cell measures one target under one workload, on a fresh server.
func (h *harness) cell(ctx context.Context, w workload, t target) Result {
	r := Result{Workload: w.title, Runtime: t.runtime, Variant: t.variant, Conns: w.conns}
	dir := filepath.Join(h.runDir, strings.NewReplacer(" ", "", "/", "").Replace(w.key+"-"+t.runtime+"-"+t.variant))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		r.Err = err
		return r
	}
	defer os.RemoveAll(dir)

	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	p, err := t.start(sctx, dir)
	cancel()
	if err != nil {
		r.Err = err
		return r
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := p.Stop(sctx); err != nil {
			fmt.Fprintf(h.log, "(stopping %s: %v) ", t.runtime, err)
		}
	}()

	// One request first: the server is up and serves this variant.
	status, err := probe(ctx, p.URL()+strings.Replace(t.path, "{name}", "probe", 1))
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("probe answered %d", status)
	}
	if err != nil {
		r.Err = err
		return r
	}

	load := Load{Mode: w.mode, Objects: h.opts.Objects, Tag: "o", Path: t.path, Threads: h.opts.Threads,
		Conns: w.conns, Duration: h.opts.Duration, Timeout: 10 * time.Second}
	if w.warm {
		warm := load
		warm.Mode, warm.Duration = "seq", 5*time.Minute
		if _, out, err := runWrk(ctx, h.wrk, dir, p.URL(), warm); err != nil {
			r.Err = fmt.Errorf("touch every object first: %w\n%s", err, out)
			return r
		}
	}
	if w.mode == "seq" {
		load.Tag, load.Duration = "n", h.opts.NewCap
	}
	if t.profiled {
		syscall.Kill(p.PID(), syscall.SIGUSR1)
	}
	stats, out, err := runWrk(ctx, h.wrk, dir, p.URL(), load)
	if t.profiled {
		syscall.Kill(p.PID(), syscall.SIGUSR2)
	}
	if err != nil {
		r.Err = fmt.Errorf("%w\n%s", err, out)
		return r
	}
	r.Stats = stats
	if r.PeakRSS, err = p.PeakRSS(); err != nil {
		fmt.Fprintf(h.log, "(peak RSS: %v) ", err)
	}
	return r
}

// probe sends one POST to url and returns the status, retrying connection
// errors for a few seconds while the server comes up.
func probe(ctx context.Context, url string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
		if err != nil {
			return 0, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode, nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("probe %s: %w", url, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// moduleRoot returns the directory of Den's go.mod.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run the benchmarks from inside Den's module (go run ./bench)")
	}
	return filepath.Dir(mod), nil
}
