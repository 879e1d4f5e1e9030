package commit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/den-run/den"
	"golang.org/x/sys/unix"
)

// Mode is how a barrier makes a batch durable.
type Mode string

const (
	// FDataSync syncs each database's WAL file, many in parallel. An error
	// is charged to its own database only.
	FDataSync Mode = "fdatasync"
	// Syncfs syncs the whole filesystem that holds the data directory with
	// one syncfs(2). It also flushes unrelated dirty data on that
	// filesystem, and an error is charged to every database in the batch.
	Syncfs Mode = "syncfs"
	// Auto picks per barrier: FDataSync for a few databases, Syncfs for
	// many, where one filesystem sync is cheaper than many file syncs
	// (measured crossover on ext4: 2 to 3 databases; see BenchmarkBarrier).
	Auto Mode = "auto"
)

// autoThreshold is the number of databases above which Auto uses syncfs.
const autoThreshold = 3

// ParseMode parses a mode name.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case FDataSync, Syncfs, Auto:
		return Mode(s), nil
	}
	return "", den.Errorf(den.EINVALID, "unknown sync mode %q: use %q, %q or %q", s, Auto, FDataSync, Syncfs)
}

// Config sets up a Committer. Zero fields take the defaults shown.
type Config struct {
	Mode     Mode         // Auto (FDataSync when Dir is empty)
	Dir      string       // Syncfs, Auto: a directory on the filesystem that holds the databases
	Parallel int          // FDataSync: WAL files synced at once (32)
	Depth    int          // barriers in flight at once (1; see loop)
	Logger   *slog.Logger // slog.Default()
	// SyncFS replaces the syncfs(2) call, for fault injection in tests.
	SyncFS func() error
	// OnBarrier, if set, is told of each barrier, for metrics: how long
	// its sync took, the databases it covered, the flushes it released and
	// how many of them failed. It runs on the barrier's goroutine before
	// the callbacks and must not block.
	OnBarrier func(busy time.Duration, databases, flushes, failures int)
}

// Stats counts a committer's work since Open.
type Stats struct {
	Barriers  int64         // barriers run
	Flushes   int64         // callbacks released by them
	Databases int64         // database syncs (FDataSync) or databases covered (Syncfs)
	Failures  int64         // callbacks that got an error
	Busy      time.Duration // time spent inside barriers
	// Remembered is the number of database handles whose failure the
	// committer remembers (until Forget).
	Remembered int
}

// Committer is a node-wide durability barrier; it implements den.Committer.
// Flush may be called from any goroutine.
type Committer struct {
	cfg Config
	log *slog.Logger

	wake    chan struct{} // cap 1: the loop has work
	lastDur atomic.Int64  // duration of the last barrier's sync, in ns
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	dirFD   int

	mu      sync.Mutex // protects following fields
	pending []flush
	running int      // barriers in flight
	later   []func() // to call when no barrier is in flight (Later)
	failed  map[den.Database]error
	stats   Stats
	opened  bool
	closed  bool
}

type flush struct {
	db    den.Database
	done  func(error)
	token uint64 // db's SyncToken at the flush, if it has one
}

// syncMarker is a database that wants to know which of its writes a
// barrier made durable (sqlite.DB: a close then need not sync its WAL
// again). A barrier that succeeds calls Synced with the token SyncToken
// returned when the flush was asked for.
type syncMarker interface {
	SyncToken() uint64
	Synced(token uint64)
}

// allMarker is a syncMarker that also wants to know when a barrier synced
// the whole filesystem (sqlite.DB: its files' names are then durable too,
// and its own first sync need not fsync their directory).
type allMarker interface {
	SyncedAll(token uint64)
}

var _ den.Committer = (*Committer)(nil)

// New returns a Committer. It starts nothing.
func New(cfg Config) *Committer {
	if cfg.Mode == "" {
		cfg.Mode = Auto
	}
	if cfg.Mode == Auto && cfg.Dir == "" && cfg.SyncFS == nil {
		cfg.Mode = FDataSync
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 32
	}
	if cfg.Depth <= 0 {
		cfg.Depth = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Committer{cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1), failed: map[den.Database]error{}, dirFD: -1}
}

