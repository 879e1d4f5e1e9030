package serve

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/actor"
	"github.com/den-run/den/alarm"
	"github.com/den-run/den/commit"
	"github.com/den-run/den/config"
	"github.com/den-run/den/gateway"
	"github.com/den-run/den/hub"
	"github.com/den-run/den/internal/reqlog"
	"github.com/den-run/den/keyring"
	"github.com/den-run/den/pitr"
	"github.com/den-run/den/sqlite"
)

// Defaults for the zero values of [Config]'s fields and for the command line.
const (
	DefaultAddr        = gateway.DefaultAddr
	DefaultData        = "./.den"
	DefaultIdleTimeout = 10 * time.Second
	// DefaultStorageIdleTimeout is how long an evicted object's database
	// stays open (Config.StorageIdleTimeout).
	DefaultStorageIdleTimeout = time.Minute
	// CloseWithInstance as Config.StorageIdleTimeout closes an object's
	// database when its instance is evicted.
	CloseWithInstance time.Duration = -1
	DefaultMaxLive                  = 10_000
	// ShutdownTimeout bounds the drain after SIGINT or SIGTERM.
	ShutdownTimeout = 30 * time.Second
)

// Config says how to run an app. Zero fields take the defaults.
type Config struct {
	// Addr is the TCP address to listen on, DefaultAddr (loopback) when
	// empty; "127.0.0.1:0" picks a free port.
	Addr string
	// Data is the data directory, DefaultData when empty. It is created
	// with mode 0700.
	Data string
	// IdleTimeout is how long an object stays in memory without events,
	// DefaultIdleTimeout when zero.
	IdleTimeout time.Duration
	// StorageIdleTimeout keeps the database of an object evicted at
	// IdleTimeout open until the object has had no event for this long
	// (DefaultStorageIdleTimeout when zero; CloseWithInstance for none):
	// the next event constructs the instance again, as after any eviction,
	// but need not open and read the database again. Such objects count
	// against MaxLive.
	StorageIdleTimeout time.Duration
	// MaxLive caps the objects in memory, DefaultMaxLive when zero.
	MaxLive int
	// MaxDatabaseBytes caps each object's database,
	// den.DefaultMaxDatabaseBytes (10 GB) when zero; ClassMaxDatabaseBytes
	// overrides it for the classes it names (per namespace).
	MaxDatabaseBytes      int64
	ClassMaxDatabaseBytes map[string]int64
	// Retention is how far back point-in-time recovery reaches
	// (den.DefaultRetention, 30 days, when zero; NoHistory keeps none);
	// ClassRetention overrides it for the classes it names (pitr.go).
	Retention      time.Duration
	ClassRetention map[string]time.Duration
	// AdminAddr is where the operator API (package admin) listens: "" or
	// "off" for nowhere, "127.0.0.1:0" for a free port. AdminToken is its
	// bearer token; when empty, the token in <Data>/admin.token, created
	// on first start.
	AdminAddr  string
	AdminToken string
	// adminOptional: AdminAddr is the command line's default, so failing
	// to listen on it only warns.
	adminOptional bool
	// Committer makes turns' writes durable; nil means a shared
	// durability barrier (commit.Committer) with SyncMode.
	Committer den.Committer
	// SyncMode is how the shared barrier syncs: commit.Auto when empty.
	SyncMode commit.Mode
	// DisableIOURing makes the WebSocket hub send with send(2) even where
	// io_uring is available (hub.Config.DisableIOURing).
	DisableIOURing bool
	// LogLevel is the level of the default logger.
	LogLevel slog.Level
	// Logger receives every log line; nil means text lines on os.Stderr at
	// LogLevel.
	Logger *slog.Logger
	// Project is the app's configuration file, read by Run from --config,
	// ./wrangler.jsonc or App.ConfigFile; nil means App.ConfigFile, if
	// any. Open takes its bindings, vars and migrations (see package
	// config); its den settings are for the command line, which Run has
	// already put in the other fields.
	Project *config.Project
}

// Server is an app being served: its host of live objects behind an HTTP
// gateway. Create it with [New] or [Start].
type Server struct {
	app App
	cfg Config
	log *slog.Logger

	mu      sync.Mutex // protects following fields
	opened  bool
	unlock  func() error // releases the data directory
	host    *actor.Host
	commit  *commit.Committer // nil when Config.Committer was given
	alarms  *alarm.Index      // the node's schedule of alarms (alarm.go)
	runner  *alarm.Runner     // delivers due alarms
	gw      *gateway.Server
	hub     *hub.Hub        // the objects' WebSockets
	admin   *gateway.Server // the operator API, or nil (admin.go)
	history *pitr.Archive   // point-in-time history, or nil (pitr.go)
	see     *see            // metrics, usage and the catalog (metrics.go)
	env     *den.Env
	closing chan struct{} // made by the first Close, closed when it returns

	closeErr error // the first Close's result, written before closing is closed
}

