// Command alarms measures the scale requirement of Den's alarms, "10,000
// alarms due in the same second all run within a few seconds", on Den and on
// workerd, the open-source Cloudflare Workers runtime, on this machine:
//
//	go run ./bench/alarms            # 10,000 objects, Den and workerd (10-15 minutes)
//	go run ./bench/alarms -quick     # 1,000 objects
//
// For each runtime it starts a fresh server on a fresh data directory under
// bench/.cache/run/, gives each of N objects one alarm, all due at the same
// moment T, and stops the server (SIGTERM) before T: when the alarms fall
// due every object is out of memory and the runtime is down. A second after
// T it starts the server again on the same data and measures, from the
// restart, when the first alarm handler ran, when all N had, the server's
// CPU time until then and its peak RSS. Den runs examples/reminders with its
// defaults; workerd runs worker.js, the same reminders in a SQLite-backed
// Durable Object class.
//
// Handler runs are counted without touching any object, every 50 ms: Den's
// from den_alarms_run_total on its operator API's /metrics; workerd's from
// its alarm schedule (metadata.sqlite, read-only), whose row for an object
// goes once its handler has succeeded, or, with -notify, from the requests
// its handlers send, after their writes, to a collector this command serves.
// Before the restart each runtime's schedule must hold the N alarms; once
// all N ran, a random sample of objects is read back: each must hold its
// reminder delivered exactly once.
//
// The table goes to stdout and to bench/results/alarms-DATE.md. workerd comes
// from bench/.cache (go run ./bench installs it).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/den-run/den/internal/proc"
)

// Options are the command line.
type Options struct {
	Objects  int      // objects, one alarm each
	Runtimes []string // den, workerd
	Conns    int      // connections that schedule the alarms
	// Lead is the time from the first scheduling request to the alarms' due
	// time, which every request carries: it must cover scheduling and
	// stopping the server. Without -lead it is 30 s + 20 ms per object, and
	// run doubles it once if that was too short for this machine.
	Lead    time.Duration
	leadSet bool          // -lead was given: no second try
	Sample  int           // objects read back after their alarms ran
	Timeout time.Duration // longest wait for all alarms after the restart
	NoFile  uint64        // the servers' open-file limit; 0 leaves this process's
	Notify  bool          // count workerd's handlers by their notifications
	Keep    bool          // keep the data directories
	Cache   string        // binaries, workerd and data directories; default bench/.cache
	Out     string        // the markdown file; "-" for none
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench/alarms: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "bench/alarms: %v\n", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (Options, error) {
	fs := flag.NewFlagSet("alarms", flag.ContinueOnError)
	var o Options
	var runtimes string
	fs.IntVar(&o.Objects, "objects", 10_000, "objects, one alarm each, all due at the same moment")
	fs.StringVar(&runtimes, "runtimes", "den,workerd", "runtimes: den, workerd")
	fs.IntVar(&o.Conns, "conns", 32, "connections that schedule the alarms")
	fs.DurationVar(&o.Lead, "lead", 0, "from the first scheduling request to the alarms' due time; it must cover scheduling and stopping (default 30s + 20ms per object, doubled once if too short)")
	fs.IntVar(&o.Sample, "sample", 200, "objects read back to check their reminder was delivered once")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Minute, "longest wait for every alarm after the restart")
	fs.Uint64Var(&o.NoFile, "nofile", 0, "set the servers' open-file limit, soft and hard (raising the hard limit needs CAP_SYS_RESOURCE); 0 leaves it")
	fs.BoolVar(&o.Notify, "notify", false, "count workerd's alarm handlers by the request each sends to a collector here, not from workerd's alarm schedule (one connection per handler, all at once: 5,000 objects run workerd out of descriptors)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the data directories")
	fs.StringVar(&o.Cache, "cache", "", "cache directory: binaries, workerd, data directories (default bench/.cache)")
	fs.StringVar(&o.Out, "out", "", `markdown file to write the table to (default bench/results/alarms-DATE.md; "-" for none)`)
	quick := fs.Bool("quick", false, "smoke run: -objects 1000 unless given")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *quick && !set["objects"] {
		o.Objects = 1000
	}
	for _, r := range strings.Split(runtimes, ",") {
		if r = strings.TrimSpace(r); r != "den" && r != "workerd" {
			return o, fmt.Errorf("-runtimes: unknown runtime %q (den, workerd)", r)
		}
		o.Runtimes = append(o.Runtimes, r)
	}
	if o.Objects < 1 || o.Conns < 1 || o.Sample < 0 || o.Lead < 0 || o.Timeout <= 0 {
		return o, errors.New("-objects, -conns and -timeout must be positive, -sample and -lead not negative")
	}
	o.leadSet = o.Lead > 0
	if o.Lead == 0 {
		o.Lead = 30*time.Second + time.Duration(o.Objects)*20*time.Millisecond
	}
	return o, nil
}

