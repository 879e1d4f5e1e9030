package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/den-run/den/internal/proc"
)

// Config says how hard and how long to crash the counter program.
type Config struct {
	// Bin is the counter program, Data its data directory (kept across
	// cycles).
	Bin, Data string
	// Cycles is the number of SIGKILLs.
	Cycles int
	// Duration bounds the load of one cycle: the kill comes at a random
	// moment between a tenth of it and all of it after the load starts.
	Duration time.Duration
	// Clients is the number of goroutines sending increments; Names the
	// number of counters they pick from at random.
	Clients, Names int
	// MinAcknowledged, if set, holds each kill back until at least that
	// many increments of the cycle were acknowledged (tests that need
	// acknowledged writes to check, on a machine too busy to promise any
	// within Duration).
	MinAcknowledged int64
	// Seed seeds the random choices, so that a run can be repeated.
	Seed uint64
	// Log receives a line per cycle; nil discards them.
	Log io.Writer
}

// Summary is what a run found.
type Summary struct {
	Cycles, Names int // kills done and checked; counters
	// Totals over every name at the last check.
	Acknowledged, Stored, Attempted int64
	// Violations lists every broken bound, empty when none was.
	Violations []Violation
}

// Violation is a name whose stored value broke acknowledged ≤ stored ≤
// attempted, or fell below the highest value a reply reported.
type Violation struct {
	Cycle  int // the check after the kill of this cycle (1-based)
	Name   string
	Tally  Tally
	Stored int64
	Reason string // what Tally.Check said
}

func (v Violation) String() string {
	return fmt.Sprintf("after kill %d, counter %q holds %d, %s: acknowledged %d (highest value replied %d), attempted %d",
		v.Cycle, v.Name, v.Stored, v.Reason, v.Tally.Acknowledged, v.Tally.HighestReplied, v.Tally.Attempted)
}

// Tally is what the clients know about one counter, across all cycles.
type Tally struct {
	Attempted      int64 // increments sent (or about to be)
	Acknowledged   int64 // increments answered 200
	HighestReplied int64 // the highest value a 200 reply reported
}

// Check returns the bound stored breaks, or "" if it holds: every
// acknowledged increment must be stored (including the one that replied the
// highest value), and nothing can be stored that was not attempted.
func (t Tally) Check(stored int64) string {
	switch {
	case stored < t.Acknowledged:
		return "fewer than acknowledged"
	case stored < t.HighestReplied:
		return "less than a value already replied"
	case stored > t.Attempted:
		return "more than attempted"
	}
	return ""
}

// OK reports whether the run found no violation.
func (s Summary) OK() bool { return len(s.Violations) == 0 }

// Write prints the summary for a person.
func (s Summary) Write(w io.Writer) {
	fmt.Fprintf(w, "crash harness: %d cycles (SIGKILL + restart), %d counters\n", s.Cycles, s.Names)
	if s.OK() {
		fmt.Fprintf(w, "  acknowledged %d ≤ stored %d ≤ attempted %d (of the %d not acknowledged, %d were stored anyway and %d lost)\n",
			s.Acknowledged, s.Stored, s.Attempted, s.Attempted-s.Acknowledged, s.Stored-s.Acknowledged, s.Attempted-s.Stored)
		fmt.Fprintf(w, "  OK: every acknowledged increment survived every SIGKILL\n")
		return
	}
	fmt.Fprintf(w, "  acknowledged %d, stored %d, attempted %d\n", s.Acknowledged, s.Stored, s.Attempted)
	for _, v := range s.Violations {
		fmt.Fprintf(w, "  violation: %s\n", v)
	}
	fmt.Fprintf(w, "  FAILED: %d violations\n", len(s.Violations))
}

// counter is one name's tally, updated by many clients.
type counter struct {
	attempted, acknowledged, highest atomic.Int64
}

func (c *counter) tally() Tally {
	return Tally{Attempted: c.attempted.Load(), Acknowledged: c.acknowledged.Load(), HighestReplied: c.highest.Load()}
}

