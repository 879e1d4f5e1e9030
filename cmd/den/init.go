package main

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"text/template"
)

// denModule is the module path of Den itself.
const denModule = "github.com/den-run/den"

//go:embed template
var templates embed.FS

// appFiles maps each file den init writes to its template.
var appFiles = map[string]string{
	"go.mod":         "go.mod.tmpl",
	"main.go":        "main.go.tmpl",
	"main_test.go":   "main_test.go.tmpl",
	"wrangler.jsonc": "wrangler.jsonc.tmpl",
	"README.md":      "README.md.tmpl",
	".gitignore":     "gitignore.tmpl",
}

func init() {
	var denPath, module string
	var tidy bool
	register(&command{
		Name:    "init",
		Args:    "[flags] NAME",
		Summary: "write a new Den app in directory NAME: go.mod, main.go with a sample object and worker, wrangler.jsonc, a test, a README",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&denPath, "den", "", "the local Den checkout the app builds against (go.mod replace); default: the checkout den was built from, or one above the working directory")
			fs.StringVar(&module, "module", "", "the app's module path; default: NAME's last element")
			fs.BoolVar(&tidy, "tidy", true, "run go mod tidy in the new app, which fills go.sum from the module cache")
		},
		Run: func(ctx context.Context, args []string, std stdio) error {
			if len(args) != 1 {
				return usagef("takes one argument, the new app's directory")
			}
			return initApp(ctx, args[0], denPath, module, tidy, std)
		},
	})
}

// appData is what the templates fill in.
type appData struct {
	Name      string // the app's name: the directory's base name
	Module    string // its module path
	Den       string // the Den checkout, absolute
	GoVersion string // Den's go directive
}

func initApp(ctx context.Context, dir, denPath, module string, tidy bool, std stdio) error {
	name := filepath.Base(filepath.Clean(dir))
	if !validName(name) {
		return usagef("app name %q: use letters, digits, '-', '_' and '.', starting with a letter", name)
	}
	if module == "" {
		module = name
	}
	if denPath == "" {
		denPath = findDen()
		if denPath == "" {
			return errors.New("cannot find a Den checkout to build the app against (the Den module is not published): pass --den PATH")
		}
	}
	den, goVersion, err := checkDen(denPath)
	if err != nil {
		return err
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return fmt.Errorf("%s already exists and is not empty: choose a new directory", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data := appData{Name: name, Module: module, Den: den, GoVersion: goVersion}
	for file, tmpl := range appFiles {
		b, err := render(tmpl, data)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, file), b, 0o644); err != nil {
			return err
		}
	}
	// Den's go.sum covers every module the app needs; tidy trims it.
	sum, err := os.ReadFile(filepath.Join(den, "go.sum"))
	if err != nil {
		return fmt.Errorf("read Den's go.sum: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644); err != nil {
		return err
	}
	if tidy {
		cmd := exec.CommandContext(ctx, "go", "mod", "tidy")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(std.Err, "den init: go mod tidy failed (%v); run it in %s when the modules can be fetched:\n%s", err, dir, out)
		}
	}
	fmt.Fprintf(std.Out, "Created the Den app %s in %s (building against %s).\n\n  cd %s\n  go test ./...\n  go run .       # or: den dev\n", name, dir, den, dir)
	return nil
}

func render(tmpl string, data appData) ([]byte, error) {
	src, err := fs.ReadFile(templates, "template/"+tmpl)
	if err != nil {
		return nil, err
	}
	t, err := template.New(tmpl).Parse(string(src))
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func validName(name string) bool {
	if name == "" || !('a' <= name[0] && name[0] <= 'z' || 'A' <= name[0] && name[0] <= 'Z') {
		return false
	}
	for _, c := range name {
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return false
		}
	}
	return true
}

// findDen returns the Den checkout den was built from, if its source is
// still there, else the nearest one above the working directory, else "".
func findDen() string {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		dir := filepath.Dir(filepath.Dir(filepath.Dir(file))) // <den>/cmd/den/init.go
		if isDen(dir) {
			return dir
		}
	}
	dir, err := os.Getwd()
	for err == nil {
		if isDen(dir) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return ""
}

func isDen(dir string) bool {
	_, _, err := checkDen(dir)
	return err == nil
}

// checkDen checks that dir is a Den checkout and returns its absolute path
// and its go directive.
func checkDen(dir string) (abs, goVersion string, err error) {
	abs, err = filepath.Abs(dir)
	if err != nil {
		return "", "", err
	}
	b, err := os.ReadFile(filepath.Join(abs, "go.mod"))
	if err != nil {
		return "", "", fmt.Errorf("%s is not a Den checkout (no go.mod): pass --den with the directory of Den's go.mod", dir)
	}
	var module string
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "module" {
			module = f[1]
		}
		if len(f) == 2 && f[0] == "go" {
			goVersion = f[1]
		}
	}
	if module != denModule {
		return "", "", fmt.Errorf("%s is not a Den checkout (its module is %q, not %s): pass --den with the directory of Den's go.mod", dir, module, denModule)
	}
	if goVersion == "" {
		goVersion = strings.TrimPrefix(runtime.Version(), "go")
	}
	return abs, goVersion, nil
}
