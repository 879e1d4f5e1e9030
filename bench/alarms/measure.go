package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/den-run/den/internal/proc"
)

// pollEvery is how often the harness counts the alarm handlers that ran.
const pollEvery = 50 * time.Millisecond

// errLate says that the server was still up, or still being given alarms,
// when the alarms fell due: the lead was too short for this machine.
var errLate = errors.New("the server was still up when the alarms fell due: raise -lead")

// target is a runtime under test.
type target struct {
	name string
	// start starts the server with its data in dir; the restart calls it
	// again with the same dir.
	start func(ctx context.Context, dir string) (*proc.Process, error)
	// scheduled returns how many alarms the schedule in dir holds, the
	// server being stopped.
	scheduled func(ctx context.Context, dir string) (int, error)
	// watch returns the counter of the alarm handlers the server p, serving
	// dir, has run since it started, which touches no object; held is what
	// scheduled said before the start.
	watch func(ctx context.Context, p *proc.Process, dir string, held int) (counter, error)
	// close releases what the target holds, if anything.
	close func()
}

// counter counts a server's alarm handler runs.
type counter interface {
	// count returns how many alarm handlers have run so far: on Den the
	// handler runs; on workerd the rows its schedule dropped since the
	// restart, or with -notify the objects that reported a delivery.
	count(ctx context.Context) (int, error)
	// note says what the count was made of, for the report.
	note() string
	close()
}

// result is one runtime's measurement.
type result struct {
	runtime   string
	objects   int
	conns     int
	scheduled time.Duration // sending the N scheduling requests
	stopped   time.Duration // the server's shutdown after them
	down      time.Duration // from the end of the shutdown to the restart
	late      time.Duration // from the due time to the restart
	// first and all are the times from the restart to the first and the
	// last alarm handler seen; cpu is the restarted server's CPU time then.
	first, all  time.Duration
	cpu         time.Duration
	peakRSS     int64  // bytes, VmHWM when the last had run
	counted     string // the counter's note
	verified    int    // objects read back
	readRetries int    // reads of them tried again
	nofile      int    // the restarted server's open-file limit
	complaints  int    // warnings and errors in the end of its log
	// stamped is the range of the sample's delivered_at, the time each
	// handler read at its start, from the restart.
	stamped [2]time.Duration
	err     error
}

// userName is the i-th object's name and message the reminder it gets.
func userName(i int) string { return "user" + strconv.Itoa(i) }
func message(i int) string  { return "reminder for user" + strconv.Itoa(i) }

// measure runs the case on t with its data in dir: schedule, stop before
// the due time, restart after it, count the handlers, read a sample back.
func measure(ctx context.Context, t *target, dir string, o Options, log io.Writer) result {
	r := result{runtime: t.name, objects: o.Objects, conns: o.Conns}
	r.err = r.measure(ctx, t, dir, o, func(format string, args ...any) {
		fmt.Fprintf(log, "%s: %s\n", t.name, fmt.Sprintf(format, args...))
	})
	return r
}