// Run crashes the counter program cfg.Cycles times under load and checks
// every counter after each restart. It returns an error only when it could
// not do its work (build, start, read); broken bounds are in the Summary.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	names := make([]string, cfg.Names)
	counters := make([]counter, cfg.Names)
	for i := range names {
		names[i] = "c" + strconv.Itoa(i)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 1))
	tr := &http.Transport{MaxIdleConnsPerHost: cfg.Clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	sum := Summary{Names: cfg.Names}
	p, err := start(ctx, cfg)
	if err != nil {
		return sum, err
	}
	defer func() {
		if p != nil {
			p.Kill()
		}
	}()
	for cycle := 1; cycle <= cfg.Cycles; cycle++ {
		// Load, then a SIGKILL at a random moment.
		ackedBefore := acknowledged(counters)
		loadCtx, stopLoad := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for c := range cfg.Clients {
			seed := rng.Uint64()
			wg.Go(func() { load(loadCtx, client, p.URL(), names, counters, rand.New(rand.NewPCG(seed, uint64(c)))) })
		}
		wait := cfg.Duration/10 + time.Duration(rng.Int64N(int64(cfg.Duration-cfg.Duration/10)+1))
		var exited bool
		select {
		case <-time.After(wait):
		case <-p.Exited():
			exited = true
		case <-ctx.Done():
		}
		for !exited && ctx.Err() == nil && acknowledged(counters)-ackedBefore < cfg.MinAcknowledged {
			select {
			case <-time.After(10 * time.Millisecond): // polls a counter: no event to wait on
			case <-p.Exited():
				exited = true
			case <-ctx.Done():
			}
		}
		p.Kill()
		stopLoad()
		wg.Wait()
		tr.CloseIdleConnections()
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		if exited {
			return sum, fmt.Errorf("in cycle %d the program exited by itself:\n%s", cycle, p.Stderr())
		}

		// Restart on the same data and check every counter.
		if p, err = start(ctx, cfg); err != nil {
			return sum, fmt.Errorf("restart after kill %d: %w", cycle, err)
		}
		before := sum.Acknowledged
		sum.Acknowledged, sum.Stored, sum.Attempted = 0, 0, 0
		for i, name := range names {
			stored, err := value(ctx, client, p.URL(), name)
			if err != nil {
				return sum, fmt.Errorf("after kill %d: %w", cycle, err)
			}
			t := counters[i].tally()
			if reason := t.Check(stored); reason != "" {
				sum.Violations = append(sum.Violations, Violation{Cycle: cycle, Name: name, Tally: t, Stored: stored, Reason: reason})
			}
			sum.Acknowledged += t.Acknowledged
			sum.Stored += stored
			sum.Attempted += t.Attempted
		}
		sum.Cycles = cycle
		fmt.Fprintf(cfg.Log, "kill %2d after %4dms: %5d acknowledged this cycle; so far acknowledged %d, stored %d, attempted %d, violations %d\n",
			cycle, wait.Milliseconds(), sum.Acknowledged-before, sum.Acknowledged, sum.Stored, sum.Attempted, len(sum.Violations))
	}
	stopCtx, cancel := context.WithTimeout(ctx, 40*time.Second)
	defer cancel()
	err = p.Stop(stopCtx)
	p = nil
	if err != nil {
		return sum, fmt.Errorf("final SIGTERM: %w", err)
	}
	if sum.Acknowledged == 0 {
		return sum, errors.New("no increment was acknowledged in any cycle: the harness proved nothing (raise -duration)")
	}
	return sum, nil
}

func start(ctx context.Context, cfg Config) (*proc.Process, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return proc.Start(ctx, proc.Spec{
		Path:  cfg.Bin,
		Args:  []string{"--addr", "127.0.0.1:0", "--data", cfg.Data, "--log-level", "error"},
		Env:   proc.DenEnv,
		Ready: proc.DenListening,
	})
}

// load increments random counters until ctx ends or the process is gone.
// acknowledged returns the increments acknowledged so far, over every counter.
func acknowledged(counters []counter) int64 {
	var n int64
	for i := range counters {
		n += counters[i].acknowledged.Load()
	}
	return n
}

func load(ctx context.Context, client *http.Client, base string, names []string, counters []counter, rng *rand.Rand) {
	for ctx.Err() == nil {
		i := rng.IntN(len(names))
		c := &counters[i]
		c.attempted.Add(1) // before sending: the server may apply it even if the reply is lost
		n, err := increment(ctx, client, base, names[i])
		var status *statusError
		if errors.As(err, &status) {
			continue // answered but not acknowledged (503 overloaded, say)
		}
		if err != nil {
			return // the process is gone: stop attempting until the restart
		}
		c.acknowledged.Add(1)
		for {
			h := c.highest.Load()
			if n <= h || c.highest.CompareAndSwap(h, n) {
				break
			}
		}
	}
}

func increment(ctx context.Context, client *http.Client, base, name string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/counter/"+name+"/increment", nil)
	if err != nil {
		return 0, err
	}
	return do(client, req)
}

func value(ctx context.Context, client *http.Client, base, name string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/counter/"+name, nil)
	if err != nil {
		return 0, err
	}
	n, err := do(client, req)
	if err != nil {
		return 0, fmt.Errorf("read counter %s: %w", name, err)
	}
	return n, nil
}

// do sends req and parses the decimal body of a 200 reply.
func do(client *http.Client, req *http.Request) (int64, error) {
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, &statusError{status: resp.Status, body: strings.TrimSpace(string(b))}
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("reply %q is not a decimal number", b)
	}
	return n, nil
}

// statusError is a reply other than 200.
type statusError struct{ status, body string }

func (e *statusError) Error() string { return e.status + ": " + e.body }
