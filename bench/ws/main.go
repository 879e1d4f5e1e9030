// Command ws benchmarks hibernatable WebSockets on Den against workerd, the
// open-source Cloudflare Workers runtime, on this machine:
//
//	go run ./bench/ws                          # 10,000 and 100,000 idle sockets, broadcast, room throughput
//	go run ./bench/ws -sockets 1000 -quick     # a smoke run
//
// For each runtime it starts a fresh server (bench/ws/app for Den,
// bench/ws/worker.js for workerd) and measures:
//
//   - idle: the server's RSS per idle hibernated socket, (RSS after N
//     sockets connected and their rooms hibernated − RSS before) / N, with
//     1,000 sockets per room;
//   - broadcast: the time from sending one message to the last of B
//     sockets of one room receiving it (median and worst of -rounds), read
//     by one epoll loop over all B sockets (see receiver);
//   - room: chat messages per second through one room (stored in SQL and
//     sent to every member) with -senders members sending in a closed loop.
//
// Before the runtimes, unless -floor=false, the kernel floor (bench/ws/floor)
// writes the same broadcast frame to B sockets with plain write(2) from one
// and from two threads, and with io_uring sends in batches of -uring-batch:
// what the kernel's loopback path alone costs.
//
// Each socket is a file descriptor in the server and in this client, so N
// sockets need `ulimit -n` above N in both; a cell that does not fit is
// skipped and says so. workerd comes from bench/.cache (go run ./bench
// installs it).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/den-run/den/internal/proc"
)

// Options are the command line.
type Options struct {
	Sockets  []int         // idle socket counts
	PerRoom  int           // idle sockets per room
	Settle   time.Duration // wait after connecting, for rooms to hibernate
	Fanout   int           // sockets in the broadcast room
	Rounds   int           // broadcasts measured
	Senders  int           // members sending in the room cell
	Duration time.Duration // of the room cell
	Runtimes []string      // den, workerd
	Floor    bool          // measure the kernel's floor for the broadcast
	// UringBatch is the floor's io_uring sends per io_uring_enter; 0 skips it.
	UringBatch int
	Cache      string
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench/ws: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "bench/ws: %v\n", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (Options, error) {
	fs := flag.NewFlagSet("ws", flag.ContinueOnError)
	var o Options
	var sockets, runtimes string
	fs.StringVar(&sockets, "sockets", "10000,100000", "idle socket counts, comma-separated")
	fs.IntVar(&o.PerRoom, "per-room", 1000, "idle sockets per room")
	fs.DurationVar(&o.Settle, "settle", 12*time.Second, "wait after connecting idle sockets, for rooms to hibernate (workerd: 10 s idle)")
	fs.IntVar(&o.Fanout, "fanout", 10_000, "sockets in the broadcast room")
	fs.IntVar(&o.Rounds, "rounds", 10, "broadcasts measured")
	fs.IntVar(&o.Senders, "senders", 16, "members sending in the room cell")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "how long the room cell runs")
	fs.StringVar(&runtimes, "runtimes", "den,workerd", "runtimes: den, workerd")
	fs.BoolVar(&o.Floor, "floor", true, "measure the kernel's floor for the broadcast (bench/ws/floor: plain write(2) to each socket, and io_uring)")
	fs.IntVar(&o.UringBatch, "uring-batch", 256, "the floor's io_uring sends per io_uring_enter (a power of two up to 4096); 0 leaves io_uring out")
	fs.StringVar(&o.Cache, "cache", "", "cache directory (default bench/.cache)")
	quick := fs.Bool("quick", false, "smoke run: -settle 3s -fanout 1000 -rounds 3 -duration 2s unless given")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *quick {
		for name, v := range map[string]string{"settle": "3s", "fanout": "1000", "rounds": "3", "duration": "2s"} {
			if !set[name] {
				fs.Set(name, v)
			}
		}
	}
	for _, s := range strings.Split(sockets, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return o, fmt.Errorf("-sockets: %q is not a positive count", s)
		}
		o.Sockets = append(o.Sockets, n)
	}
	for _, r := range strings.Split(runtimes, ",") {
		if r != "den" && r != "workerd" {
			return o, fmt.Errorf("-runtimes: unknown runtime %q (den, workerd)", r)
		}
		o.Runtimes = append(o.Runtimes, r)
	}
	if o.UringBatch < 0 || o.UringBatch > 4096 || o.UringBatch&(o.UringBatch-1) != 0 {
		return o, fmt.Errorf("-uring-batch: %d is not 0 or a power of two up to 4096", o.UringBatch)
	}
	if o.PerRoom < 1 || o.Fanout < 1 || o.Rounds < 1 || o.Senders < 1 {
		return o, errors.New("-per-room, -fanout, -rounds and -senders must be positive")
	}
	return o, nil
}

// server is a runtime under test.
type server struct {
	p    *proc.Process
	name string
}

func (s *server) rss() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.p.PID()))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS")
}

// selfCPU returns this process's CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (s *server) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.p.Stop(ctx); err != nil {
		s.p.Kill()
	}
}