// Open starts the barrier loop.
func (c *Committer) Open() error {
	if _, err := ParseMode(string(c.cfg.Mode)); err != nil {
		return err
	}
	if c.cfg.Mode != FDataSync && c.cfg.SyncFS == nil {
		if c.cfg.Dir == "" {
			return errors.New("commit: syncfs mode needs Config.Dir")
		}
		if err := os.MkdirAll(c.cfg.Dir, 0o700); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		fd, err := unix.Open(c.cfg.Dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("commit: open %s: %w", c.cfg.Dir, err)
		}
		c.dirFD = fd
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.opened {
		return errors.New("commit: already open")
	}
	c.opened = true
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wg.Go(c.loop)
	return nil
}

// Close runs a last barrier for everything pending and stops the loop.
// Flushes after Close sync on the caller's goroutine. Close is idempotent.
func (c *Committer) Close() error {
	c.mu.Lock()
	if c.closed || !c.opened {
		c.closed = true
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	if c.dirFD >= 0 {
		unix.Close(c.dirFD)
		c.dirFD = -1
	}
	return nil
}

// Flush arranges for db's committed writes to become durable and calls done
// once they are, or with the error that prevented it. Callbacks for one
// database run in the order of their flushes; done must not block.
func (c *Committer) Flush(db den.Database, done func(error)) {
	c.mu.Lock()
	if err := c.failed[db]; err != nil {
		c.mu.Unlock()
		done(err)
		return
	}
	if !c.opened || c.closed {
		c.mu.Unlock()
		done(db.Sync())
		return
	}
	f := flush{db: db, done: done}
	if m, ok := db.(syncMarker); ok {
		f.token = m.SyncToken()
	}
	c.pending = append(c.pending, f)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Later arranges for fn to be called once the barriers now in flight have
// ended, and reports true; with none in flight it reports false and will
// not call fn. An object whose earlier outputs already wait for a barrier
// uses it to hold its next writes uncommitted until then (write coalescing
// in the actor): committed now, they could only join the next barrier
// anyway. fn runs on a barrier's goroutine and must not block.
func (c *Committer) Later(fn func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running == 0 {
		return false
	}
	c.later = append(c.later, fn)
	return true
}

// Stats returns the counters.
func (c *Committer) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.stats
	st.Remembered = len(c.failed)
	return st
}

// Forget drops the memory of db's failure; call it when db is closed.
func (c *Committer) Forget(db den.Database) {
	c.mu.Lock()
	delete(c.failed, db)
	c.mu.Unlock()
}

// loop gathers batches and runs their barriers until Close, then one last
// one. Up to Depth barriers are in flight at once; callbacks are released
// batch by batch, in order. With Depth above 1 a write that commits while a
// barrier runs need not wait for it to end before its own sync starts, but
// the batches are smaller and the node pays more device flushes, which cost
// the machine CPU outside the process: the default, 1, was faster on every
// workload measured (docs/STORAGE.md, "One barrier at a time").
//
// Gathering: when a barrier starts, the callers it will release need a
// moment to send their next writes. If fewer flushes are pending than the
// last batch held, the loop waits for more, up to half a barrier's duration
// (at most maxGather), so one sync keeps covering as many turns as the load
// offers. A lone writer never waits: its last batch held one flush.
func (c *Committer) loop() {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	slots := make(chan struct{}, c.cfg.Depth)
	prev := make(chan struct{})
	close(prev)
	last := 0
	for {
		select {
		case <-c.wake:
		case <-c.ctx.Done():
			c.finish(slots, prev)
			return
		}
		select {
		case slots <- struct{}{}:
		case <-c.ctx.Done():
			c.finish(slots, prev)
			return
		}
		if window := min(time.Duration(c.lastDur.Load())/2, maxGather); last > 1 && window > 0 {
			timer.Reset(window)
		gather:
			for c.queued() < last {
				select {
				case <-c.wake:
				case <-timer.C:
					break gather
				case <-c.ctx.Done():
					break gather
				}
			}
			timer.Stop()
		}
		batch := c.take()
		if len(batch) == 0 {
			<-slots
			continue
		}

		last = len(batch)
		released := make(chan struct{})
		after := prev
		prev = released
		c.wg.Go(func() {
			c.barrier(batch, after, released)
			<-slots
		})
	}
}

// finish runs the last barrier for what is pending at Close.
func (c *Committer) finish(slots chan struct{}, prev chan struct{}) {
	if batch := c.take(); len(batch) > 0 {
		c.barrier(batch, prev, make(chan struct{}))
	}
}

// maxGather bounds the wait for a fuller batch.
const maxGather = time.Millisecond

func (c *Committer) take() []flush {
	c.mu.Lock()
	defer c.mu.Unlock()
	batch := c.pending
	c.pending = nil
	if len(batch) > 0 {
		c.running++ // the barrier that takes it counts it down
	}
	return batch
}

func (c *Committer) queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

// barrier makes every database in batch durable, waits until the batch
// before it has been released, and releases its callbacks.
func (c *Committer) barrier(batch []flush, after, released chan struct{}) {
	defer close(released)
	start := time.Now()
	dbs := make(map[den.Database]error, len(batch))
	order := make([]den.Database, 0, len(batch))
	for _, f := range batch {
		if _, ok := dbs[f.db]; !ok {
			dbs[f.db] = nil
			order = append(order, f.db)
		}
	}
	mode := c.cfg.Mode
	if mode == Auto {
		mode = FDataSync
		if len(order) > autoThreshold {
			mode = Syncfs
		}
	}
	switch mode {
	case Syncfs:
		if err := c.syncfs(); err != nil {
			err = fmt.Errorf("syncfs: %w", err)
			for db := range dbs {
				dbs[db] = err
			}
		}
	default:
		c.fdatasync(order, dbs)
	}
	busy := time.Since(start)
	c.lastDur.Store(int64(busy))
	<-after
	// A database whose earlier batch failed fails here too, even if this
	// sync succeeded: after a failed fsync the lost pages stay lost.
	failures := int64(0)
	c.mu.Lock()
	for db, err := range dbs {
		if err != nil {
			c.failed[db] = err
		} else if err := c.failed[db]; err != nil {
			dbs[db] = err
		}
	}
	for _, f := range batch {
		if dbs[f.db] != nil {
			failures++
		}
	}
	c.stats.Barriers++
	c.stats.Flushes += int64(len(batch))
	c.stats.Databases += int64(len(order))
	c.stats.Failures += failures
	c.stats.Busy += busy
	c.running--
	var later []func()
	if c.running == 0 {
		later, c.later = c.later, nil
	}
	c.mu.Unlock()
	if c.cfg.OnBarrier != nil {
		c.cfg.OnBarrier(busy, len(order), len(batch), int(failures))
	}
	if failures > 0 {
		c.log.Error("durability barrier failed", "databases", len(order), "flushes", len(batch), "failed", failures, "err", firstError(dbs))
	}
	for _, f := range batch {
		if dbs[f.db] == nil {
			if m, ok := f.db.(allMarker); ok && mode == Syncfs {
				m.SyncedAll(f.token)
			} else if m, ok := f.db.(syncMarker); ok {
				m.Synced(f.token)
			}
		}
		f.done(dbs[f.db])
	}
	for _, fn := range later {
		fn()
	}
}

// fdatasync syncs each database, up to Parallel at once, recording errors.
func (c *Committer) fdatasync(order []den.Database, errs map[den.Database]error) {
	if len(order) == 1 {
		errs[order[0]] = order[0].Sync()
		return
	}
	results := make([]error, len(order))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(c.cfg.Parallel, len(order)) {
		wg.Go(func() {
			for i := range next {
				results[i] = order[i].Sync()
			}
		})
	}
	for i := range order {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, db := range order {
		errs[db] = results[i]
	}
}

func (c *Committer) syncfs() error {
	if c.cfg.SyncFS != nil {
		return c.cfg.SyncFS()
	}
	return unix.Syncfs(c.dirFD)
}

func firstError(errs map[den.Database]error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
