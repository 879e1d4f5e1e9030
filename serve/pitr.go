package serve

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/pitr"
	"github.com/den-run/den/sqlite"
)

// HistoryDir is where point-in-time history is kept, under the data
// directory (see package pitr).
const HistoryDir = "history"

// NamespacesFile records the app's bindings (binding name → class) and its
// history retention in the data directory, so that the den tool can name
// namespaces, and keep history, as the app does while the server is stopped.
const NamespacesFile = "namespaces.json"

// NoHistory as Config.Retention keeps no point-in-time history.
const NoHistory = time.Duration(-1)

// archive returns the point-in-time history the configuration asks for
// under data, or nil for none.
func (cfg Config) archive(data string) *pitr.Archive {
	if cfg.Retention < 0 {
		return nil
	}
	return pitr.New(filepath.Join(data, HistoryDir), pitr.Options{Retention: cfg.Retention, ClassRetention: cfg.ClassRetention})
}

// withHistory returns opts with the databases keeping history in a (if not
// nil).
func withHistory(opts sqlite.Options, a *pitr.Archive) sqlite.Options {
	if a != nil {
		opts.History = func(class string, id den.ID) sqlite.Log { return a.Open(class, id) }
	}
	return opts
}

// History returns the server's point-in-time history, or nil if it keeps
// none or is not open. Its Delete wipes one object's history.
func (s *Server) History() *pitr.Archive {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.history
}

// parseRetention reads --pitr-retention into cfg.
func parseRetention(cfg *Config, lookup func(string) (string, string), bad func(value, source, want string) error) error {
	v, source := lookup("pitr-retention")
	d, err := ParseRetention(v)
	if err != nil {
		return bad(v, source, "a duration such as 30d, 72h or 0 (off)")
	}
	cfg.Retention = d
	return nil
}

// ParseRetention reads a retention period: a Go duration (72h), a number
// of days (30d), or 0 or off for no history (NoHistory).
func ParseRetention(s string) (time.Duration, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "0" || s == "off" {
		return NoHistory, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || n <= 0 {
			return 0, errors.New("invalid retention")
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, errors.New("invalid retention")
	}
	return d, nil
}

// record is what NamespacesFile holds: the app's bindings and its history
// retention, for the den tool to use the data directory as the app does.
type record struct {
	Bindings       map[string]string        `json:"bindings"`
	Retention      time.Duration            `json:"retention_ns,omitempty"`
	ClassRetention map[string]time.Duration `json:"class_retention_ns,omitempty"`
}

// writeRecord records cfg's bindings and retention in data, if they changed.
func writeRecord(data string, bindings map[string]string, cfg Config) error {
	path := filepath.Join(data, NamespacesFile)
	b, err := json.MarshalIndent(record{Bindings: bindings, Retention: cfg.Retention, ClassRetention: cfg.ClassRetention}, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if old, err := os.ReadFile(path); err == nil && string(old) == string(b) {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return den.Errorf(den.EINTERNAL, "record namespaces: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return den.Errorf(den.EINTERNAL, "record namespaces: %w", err)
	}
	return nil
}

// readRecord returns what data records (an empty record if nothing).
func readRecord(data string) (record, error) {
	r := record{Bindings: map[string]string{}}
	b, err := os.ReadFile(filepath.Join(data, NamespacesFile))
	if errors.Is(err, fs.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, den.Errorf(den.EINVALID, "%s: %v", NamespacesFile, err)
	}
	if r.Bindings == nil {
		r.Bindings = map[string]string{}
	}
	return r, nil
}

// wipeHistory returns the actor's OnWiped hook: it deletes a wiped object's
// point-in-time history (DELETE on the admin API), nil without history.
func wipeHistory(a *pitr.Archive) func(class string, id den.ID) error {
	if a == nil {
		return nil
	}
	return a.Delete
}
