package serve

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"sort"
	"strings"

	"github.com/den-run/den"
	"github.com/den-run/den/config"
	"github.com/den-run/den/keyring"
)

// loadProject finds the app's configuration file: path if given (by
// --config or DEN_CONFIG; it must exist), else ./wrangler.jsonc (or
// ./wrangler.json) if present, else the app's own App.ConfigFile. It
// returns nil when there is none.
func loadProject(app App, path string) (*config.Project, error) {
	if path == "" {
		path = config.Find(".")
	}
	if path != "" {
		return config.Load(path)
	}
	return app.builtinProject()
}

// builtinProject parses App.ConfigFile, or returns nil if the app has none.
func (app App) builtinProject() (*config.Project, error) {
	if app.ConfigFile == nil {
		return nil, nil
	}
	return config.Parse(app.name()+"'s built-in wrangler.jsonc", app.ConfigFile)
}

// fileSetting returns the value of the runner's setting flag from the den
// section of p and where it was written. A data directory is resolved
// against the file's directory.
func fileSetting(p *config.Project, flag string) (value, source string, ok bool) {
	if p == nil {
		return "", "", false
	}
	key := strings.ReplaceAll(flag, "-", "_")
	s, ok := p.Den.Settings[key]
	if !ok {
		return "", "", false
	}
	if key == "data" {
		return p.Path(s.Value), fmt.Sprintf("den.%s at %s", key, s.Pos), true
	}
	return s.Value, fmt.Sprintf("den.%s at %s", key, s.Pos), true
}

// parseProjectSettings reads the den section's settings that have no flag:
// per-class size caps; and it checks the point-in-time recovery retention
// (--pitr-retention reads it from the file).
func parseProjectSettings(cfg *Config, p *config.Project, bad func(value, source, want string) error) error {
	if p == nil {
		return nil
	}
	for _, class := range sortedKeys(p.Den.ClassMaxDBSize) {
		s := p.Den.ClassMaxDBSize[class]
		n, err := parseSize(s.Value)
		if err != nil || n <= 0 {
			return bad(s.Value, fmt.Sprintf("den.class_max_db_size.%s at %s", class, s.Pos), "a size such as 500MB, 10GB or 1GiB")
		}
		if cfg.ClassMaxDatabaseBytes == nil {
			cfg.ClassMaxDatabaseBytes = map[string]int64{}
		}
		cfg.ClassMaxDatabaseBytes[class] = n
	}
	if s, ok := p.Den.Settings["pitr_retention"]; ok {
		if _, err := ParseRetention(s.Value); err != nil {
			return bad(s.Value, "den.pitr_retention at "+s.Pos.String(), "a duration such as 30d, 720h or 0 (off)")
		}
	}
	return nil
}

// project returns the configuration the server runs with: Config.Project,
// else the app's built-in file, else nil.
func (s *Server) project() (*config.Project, error) {
	if s.cfg.Project != nil {
		return s.cfg.Project, nil
	}
	return s.app.builtinProject()
}

// withProject returns app as p configures it. A file with bindings is the
// source of bindings: it is checked against the registered classes, and
// bindings also set in code (App.Bindings) must agree with it exactly. A
// file without bindings (only settings, say) leaves them to the code.
// Variables from the file override those set in code.
func withProject(app App, p *config.Project) (App, error) {
	if p == nil {
		return app, nil
	}
	names := make([]string, len(app.Classes))
	for i, c := range app.Classes {
		names[i] = c.Name
	}
	if err := p.Check(names); err != nil {
		return app, err
	}
	if file := p.BindingMap(); len(file) > 0 {
		if len(app.Bindings) > 0 {
			if err := agree(app.Bindings, file, p); err != nil {
				return app, err
			}
		}
		app.Bindings = file
	}
	vars := maps.Clone(app.Vars)
	if vars == nil {
		vars = map[string]string{}
	}
	maps.Copy(vars, p.Vars)
	app.Vars = vars
	return app, nil
}

// agree checks that the bindings set in code are the file's.
func agree(code, file map[string]string, p *config.Project) error {
	for _, b := range sortedKeys(code) {
		class, ok := file[b]
		switch {
		case !ok:
			return den.Errorf(den.EINVALID, "binding %s (class %s) is set in App.Bindings but not in %s: the file is the source of bindings; add it to durable_objects.bindings or remove App.Bindings", b, code[b], p.File)
		case class != code[b]:
			return den.Errorf(den.EINVALID, "binding %s reaches class %s in App.Bindings but class %s in %s: the file is the source of bindings; make them agree or remove App.Bindings", b, code[b], class, p.File)
		}
	}
	for _, b := range sortedKeys(file) {
		if _, ok := code[b]; !ok {
			return den.Errorf(den.EINVALID, "binding %s is in %s but not in App.Bindings: the file is the source of bindings; remove App.Bindings or add it there too", b, p.File)
		}
	}
	return nil
}

// migrate applies p's new migrations to the data directory (locked by the
// caller, before any object runs). The alarm index is derived from the
// objects, so it is dropped before classes move and rebuilt at open.
func (s *Server) migrate(ctx context.Context, p *config.Project) error {
	if p == nil {
		return nil
	}
	_, err := config.Migrate(ctx, s.cfg.Data, p, config.MigrateOptions{
		ClassFiles: func(class string) []string {
			return []string{filepath.Join("objects", class), keyring.Path("keys", class)}
		},
		Derived: []string{AlarmIndexFile, AlarmIndexFile + "-wal", AlarmIndexFile + "-shm"},
		Lock:    lockDir,
		Logger:  s.log,
	})
	return err
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
