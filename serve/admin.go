package serve

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/den-run/den"
	"github.com/den-run/den/actor"
	"github.com/den-run/den/admin"
	"github.com/den-run/den/gateway"
	"github.com/den-run/den/sqlite"
)

// DefaultAdminAddr is where the command line serves the operator API unless
// told otherwise (--admin-addr). A Config's zero AdminAddr serves none.
const DefaultAdminAddr = "127.0.0.1:8788"

// storeOptions returns the options of the object store cfg asks for.
func (cfg Config) storeOptions() sqlite.Options {
	return sqlite.Options{MaxDatabaseBytes: cfg.MaxDatabaseBytes, ClassMaxDatabaseBytes: cfg.ClassMaxDatabaseBytes}
}

// openAdmin starts the operator API on its own listener, unless
// Config.AdminAddr is "" or "off", and records it in s.admin. Call with s.mu
// held, after the host is open. When the address came from the command
// line's default and cannot be had (another Den on the machine has it), the
// app runs without it and a warning says so; an address asked for must
// work.
func (s *Server) openAdmin(ctx context.Context, host *actor.Host, env *den.Env) error {
	addr := s.cfg.AdminAddr
	if addr == "" || addr == "off" {
		return nil
	}
	token, source := s.cfg.AdminToken, "--admin-token"
	if token == "" {
		path := filepath.Join(s.cfg.Data, admin.TokenFile)
		var created bool
		var err error
		if token, created, err = admin.LoadToken(path); err != nil {
			return err
		}
		source = path
		if created {
			s.log.Info("created the admin token", "file", path)
		}
	}
	cfg := admin.Config{Env: env, Runner: host, Token: token, Logger: s.log, Recovery: host}
	if s.see != nil {
		cfg.See = s.see.adminSee()
	}
	h, err := admin.New(cfg)
	if err != nil {
		return err
	}
	gw := &gateway.Server{Addr: addr, Handler: h, Logger: s.log.With("listener", "admin")}
	if err := gw.Open(ctx); err != nil {
		if s.cfg.adminOptional {
			s.log.Warn("admin API not started: its default address is taken; set --admin-addr", "addr", addr, "err", err)
			return nil
		}
		return den.Errorf(den.ErrorCode(err), "admin API: %w", err)
	}
	s.admin = gw
	s.log.Info("admin listening", "addr", gw.BoundAddr(), "token", source)
	return nil
}

// AdminAddr returns the address the operator API listens on, such as
// 127.0.0.1:43128, or "" if it is not serving.
func (s *Server) AdminAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.admin == nil {
		return ""
	}
	return s.admin.BoundAddr()
}

// closeAdmin stops the operator API, if it runs.
func (s *Server) closeAdmin(ctx context.Context) error {
	s.mu.Lock()
	gw := s.admin
	s.mu.Unlock()
	if gw == nil {
		return nil
	}
	return gw.Close(ctx)
}

// parseAdmin reads the settings of the operator API and the database size
// cap into cfg.
func parseAdmin(cfg *Config, lookup func(string) (string, string), bad func(value, source, want string) error) error {
	var source string
	cfg.AdminAddr, source = lookup("admin-addr")
	cfg.adminOptional = strings.HasPrefix(source, "default")
	cfg.AdminToken, _ = lookup("admin-token")
	v, source := lookup("max-db-size")
	n, err := parseSize(v)
	if err != nil || n <= 0 {
		return bad(v, source, "a size such as 500MB, 10GB or 1GiB")
	}
	cfg.MaxDatabaseBytes = n
	return nil
}

// sizeUnits are the units parseSize knows, longest first.
var sizeUnits = []struct {
	suffix string
	size   int64
}{
	{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"TIB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"B", 1},
}

// parseSize parses a byte count: a whole number of bytes, or a number with
// a unit (KB, MB, GB, TB are powers of 1000; KiB, MiB, GiB, TiB of 1024).
func parseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range sizeUnits {
		if num, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(num), u.size
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || f*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return int64(f * float64(mult)), nil
}
