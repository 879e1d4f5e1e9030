package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/den-run/den"
)

// DefaultFiles are the files an app looks for in its working directory when
// no --config is given, in order.
var DefaultFiles = []string{"wrangler.jsonc", "wrangler.json"}

// MaxFileBytes is the largest configuration file Parse reads.
const MaxFileBytes = 1 << 20

// Project is a configuration file as written: what the app is called, which
// namespaces it binds, its migrations, its variables and Den's own settings.
// Positions point back into the file for error messages.
type Project struct {
	// File names the file in messages, such as "wrangler.jsonc".
	File string
	// Dir is the directory relative paths in the file are resolved
	// against: the file's directory, or "" (the working directory) for a
	// file embedded in the program.
	Dir string
	// Name is the app's (the Worker's) name; transfers name other apps by
	// it. Empty if the file does not set it.
	Name string
	// Bindings are durable_objects.bindings, in file order.
	Bindings []Binding
	// Migrations are the migrations, in file order.
	Migrations []Migration
	// Vars are the variables the worker and objects read with env.Var. A
	// string is kept as is; any other JSON value as its JSON text.
	Vars map[string]string
	// Den is the "den" section: Den's own settings.
	Den Den
}

// Binding is one entry of durable_objects.bindings: env.Namespace(Name)
// reaches class ClassName.
type Binding struct {
	Name       string
	ClassName  string
	ScriptName string // the app that defines the class; empty for this one
	Pos        Pos
}

// Migration is one entry of migrations. Den stores every class in SQLite,
// so NewClasses and NewSQLiteClasses create classes alike.
type Migration struct {
	Tag              string
	NewClasses       []Class
	NewSQLiteClasses []Class
	RenamedClasses   []Rename
	DeletedClasses   []Class
	Transferred      []Transfer
	Pos              Pos
}

// Class is a class name where the file gives it.
type Class struct {
	Name string
	Pos  Pos
}

// Rename is one entry of renamed_classes.
type Rename struct {
	From, To string
	Pos      Pos
}

// Transfer is one entry of transferred_classes: class From of the app named
// FromScript becomes class To of this app.
type Transfer struct {
	From, FromScript, To string
	Pos                  Pos
}

// Den is the "den" section of the file.
type Den struct {
	// Settings are the plain settings by key (see [SettingKeys]), as
	// written: the runner validates them as it validates flags, so that a
	// value means the same wherever it is set.
	Settings map[string]Setting
	// ClassMaxDBSize is den.class_max_db_size: a size cap per class.
	ClassMaxDBSize map[string]Setting
	// Apps is den.apps: where other apps keep their data, by app name, for
	// transferred_classes.
	Apps map[string]Setting
}

// SettingKeys are the keys of the den section that hold one value each, with
// what they set. A key is the runner's flag name with '_' for '-'.
var SettingKeys = map[string]string{
	"addr":                 "the TCP address to listen on",
	"data":                 "the data directory, relative to the file",
	"admin_addr":           "the operator API's address, or off",
	"idle_timeout":         "how long an object stays in memory without events",
	"storage_idle_timeout": "how long an evicted object's database stays open without events",
	"max_live":             "most objects kept in memory at once",
	"max_db_size":          "the largest database of one object",
	"sync_mode":            "auto, fdatasync or syncfs",
	"io_uring":             "on or off: WebSocket broadcasts through io_uring",
	"log_level":            "debug, info, warn or error",
	"log_format":           "text or json",
	"pitr_retention":       "how long point-in-time recovery keeps history",
}

// Setting is one value of the den section: its text (a number keeps its JSON
// spelling) and where it was written.
type Setting struct {
	Value string
	Pos   Pos
}

// Pos is a place in a file: 1-based line and column (in characters).
type Pos struct {
	File      string
	Line, Col int
}

// String returns "file:line:col".
func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// Error is one mistake in a configuration file.
type Error struct {
	Pos Pos
	Msg string
}

// Error returns "file:line:col: message".
func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// Errors are the mistakes found in one file, in file order.
type Errors []*Error

// Error returns the mistakes one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// err returns es as an EINVALID error, or nil if it is empty.
func (es Errors) err() error {
	if len(es) == 0 {
		return nil
	}
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i].Pos, es[j].Pos
		return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
	})
	return den.Errorf(den.EINVALID, "%w", es)
}

// Load reads and parses the file at path. Relative paths inside it are
// resolved against its directory.
func Load(path string) (*Project, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, den.Errorf(den.EINVALID, "config file %s does not exist: check --config (or DEN_CONFIG)", path)
		}
		return nil, den.Errorf(den.EINVALID, "read config file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, den.Errorf(den.EINVALID, "read config file %s: %w", path, err)
	}
	p, err := Parse(path, b)
	if err != nil {
		return nil, err
	}
	p.Dir = filepath.Dir(path)
	return p, nil
}

// Find returns the first of [DefaultFiles] that exists in dir, or "" if none
// does.
func Find(dir string) string {
	for _, name := range DefaultFiles {
		path := filepath.Join(dir, name)
		if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
			return path
		}
	}
	return ""
}

// Path resolves a path written in the file: relative to p.Dir.
func (p *Project) Path(path string) string {
	if path == "" || filepath.IsAbs(path) || p.Dir == "" {
		return path
	}
	return filepath.Join(p.Dir, path)
}

// BindingMap returns the bindings as binding name → class name.
func (p *Project) BindingMap() map[string]string {
	m := make(map[string]string, len(p.Bindings))
	for _, b := range p.Bindings {
		m[b.Name] = b.ClassName
	}
	return m
}