func (r *result) measure(ctx context.Context, t *target, dir string, o Options, logf func(string, ...any)) error {
	client := newClient(o.Conns)
	defer client.CloseIdleConnections()

	logf("starting a fresh server")
	p, err := startServer(ctx, t, dir)
	if err != nil {
		return err
	}
	defer p.Kill() // if still running
	due := time.Now().Add(o.Lead).Truncate(time.Millisecond)
	logf("scheduling %d alarms, all due at %s (in %s), over %d connections", o.Objects, due.Format("15:04:05.000"), o.Lead, o.Conns)
	t0 := time.Now()
	if err := schedule(ctx, client, p.URL(), o, due, logf); err != nil {
		return fmt.Errorf("schedule: %w", err)
	}
	r.scheduled = time.Since(t0)
	logf("scheduled %d alarms in %.1f s (%.0f/s); stopping the server (SIGTERM)", o.Objects, r.scheduled.Seconds(), float64(o.Objects)/r.scheduled.Seconds())
	client.CloseIdleConnections()
	t0 = time.Now()
	if err := stop(p); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	stoppedAt := time.Now()
	r.stopped = stoppedAt.Sub(t0)
	if !stoppedAt.Before(due) {
		return fmt.Errorf("%w (scheduling took %s, stopping %s)", errLate, r.scheduled.Round(time.Millisecond), r.stopped.Round(time.Millisecond))
	}
	held, err := t.scheduled(ctx, dir)
	if err != nil {
		return err
	}
	if held != o.Objects {
		return fmt.Errorf("the stopped server's schedule holds %d alarms, not %d", held, o.Objects)
	}
	logf("stopped in %.1f s, its schedule holding %d alarms; they fall due in %.1f s; restarting a second after", r.stopped.Seconds(), held, time.Until(due).Seconds())
	if err := sleepUntil(ctx, due.Add(time.Second)); err != nil {
		return err
	}

	restart := time.Now()
	p, err = startServer(ctx, t, dir)
	if err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	defer p.Kill()
	r.down, r.late = restart.Sub(stoppedAt), restart.Sub(due)
	r.nofile = openFileLimit(p.PID())
	logf("restarted (listening after %.2f s, open-file limit %d); counting alarm handlers every %s", time.Since(restart).Seconds(), r.nofile, pollEvery)
	c, err := t.watch(ctx, p, dir, held)
	if err != nil {
		return err
	}
	defer c.close()
	err = r.await(ctx, p, c, restart, o, logf)
	if complaints, tail := complaints(p.Stderr()); complaints > 0 {
		r.complaints = complaints
		logf("the server's log (its last 8 KiB) has %d warnings or errors; it ends with:\n%s", complaints, tail)
	}
	if err != nil {
		return err
	}
	r.counted = c.note()
	logf("all %d alarm handlers ran %.2f s after the restart (the first after %.2f s); %s", o.Objects, r.all.Seconds(), r.first.Seconds(), r.counted)

	if err := settle(ctx, p, r.nofile, logf); err != nil {
		return err
	}
	sample := rand.Perm(o.Objects)[:min(o.Sample, o.Objects)]
	stamps, retries, err := verify(ctx, client, p.URL(), sample, due)
	r.readRetries = retries
	if err != nil {
		select {
		case <-p.Exited():
			err = fmt.Errorf("%w (the server has exited)", err)
		default:
		}
		_, tail := complaints(p.Stderr())
		logf("the server's log ends with:\n%s", tail)
		return err
	}
	r.verified = len(sample)
	if len(stamps) > 0 {
		r.stamped = [2]time.Duration{time.UnixMilli(slices.Min(stamps)).Sub(restart), time.UnixMilli(slices.Max(stamps)).Sub(restart)}
	}
	logf("read back %d random objects (%d reads tried again): each holds its reminder, delivered once, by handlers that started %.2f to %.2f s after the restart",
		len(sample), retries, r.stamped[0].Seconds(), r.stamped[1].Seconds())
	if err := stop(p); err != nil {
		return fmt.Errorf("stop after the run: %w", err)
	}
	return nil
}

// await polls c until o.Objects handlers have run, recording in r when the
// first and the last were seen, the server's CPU time and peak RSS then.
func (r *result) await(ctx context.Context, p *proc.Process, c counter, restart time.Time, o Options, logf func(string, ...any)) error {
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	logged, before := restart, 0
	for {
		n, err := c.count(ctx)
		now := time.Now()
		if err != nil {
			return fmt.Errorf("count the alarm handlers: %w", err)
		}
		if n > 0 && r.first == 0 {
			r.first = now.Sub(restart)
		}
		if n >= o.Objects {
			r.all, r.cpu = now.Sub(restart), p.CPUTime()
			if r.peakRSS, err = p.PeakRSS(); err != nil {
				logf("peak RSS: %v", err)
			}
			return nil
		}
		// Every second while the count moves, every ten while it does not.
		if since := now.Sub(logged); since >= time.Second && n != before || since >= 10*time.Second {
			logf("%5.1f s after the restart: %d of %d alarm handlers ran (+%d)", now.Sub(restart).Seconds(), n, o.Objects, n-before)
			logged, before = now, n
		}
		if now.Sub(restart) > o.Timeout {
			return fmt.Errorf("%s after the restart only %d of %d alarm handlers had run (%s)", o.Timeout, n, o.Objects, c.note())
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-p.Exited():
			return fmt.Errorf("the server exited after %d of %d alarm handlers", n, o.Objects)
		case <-tick.C:
		}
	}
}