// New returns a Server for app with cfg. It touches nothing: Open does.
func New(app App, cfg Config) *Server {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.Data == "" {
		cfg.Data = DefaultData
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxLive == 0 {
		cfg.MaxLive = DefaultMaxLive
	}
	if cfg.StorageIdleTimeout == 0 {
		cfg.StorageIdleTimeout = DefaultStorageIdleTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	}
	// Lines logged with a request's context (by the runtime or the app's
	// code) carry its request ID, namespace and object ID.
	log = slog.New(reqlog.Handler(log.Handler()))
	return &Server{app: app, cfg: cfg, log: log}
}

// Start returns a Server for app that is already serving; see [Server.Open].
func Start(ctx context.Context, app App, cfg Config) (*Server, error) {
	s := New(app, cfg)
	if err := s.Open(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Open checks the app, takes the data directory (no other process may serve
// it at the same time), loads or creates the namespace keys, starts the host
// of live objects and starts serving HTTP. ctx bounds only the start. On
// error Open undoes what it did. An app error (an unknown class in a binding,
// say) is EINVALID.
func (s *Server) Open(ctx context.Context) (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opened || s.closing != nil {
		return den.Errorf(den.EINVALID, "serve: server already opened or closed")
	}
	s.opened = true

	project, err := s.project()
	if err != nil {
		return err
	}
	if s.app, err = withProject(s.app, project); err != nil {
		return err
	}
	bindings, err := s.app.validate()
	if err != nil {
		return err
	}
	data := s.cfg.Data
	if err := os.MkdirAll(data, 0o700); err != nil {
		return den.Errorf(den.EINTERNAL, "create data directory: %w", err)
	}
	unlock, err := lockDir(data)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			unlock()
		}
	}()

	if err := s.migrate(ctx, project); err != nil {
		return err
	}
	objects := filepath.Join(data, "objects")
	if err := os.MkdirAll(objects, 0o700); err != nil {
		return den.Errorf(den.EINTERNAL, "create data directory: %w", err)
	}
	keys := map[string]den.Key{}
	for _, b := range bindings {
		class := s.app.Bindings[b]
		if _, ok := keys[class]; ok {
			continue // bindings to one class share its namespace key
		}
		key, err := keyring.Load(filepath.Join(data, "keys"), class, keyring.Options{
			ObjectsExist: func() (bool, error) { return hasEntries(filepath.Join(objects, class)) },
		})
		if err != nil {
			return err
		}
		keys[class] = key
	}

	see, err := openSee(ctx, data, objects, s) // before anything it observes
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			see.close()
		}
	}()
	committer := s.cfg.Committer
	var barrier *commit.Committer
	if committer == nil {
		barrier = commit.New(commit.Config{Mode: s.cfg.SyncMode, Dir: objects, Logger: s.log, OnBarrier: see.metrics.Barrier})
		if err := barrier.Open(); err != nil {
			return den.Errorf(den.EINVALID, "start the durability barrier: %w", err)
		}
		committer = barrier
		defer func() {
			if err != nil {
				barrier.Close()
			}
		}()
	}
	alarms, err := openAlarmIndex(ctx, data, objects, s.log) // before any object runs
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			alarms.Close()
		}
	}()
	if before, after := raiseOpenFileLimit(); after > before {
		s.log.Debug("raised the open-file limit", "from", before, "to", after)
	}
	history := s.cfg.archive(data)
	perObject := filesPerObject(history != nil)
	maxLive := capLive(s.cfg.MaxLive, openFileLimit(), perObject)
	if maxLive < s.cfg.MaxLive {
		s.log.Warn("max-live lowered to fit the open-file limit: each live object holds its database and its WAL, and connections and syncs need the rest; raise the limit (ulimit -n) to keep more objects in memory",
			"max_live", s.cfg.MaxLive, "lowered_to", maxLive, "files_per_object", perObject, "open_file_limit", openFileLimit())
	}
	if err := writeRecord(data, s.app.Bindings, s.cfg); err != nil {
		return err
	}
	sockets := hub.New(hub.Config{Logger: s.log, Observer: see.observer(), DisableIOURing: s.cfg.DisableIOURing})
	host := actor.New(actor.Config{
		Store:       sqlite.NewStoreWithOptions(objects, withHistory(s.cfg.storeOptions(), history)),
		TempDir:     data,
		Committer:   committer,
		IdleTimeout: s.cfg.IdleTimeout,
		MaxLive:     maxLive,
		// CloseWithInstance is negative: the host then closes at IdleTimeout.
		StorageIdleTimeout: max(s.cfg.StorageIdleTimeout, 0),
		Logger:             s.log,
		Alarms:             alarms,
		Observer:           see.observer(),
		OnWiped:            wipeHistory(history),
		Hub:                sockets,
	}, s.app.Classes...)
	namespaces := make([]*den.Namespace, len(bindings))
	for i, b := range bindings {
		class := s.app.Bindings[b]
		namespaces[i] = den.NewNamespace(b, class, keys[class], host)
	}
	env := den.NewEnv(namespaces, s.app.Vars)
	if err := host.Open(env); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			host.Close(context.WithoutCancel(ctx))
		}
	}()
	if err := sockets.Open(host); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			sockets.Close(context.WithoutCancel(ctx))
		}
	}()
	runner, err := startAlarmRunner(alarms, host, env, s.log)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			runner.Close(context.WithoutCancel(ctx))
		}
	}()
	worker := s.app.Worker(env)
	if worker == nil {
		return den.Errorf(den.EINVALID, "app %s: Worker returned a nil handler", s.app.name())
	}
	gw := &gateway.Server{Addr: s.cfg.Addr, Handler: worker, Logger: s.log}
	if err := gw.Open(ctx); err != nil {
		return err
	}
	see.attach(host, runner, alarms, env, sockets)
	s.see = see
	if err := s.openAdmin(ctx, host, env); err != nil {
		s.see = nil
		gw.Close(context.WithoutCancel(ctx))
		return err
	}
	s.unlock, s.host, s.commit, s.gw, s.env = unlock, host, barrier, gw, env
	s.alarms, s.runner, s.history, s.hub = alarms, runner, history, sockets
	s.log.Info("listening", "addr", gw.BoundAddr(), "app", s.app.name(), "data", data)
	return nil
}