// starter starts a fresh server of one runtime.
type starter func(ctx context.Context) (*server, error)

func run(ctx context.Context, o Options, stdout, log io.Writer) error {
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	fdLimit := int(lim.Max)
	fmt.Fprintf(log, "open-file limit: %d (each socket needs one descriptor in the server and one here)\n", fdLimit)
	if o.Cache == "" {
		o.Cache = filepath.Join("bench", ".cache")
	}
	work, err := os.MkdirTemp("", "den-bench-ws-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	starters := map[string]starter{}
	for _, r := range o.Runtimes {
		switch r {
		case "den":
			bin, err := proc.Build(ctx, work, "github.com/den-run/den/bench/ws/app")
			if err != nil {
				return err
			}
			n := 0
			starters[r] = func(ctx context.Context) (*server, error) {
				n++
				p, err := proc.Start(ctx, proc.Spec{
					Path: bin,
					Args: []string{"--addr", "127.0.0.1:0", "--admin-addr", "off", "--idle-timeout", "2s",
						"--log-level", "warn", "--data", filepath.Join(work, fmt.Sprint("den-", n))},
					Ready: proc.DenListening,
				})
				return &server{p: p, name: "den"}, err
			}
		case "workerd":
			bin, err := filepath.Abs(filepath.Join(o.Cache, "node_modules", "@cloudflare", "workerd-"+runtime.GOOS+"-64", "bin", "workerd"))
			if err != nil {
				return err
			}
			if _, err := os.Stat(bin); err != nil {
				fmt.Fprintf(log, "workerd not installed in %s (go run ./bench installs it): skipped\n", o.Cache)
				continue
			}
			n := 0
			starters[r] = func(ctx context.Context) (*server, error) {
				n++
				p, err := startWorkerd(ctx, bin, filepath.Join(work, fmt.Sprint("workerd-", n)))
				return &server{p: p, name: "workerd"}, err
			}
		}
	}
	var rows []string
	add := func(row string) {
		rows = append(rows, row)
		fmt.Fprintln(log, row)
	}
	if o.Floor && o.Fanout+256 <= fdLimit {
		bin, err := proc.Build(ctx, work, "github.com/den-run/den/bench/ws/floor")
		if err != nil {
			return err
		}
		fr, err := floor(ctx, bin, o)
		if err != nil {
			return fmt.Errorf("floor: %w", err)
		}
		for _, row := range fr {
			add(row)
		}
	}
	for _, r := range o.Runtimes {
		start := starters[r]
		if start == nil {
			continue
		}
		for _, n := range o.Sockets {
			if n+256 > fdLimit {
				add(fmt.Sprintf("| %s | idle RSS per socket, %d sockets | skipped: needs `ulimit -n` ≥ %d, this machine allows %d |", r, n, n+256, fdLimit))
				continue
			}
			per, err := idle(ctx, start, n, o)
			if err != nil {
				return fmt.Errorf("%s idle %d: %w", r, n, err)
			}
			add(fmt.Sprintf("| %s | idle RSS per socket, %d sockets | %s |", r, n, per))
		}
		if o.Fanout+256 > fdLimit {
			add(fmt.Sprintf("| %s | broadcast to %d | skipped: open-file limit %d |", r, o.Fanout, fdLimit))
		} else {
			b, err := broadcast(ctx, start, o)
			if err != nil {
				return fmt.Errorf("%s broadcast: %w", r, err)
			}
			add(fmt.Sprintf("| %s | broadcast to %d sockets of one room | %s |", r, o.Fanout, b))
		}
		m, err := roomRate(ctx, start, o)
		if err != nil {
			return fmt.Errorf("%s room: %w", r, err)
		}
		add(fmt.Sprintf("| %s | chat messages/s through one room (%d members, SQL insert + fan-out) | %s |", r, o.Senders, m))
	}
	fmt.Fprintf(stdout, "\nWebSockets, %s, %d CPUs\n\n| runtime | measure | result |\n|---|---|---|\n", time.Now().Format("2006-01-02 15:04"), runtime.NumCPU())
	for _, row := range rows {
		fmt.Fprintln(stdout, row)
	}
	return nil
}

// cells counts the source addresses used so far (see localIP).
var cells atomic.Int64

// connect opens n sockets, perRoom to a room, 64 at a time.
func connect(ctx context.Context, addr string, n, perRoom int, prefix string) ([]*client, error) {
	return dialAll(ctx, n, func(i int, local net.IP) (*client, error) {
		return dial(ctx, addr, fmt.Sprintf("/room/%s%d?name=u%d", prefix, i/perRoom, i), local)
	})
}

// dialAll opens n connections with dialOne, 64 at a time, each from the
// source address localIP gives it.
func dialAll(ctx context.Context, n int, dialOne func(i int, local net.IP) (*client, error)) ([]*client, error) {
	base := int(cells.Add(int64(n/25000+1)) - int64(n/25000+1))
	out := make([]*client, n)
	var next atomic.Int64
	var first error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				c, err := dialOne(i, localIP(base, i))
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("socket %d: %w", i, err)
					}
					mu.Unlock()
					next.Store(int64(n))
					return
				}
				out[i] = c
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	if first != nil {
		for _, c := range out {
			if c != nil {
				c.close()
			}
		}
		return nil, first
	}
	return out, nil
}

