package serve

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/commit"
)

// ErrUsage is wrapped by every error about the command line or a DEN_*
// variable; [Main] exits with status 2 for them.
var ErrUsage = errors.New("run with --help for usage")

// Main runs app as a program: [Run] with the process's arguments,
// environment and standard streams, until SIGINT or SIGTERM. It exits 0 after
// a clean drain (or --help), 2 for a usage error and 1 for any other error.
// A second signal during the drain kills the process at once.
func Main(app App) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop) // restore the default: a second signal kills
	err := Run(ctx, app, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", app.name(), err)
		if errors.Is(err, ErrUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
	os.Exit(0)
}

// Run serves app until ctx ends, then drains it within ShutdownTimeout and
// returns nil if the drain was clean. args are the command-line arguments
// (without the program name) and getenv reads DEN_* variables; a flag beats
// its variable. Once listening, Run prints one line to stdout:
//
//	den: listening on http://127.0.0.1:8787
//
// which scripts and tests read to learn the port when --addr ends in :0.
// Logs go to stderr. With --help, Run prints the usage to stdout and returns
// nil. An error about args or a variable wraps [ErrUsage] and names the flag
// or variable.
func Run(ctx context.Context, app App, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parse(app, args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		usage(stdout, app)
		return nil
	}
	if err != nil {
		return err
	}
	s, err := Start(ctx, app, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "den: listening on http://%s\n", s.Addr())
	<-ctx.Done()
	cfg.Logger.Info("shutting down", "cause", context.Cause(ctx).Error())
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	return s.Close(dctx)
}

// setting is one option, settable by a flag or a variable.
type setting struct {
	flag, env, arg, def, help string
}

var settings = []setting{
	{"config", "DEN_CONFIG", "FILE", "./wrangler.jsonc", "configuration file (wrangler.jsonc form); default ./wrangler.jsonc if present, else the app's own"},
	{"addr", "DEN_ADDR", "ADDR", DefaultAddr, "TCP address to listen on; port 0 picks a free port"},
	{"data", "DEN_DATA", "DIR", DefaultData, "data directory: namespace keys and object databases (back it up)"},
	{"admin-addr", "DEN_ADMIN_ADDR", "ADDR", DefaultAdminAddr, "operator API (SQL console) address; off to disable"},
	{"admin-token", "DEN_ADMIN_TOKEN", "TOKEN", "", "operator API bearer token; default: generated into DATA/admin.token"},
	{"max-db-size", "DEN_MAX_DB_SIZE", "SIZE", "10GB", "largest database of one object, such as 500MB or 10GB"},
	{"idle-timeout", "DEN_IDLE_TIMEOUT", "DURATION", DefaultIdleTimeout.String(), "evict an object from memory after this long without events"},
	{"storage-idle-timeout", "DEN_STORAGE_IDLE_TIMEOUT", "DURATION", DefaultStorageIdleTimeout.String(), "keep an evicted object's database open until it has had no events for this long, so its next event skips opening it; 0 closes it at --idle-timeout"},
	{"log-level", "DEN_LOG_LEVEL", "LEVEL", "info", "debug, info, warn or error"},
	{"log-format", "DEN_LOG_FORMAT", "FORMAT", "text", "text or json"},
	{"max-live", "DEN_MAX_LIVE", "N", strconv.Itoa(DefaultMaxLive), "most objects kept in memory at once"},
	{"pitr-retention", "DEN_PITR_RETENTION", "DURATION", "30d", "how far back point-in-time recovery reaches (bookmarks, restore, fork); 0 keeps no history"},
	{"sync-mode", "DEN_SYNC_MODE", "MODE", string(commit.Auto), "how writes become durable: auto, fdatasync (each WAL file) or syncfs (the filesystem)"},
	{"io-uring", "DEN_IO_URING", "on|off", "on", "send WebSocket broadcasts through io_uring where the kernel allows it (off: one send(2) per socket)"},
}

func usage(w io.Writer, app App) {
	fmt.Fprintf(w, "Usage: %s [flags]\n\n", app.name())
	fmt.Fprintf(w, "Serves the %s Den app over HTTP until SIGINT or SIGTERM, then drains it\n", app.name())
	fmt.Fprintf(w, "(at most %s) and exits 0.\n\n", ShutdownTimeout)
	fmt.Fprintf(w, "Each flag may also be set by its environment variable or, as den.NAME with '_'\n")
	fmt.Fprintf(w, "for '-', in the configuration file's den section. The flag wins, then the\n")
	fmt.Fprintf(w, "variable, then the file, then the default.\n\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  FLAG\tVARIABLE\tDEFAULT\t\n")
	for _, s := range settings {
		fmt.Fprintf(tw, "  --%s %s\t%s\t%s\t%s\n", s.flag, s.arg, s.env, s.def, s.help)
	}
	fmt.Fprintf(tw, "  --help\t\t\tprint this help\n")
	tw.Flush()
	fmt.Fprintf(w, "\nOnce listening it prints \"den: listening on http://ADDR\" to stdout; logs go to stderr.\n")
}

// parse reads the configuration from args and the environment, and builds
// the logger on stderr. It returns flag.ErrHelp for --help.
func parse(app App, args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	fs := flag.NewFlagSet(app.name(), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	values := map[string]*string{}
	for _, s := range settings {
		values[s.flag] = fs.String(s.flag, "", s.help)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, err
		}
		return Config{}, den.Errorf(den.EINVALID, "%v; %w", err, ErrUsage)
	}
	if fs.NArg() > 0 {
		return Config{}, den.Errorf(den.EINVALID, "unexpected argument %q; %w", fs.Arg(0), ErrUsage)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	path := *values["config"]
	if !set["config"] {
		path = getenv("DEN_CONFIG")
	}
	project, err := loadProject(app, path)
	if err != nil {
		return Config{}, fmt.Errorf("%w\n%w", err, ErrUsage)
	}

	// lookup returns a setting's value and where it came from: the flag,
	// else the variable, else the configuration file, else the default.
	lookup := func(name string) (value, source string) {
		for _, s := range settings {
			if s.flag != name {
				continue
			}
			if set[name] {
				return *values[name], "--" + name
			}
			if v := getenv(s.env); v != "" {
				return v, s.env
			}
			if v, source, ok := fileSetting(project, name); ok {
				return v, source
			}
			return s.def, "default " + s.flag
		}
		panic("serve: unknown setting " + name)
	}
	bad := func(value, source, want string) error {
		return den.Errorf(den.EINVALID, "invalid value %q for %s: want %s; %w", value, source, want, ErrUsage)
	}

	var cfg Config
	var source string
	if cfg.Addr, source = lookup("addr"); cfg.Addr == "" {
		return Config{}, bad(cfg.Addr, source, "an address such as 127.0.0.1:8787")
	}
	if cfg.Data, source = lookup("data"); cfg.Data == "" {
		return Config{}, bad(cfg.Data, source, "a directory")
	}
	v, source := lookup("idle-timeout")
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return Config{}, bad(v, source, "a positive duration such as 10s or 1m30s")
	}
	cfg.IdleTimeout = d
	v, source = lookup("storage-idle-timeout")
	if d, err = time.ParseDuration(v); err != nil || d < 0 {
		return Config{}, bad(v, source, "a duration such as 1m, or 0")
	}
	cfg.StorageIdleTimeout = d
	if d == 0 {
		cfg.StorageIdleTimeout = CloseWithInstance
	}
	v, source = lookup("max-live")
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return Config{}, bad(v, source, "a positive whole number")
	}
	cfg.MaxLive = n
	v, source = lookup("sync-mode")
	if cfg.SyncMode, err = commit.ParseMode(v); err != nil {
		return Config{}, bad(v, source, "auto, fdatasync or syncfs")
	}
	switch v, source = lookup("io-uring"); v {
	case "on":
	case "off":
		cfg.DisableIOURing = true
	default:
		return Config{}, bad(v, source, "on or off")
	}
	if err := parseAdmin(&cfg, lookup, bad); err != nil {
		return Config{}, err
	}
	if err := parseProjectSettings(&cfg, project, bad); err != nil {
		return Config{}, err
	}
	cfg.Project = project
	if err := parseRetention(&cfg, lookup, bad); err != nil {
		return Config{}, err
	}
	v, source = lookup("log-level")
	switch strings.ToLower(v) {
	case "debug":
		cfg.LogLevel = slog.LevelDebug
	case "info":
		cfg.LogLevel = slog.LevelInfo
	case "warn", "warning":
		cfg.LogLevel = slog.LevelWarn
	case "error":
		cfg.LogLevel = slog.LevelError
	default:
		return Config{}, bad(v, source, "debug, info, warn or error")
	}
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	v, source = lookup("log-format")
	switch strings.ToLower(v) {
	case "text":
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, opts))
	case "json":
		cfg.Logger = slog.New(slog.NewJSONHandler(stderr, opts))
	default:
		return Config{}, bad(v, source, "text or json")
	}
	return cfg, nil
}