// schedule gives each of the o.Objects objects one reminder due at due,
// over o.Conns connections, and logs its progress every second. It gives up
// if due comes first.
func schedule(ctx context.Context, client *http.Client, base string, o Options, due time.Time, logf func(string, ...any)) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next, done atomic.Int64
	var workers sync.WaitGroup
	for range o.Conns {
		workers.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= o.Objects {
					return
				}
				if !time.Now().Before(due) {
					cancel(fmt.Errorf("%w (%d of %d scheduled)", errLate, done.Load(), o.Objects))
					return
				}
				if err := post(ctx, client, base, i, due); err != nil {
					cancel(fmt.Errorf("%s: %w", userName(i), err))
					return
				}
				done.Add(1)
			}
		})
	}
	pctx, stopProgress := context.WithCancel(ctx)
	var progress sync.WaitGroup
	progress.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-pctx.Done():
				return
			case <-tick.C:
				logf("scheduled %d of %d", done.Load(), o.Objects)
			}
		}
	})
	workers.Wait()
	stopProgress()
	progress.Wait()
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return nil
}

// post sends the i-th object its reminder and expects 201.
func post(ctx context.Context, client *http.Client, base string, i int, due time.Time) error {
	body, err := json.Marshal(map[string]any{"at": due.UnixMilli(), "message": message(i)})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/reminders/"+userName(i), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST answered %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}

// list is a user's reminders as both runtimes answer GET /reminders/{user}.
type list struct {
	Pending   []reminder `json:"pending"`
	Delivered []reminder `json:"delivered"`
}

// reminder is one reminder of a list; DeliveredAt is for delivered ones.
type reminder struct {
	At          int64  `json:"at"`
	Message     string `json:"message"`
	DeliveredAt int64  `json:"delivered_at"`
}

// verify reads back the sampled objects (indexes) one at a time and fails
// unless each holds nothing pending and its one reminder delivered once, at
// or after due. It returns their delivered_at times (Unix ms) and how many
// reads it tried again (see getRetrying).
func verify(ctx context.Context, client *http.Client, base string, sample []int, due time.Time) ([]int64, int, error) {
	var bad []string
	var stamps []int64
	retries := 0
	for _, i := range sample {
		l, n, err := getRetrying(ctx, client, base+"/reminders/"+userName(i))
		retries += n
		if err != nil {
			return nil, retries, fmt.Errorf("read back %s: %w", userName(i), err)
		}
		if problem := check(l, due.UnixMilli(), message(i)); problem != "" {
			bad = append(bad, userName(i)+": "+problem)
			continue
		}
		stamps = append(stamps, l.Delivered[0].DeliveredAt)
	}
	if len(bad) > 0 {
		return nil, retries, fmt.Errorf("%d of %d objects read back are wrong: %s", len(bad), len(sample), strings.Join(bad[:min(len(bad), 5)], "; "))
	}
	return stamps, retries, nil
}

// check returns what is wrong with l, a user's reminders after their one
// reminder, at with msg, fell due, or "".
func check(l list, at int64, msg string) string {
	switch {
	case len(l.Pending) > 0:
		return fmt.Sprintf("%d reminders still pending", len(l.Pending))
	case len(l.Delivered) != 1:
		return fmt.Sprintf("%d reminders delivered, want 1", len(l.Delivered))
	case l.Delivered[0].At != at || l.Delivered[0].Message != msg:
		return fmt.Sprintf("delivered %+v, want at %d, message %q", l.Delivered[0], at, msg)
	case l.Delivered[0].DeliveredAt < at:
		return fmt.Sprintf("delivered at %d, before it was due (%d)", l.Delivered[0].DeliveredAt, at)
	}
	return ""
}

// getRetrying reads url with get, trying again for up to 30 seconds while
// the server refuses (a connection error or a 5xx answer: workerd out of file
// descriptors resets connections and answers 500), and returns how often it
// tried again. An answer that is not a user's reminders fails at once.
func getRetrying(ctx context.Context, client *http.Client, url string) (list, int, error) {
	deadline := time.Now().Add(30 * time.Second)
	wait := 100 * time.Millisecond
	for tries := 0; ; tries++ {
		l, err := get(ctx, client, url)
		var refused *errRefused
		if err == nil || !errors.As(err, &refused) || time.Now().After(deadline) {
			return l, tries, err
		}
		if err := sleepUntil(ctx, time.Now().Add(wait)); err != nil {
			return l, tries, err
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// errRefused is a read the server did not answer, or answered with a 5xx.
type errRefused struct{ err error }

func (e *errRefused) Error() string { return e.err.Error() }
func (e *errRefused) Unwrap() error { return e.err }

// get reads a user's reminders.
func get(ctx context.Context, client *http.Client, url string) (list, error) {
	var l list
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return l, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return l, &errRefused{err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return l, &errRefused{err}
	}
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("GET answered %s: %s", resp.Status, strings.TrimSpace(string(b)))
		if resp.StatusCode >= 500 {
			return l, &errRefused{err}
		}
		return l, err
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return l, fmt.Errorf("GET answered %q: %w", b, err)
	}
	return l, nil
}

// newClient returns an HTTP client keeping up to conns connections to one
// server alive, with no proxy.
func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout:   2 * time.Minute,
		Transport: &http.Transport{MaxConnsPerHost: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute},
	}
}

// startServer starts t's server on dir, allowing it two minutes to listen.
func startServer(ctx context.Context, t *target, dir string) (*proc.Process, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return t.start(ctx, dir)
}

// stop sends SIGTERM and fails unless the server exits 0 within a minute.
func stop(p *proc.Process) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return p.Stop(ctx)
}