func closeAll(cs []*client) {
	for _, c := range cs {
		c.close()
	}
}

// idle measures RSS per idle hibernated socket.
func idle(ctx context.Context, start starter, n int, o Options) (string, error) {
	s, err := start(ctx)
	if err != nil {
		return "", err
	}
	defer s.stop()
	// Warm up: one room, one socket, one message; then the baseline.
	warm, err := connect(ctx, s.p.Addr(), 1, 1, "warm")
	if err != nil {
		return "", err
	}
	warm[0].send("b:hi")
	if _, err := warm[0].read(); err != nil {
		return "", err
	}
	closeAll(warm)
	time.Sleep(o.Settle) // the warm-up room hibernates; the server settles
	before, err := s.rss()
	if err != nil {
		return "", err
	}
	t0 := time.Now()
	cs, err := connect(ctx, s.p.Addr(), n, o.PerRoom, "idle")
	if err != nil {
		return "", err
	}
	defer closeAll(cs)
	took := time.Since(t0)
	time.Sleep(o.Settle) // rooms hibernate
	after, err := s.rss()
	if err != nil {
		return "", err
	}
	// The sockets are alive: the runtime answers each sampled one.
	for i := 0; i < n; i += max(1, n/20) {
		if err := cs[i].send(`{"type":"ping"}`); err != nil {
			return "", err
		}
		if m, err := cs[i].read(); err != nil || m != `{"type":"pong"}` {
			return "", fmt.Errorf("socket %d after hibernation: %q %v", i, m, err)
		}
	}
	per := float64(after-before) / float64(n)
	return fmt.Sprintf("%.2f KiB (RSS %.1f → %.1f MiB; connected in %.1f s)", per/1024, float64(before)/(1<<20), float64(after)/(1<<20), took.Seconds()), nil
}

// broadcast measures one message's fan-out to o.Fanout sockets.
func broadcast(ctx context.Context, start starter, o Options) (string, error) {
	s, err := start(ctx)
	if err != nil {
		return "", err
	}
	defer s.stop()
	cs, err := connect(ctx, s.p.Addr(), o.Fanout, o.Fanout, "fan")
	if err != nil {
		return "", err
	}
	fds, err := detachAll(cs)
	if err != nil {
		return "", err
	}
	rc, err := newReceiver(fds)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	var lat []time.Duration
	var srvCPU, cliCPU time.Duration
	for round := range o.Rounds + 1 {
		s0, c0 := s.p.CPUTime(), selfCPU()
		t0 := monotonic()
		if err := sendRaw(fds[round%len(fds)], "b:"+strconv.Itoa(round)); err != nil {
			return "", err
		}
		last, err := rc.await(round+1, time.Now().Add(60*time.Second))
		if err != nil {
			return "", fmt.Errorf("round %d: %w", round, err)
		}
		if round > 0 { // round 0 wakes the room
			lat = append(lat, time.Duration(last-t0))
			srvCPU += s.p.CPUTime() - s0
			cliCPU += selfCPU() - c0
		}
	}
	return summary(lat, srvCPU, cliCPU, "server"), nil
}

// summary describes a broadcast cell's latencies and CPU per round.
func summary(lat []time.Duration, srvCPU, cliCPU time.Duration, server string) string {
	slices.Sort(lat)
	n := float64(len(lat))
	return fmt.Sprintf("median %.1f ms, worst %.1f ms (%d rounds; CPU per round: %s %.1f ms, this client %.1f ms)",
		ms(lat[len(lat)/2]), ms(lat[len(lat)-1]), len(lat), server, ms(srvCPU)/n, ms(cliCPU)/n)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// roomRate measures chat messages per second through one room.
func roomRate(ctx context.Context, start starter, o Options) (string, error) {
	s, err := start(ctx)
	if err != nil {
		return "", err
	}
	defer s.stop()
	cs, err := connect(ctx, s.p.Addr(), o.Senders, o.Senders, "chat")
	if err != nil {
		return "", err
	}
	defer closeAll(cs)
	var done atomic.Int64
	var failed atomic.Pointer[error]
	stop := time.Now().Add(o.Duration)
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() {
			me := fmt.Sprintf(`"from":"u%d"`, i)
			for time.Now().Before(stop) {
				if err := c.send("hello"); err != nil {
					failed.Store(&err)
					return
				}
				for { // read until our own message comes back
					m, err := c.read()
					if err != nil {
						failed.Store(&err)
						return
					}
					if strings.Contains(m, me) {
						break
					}
				}
				done.Add(1)
			}
		})
	}
	t0 := time.Now()
	wg.Wait()
	if e := failed.Load(); e != nil {
		return "", *e
	}
	rate := float64(done.Load()) / time.Since(t0).Seconds()
	return fmt.Sprintf("%.0f msg/s (each sent to %d sockets: %.0f frames/s)", rate, o.Senders, rate*float64(o.Senders)), nil
}