func run(ctx context.Context, o Options, stdout, log io.Writer) error {
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	if o.Cache == "" {
		o.Cache = filepath.Join(root, "bench", ".cache")
	}
	if o.Cache, err = filepath.Abs(o.Cache); err != nil {
		return err
	}
	if o.Out == "" {
		o.Out = filepath.Join(root, "bench", "results", "alarms-"+time.Now().Format("2006-01-02-150405")+".md")
	}
	rep := report{date: time.Now(), cpus: runtime.NumCPU(), goVersion: runtime.Version(), loadBefore: loadAverage()}
	if l, err := strconv.ParseFloat(rep.loadBefore, 64); err == nil && l > 0.5 {
		fmt.Fprintf(log, "warning: the load average is %s: other work on this machine will skew the numbers\n", rep.loadBefore)
	}
	if o.NoFile > 0 {
		// The servers inherit it: a limit this process sets is not reset
		// for its children, as the one Go raises at start is.
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: o.NoFile, Max: o.NoFile}); err != nil {
			return fmt.Errorf("-nofile %d: %w", o.NoFile, err)
		}
	}
	bin := filepath.Join(o.Cache, "bin")
	runDir := filepath.Join(o.Cache, "run")
	for _, dir := range []string{bin, runDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	var targets []*target
	for _, r := range o.Runtimes {
		switch r {
		case "den":
			fmt.Fprintln(log, "building examples/reminders")
			reminders, err := proc.Build(ctx, bin, "github.com/den-run/den/examples/reminders")
			if err != nil {
				return err
			}
			targets = append(targets, newDen(reminders))
		case "workerd":
			workerd, err := workerdBinary(o.Cache)
			if err != nil {
				fmt.Fprintf(log, "%v: skipped\n", err)
				continue
			}
			rep.workerd = workerdVersion(workerd)
			t, err := newWorkerd(workerd, o.Notify)
			if err != nil {
				return err
			}
			defer t.close()
			targets = append(targets, t)
		}
	}
	var failed []string
	for _, t := range targets {
		res := measureIn(ctx, t, runDir, o, log)
		if errors.Is(res.err, errLate) && !o.leadSet {
			// The machine is slower than the default lead allows: once more,
			// on fresh data, with twice the lead.
			o := o
			o.Lead *= 2
			fmt.Fprintf(log, "%s: %v; starting over with -lead %s\n", t.name, res.err, o.Lead)
			res = measureIn(ctx, t, runDir, o, log)
		}
		if res.err != nil {
			fmt.Fprintf(log, "%s: %v\n", t.name, res.err)
			failed = append(failed, t.name)
		}
		rep.results = append(rep.results, res)
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
	}
	rep.loadAfter = loadAverage()
	rep.markdown(stdout)
	if o.Out != "-" {
		if err := os.MkdirAll(filepath.Dir(o.Out), 0o755); err != nil {
			return err
		}
		f, err := os.Create(o.Out)
		if err != nil {
			return err
		}
		rep.markdown(f)
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Fprintf(log, "wrote %s\n", o.Out)
	}
	if len(failed) > 0 {
		return fmt.Errorf("failed: %s", strings.Join(failed, ", "))
	}
	return nil
}

// measureIn measures t on a fresh data directory under runDir, which it
// deletes afterwards unless o.Keep.
func measureIn(ctx context.Context, t *target, runDir string, o Options, log io.Writer) result {
	dir, err := os.MkdirTemp(runDir, "alarms-"+strings.ToLower(t.name)+"-")
	if err != nil {
		return result{runtime: t.name, objects: o.Objects, err: err}
	}
	res := measure(ctx, t, dir, o, log)
	if o.Keep {
		fmt.Fprintf(log, "%s: data kept in %s\n", t.name, dir)
	} else if err := os.RemoveAll(dir); err != nil {
		fmt.Fprintf(log, "%s: %v\n", t.name, err)
	}
	return res
}

// moduleRoot returns the directory of Den's go.mod.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run the benchmark from inside Den's module (go run ./bench/alarms)")
	}
	return filepath.Dir(mod), nil
}

// loadAverage returns the 1-minute load average from /proc/loadavg, or "?".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}
