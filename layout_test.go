package den_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/den-run/den"

// wiring packages may import adapters; everything else may not.
var wiring = map[string]bool{"serve": true}

// TestImportRules enforces the layout: the root package imports only the
// standard library; an adapter imports the root, internal/ and outside
// modules but no other adapter; only wiring (serve, cmd/, examples/, bench/)
// puts adapters together; nothing imports cmd/ or an example's main.
func TestImportRules(t *testing.T) {
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		top := strings.SplitN(dir, "/", 2)[0]
		for _, spec := range f.Imports {
			imp, _ := strconv.Unquote(spec.Path.Value)
			if msg := checkImport(dir, top, imp); msg != "" {
				t.Errorf("%s imports %s: %s", path, imp, msg)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func checkImport(dir, top, imp string) string {
	std := !strings.Contains(strings.SplitN(imp, "/", 2)[0], ".")
	own := imp == module || strings.HasPrefix(imp, module+"/")
	rel := strings.TrimPrefix(strings.TrimPrefix(imp, module), "/")
	impTop := strings.SplitN(rel, "/", 2)[0]
	switch {
	case dir == ".":
		if !std {
			return "the root package imports only the standard library"
		}
	case !own:
		return ""
	case impTop == "cmd":
		return "nothing imports cmd/"
	case impTop == "examples" && top != "examples" && top != "bench":
		return "only examples and benchmarks import examples"
	case rel == "" || impTop == "internal":
		return ""
	case top == "cmd" || top == "examples" || top == "bench" || wiring[top]:
		return ""
	case impTop != top:
		return "adapters do not import each other; move shared code to internal/ or wire them in serve or cmd/"
	}
	return ""
}

func TestImportRulesCatchViolations(t *testing.T) {
	for _, tc := range []struct{ dir, top, imp string }{
		{".", ".", "zombiezen.com/go/sqlite"},
		{"actor", "actor", module + "/sqlite"},
		{"sqlite", "sqlite", module + "/cmd/den"},
		{"gateway", "gateway", module + "/examples/counter"},
	} {
		if checkImport(tc.dir, tc.top, tc.imp) == "" {
			t.Errorf("%s importing %s was allowed", tc.dir, tc.imp)
		}
	}
	for _, tc := range []struct{ dir, top, imp string }{
		{".", ".", "net/http"},
		{"actor", "actor", module},
		{"sqlite", "sqlite", "zombiezen.com/go/sqlite"},
		{"serve", "serve", module + "/actor"},
		{"examples/counter", "examples", module + "/serve"},
	} {
		if msg := checkImport(tc.dir, tc.top, tc.imp); msg != "" {
			t.Errorf("%s importing %s was refused: %s", tc.dir, tc.imp, msg)
		}
	}
}