// Addr returns the address the server listens on, such as 127.0.0.1:43127,
// or "" if it is not open.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gw == nil {
		return ""
	}
	return s.gw.BoundAddr()
}

// Env returns the environment the worker and objects receive, or nil if the
// server is not open. Tests use it to reach objects without HTTP.
func (s *Server) Env() *den.Env {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.env
}

// Host returns the host of live objects, or nil if the server is not open.
func (s *Server) Host() *actor.Host {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.host
}

// Close drains the server within ctx: the gateway stops accepting
// connections and finishes the requests in flight, every WebSocket is closed
// with 1001 (going away), then the host finishes
// its turns and closes every database, then the data directory is released.
// It returns the first error. Close is idempotent and safe to call
// concurrently: every call returns the first call's result.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closing != nil {
		closing := s.closing
		s.mu.Unlock()
		select {
		case <-closing:
			return s.closeErr
		case <-ctx.Done():
			return den.Errorf(den.ETIMEOUT, "serve: wait for close: %w", context.Cause(ctx))
		}
	}
	s.closing = make(chan struct{})
	gw, host, barrier, unlock := s.gw, s.host, s.commit, s.unlock
	runner, alarms, see, sockets := s.runner, s.alarms, s.see, s.hub
	s.mu.Unlock()

	var errs []error
	if gw != nil {
		errs = append(errs, gw.Close(ctx))
	}
	errs = append(errs, s.closeAdmin(ctx))
	if sockets != nil {
		errs = append(errs, sockets.Close(ctx)) // every WebSocket gets 1001 (going away)
	}
	if runner != nil {
		errs = append(errs, runner.Close(ctx)) // no new alarm turns; running ones finish
	}
	if host != nil {
		if err := host.Close(ctx); err != nil {
			errs = append(errs, den.Errorf(den.ErrorCode(err), "drain objects: %w", err))
		}
	}
	if alarms != nil {
		errs = append(errs, alarms.Close()) // after the host: its last turns may schedule alarms
	}
	if see != nil {
		errs = append(errs, see.close()) // after the host: its last turns are metered
	}
	if barrier != nil {
		errs = append(errs, barrier.Close()) // after the host: its last turns flush through it
	}
	if unlock != nil {
		errs = append(errs, unlock())
	}
	var err error
	for _, e := range errs {
		if e != nil {
			err = e
			break
		}
	}
	if err == nil {
		s.log.Info("stopped", "app", s.app.name())
	}
	s.closeErr = err
	close(s.closing)
	return err
}

// hasEntries reports whether dir exists and holds anything.
func hasEntries(dir string) (bool, error) {
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if len(names) > 0 {
		return true, nil
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	return false, nil
}

// filesReserved are the open files kept for connections, syncs and the
// node's own databases when max-live is fitted to the open-file limit.
const filesReserved = 1024

// filesPerObject is how many files a live object keeps open: its database
// and its WAL. Point-in-time history adds none between uses: it opens its
// log and reads the WAL only while it archives or answers a lookup.
func filesPerObject(history bool) int { return 2 }

// capLive returns maxLive lowered, if need be, so that perObject files per
// live object plus filesReserved fit in limit (0: unknown, no cap).
func capLive(maxLive, limit, perObject int) int {
	if limit <= 0 {
		return maxLive
	}
	return max(1, min(maxLive, (limit-filesReserved)/perObject))
}