// sleepUntil waits until t or until ctx ends.
func sleepUntil(ctx context.Context, t time.Time) error {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-timer.C:
		return nil
	}
}

// settle waits, for up to two minutes, until the server p has a few hundred
// descriptors to spare (a tenth of its limit, if that is fewer): workerd
// keeps every object it activated open for a while, and exits when a
// connection comes while it is at its limit (accept(): Too many open
// files), so reading back at once could fail for want of a descriptor, not
// for what the objects hold.
func settle(ctx context.Context, p *proc.Process, limit int, logf func(string, ...any)) error {
	if limit == 0 {
		return nil
	}
	start, first := time.Now(), -1
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.PID()))
		if err != nil {
			return nil // not Linux, or not ours to read: go ahead
		}
		if first < 0 {
			first = len(fds)
		}
		if ceiling := limit - min(512, limit/10); len(fds) < ceiling {
			if first >= ceiling {
				logf("waited %.1f s for the server's open files to fall from %d to %d (limit %d) before reading back", time.Since(start).Seconds(), first, len(fds), limit)
			}
			return nil
		}
		if time.Since(start) > 2*time.Minute {
			return fmt.Errorf("the server still holds %d files, 2 minutes after its alarms ran (limit %d)", len(fds), limit)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-p.Exited():
			return errors.New("the server exited after its alarms ran")
		case <-tick.C:
		}
	}
}

// openFileLimit returns the soft open-file limit of process pid, or 0.
func openFileLimit(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				n, _ := strconv.Atoi(f[0])
				return n
			}
		}
	}
	return 0
}

// complaints counts the lines of a server's log that are warnings or
// errors, and returns the last few lines of the log.
func complaints(log string) (int, string) {
	lines := strings.Split(strings.TrimSpace(log), "\n")
	n := 0
	for _, l := range lines {
		low := strings.ToLower(l)
		if strings.Contains(low, "warn") || strings.Contains(low, "error") {
			n++
		}
	}
	return n, strings.Join(lines[max(0, len(lines)-4):], "\n")
}
