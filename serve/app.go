package serve

import (
	"net/http"
	"sort"
	"strings"

	"github.com/den-run/den"
)

// App is a Den application: what it defines, not how it is run.
type App struct {
	// Name names the app in logs and in --help.
	Name string
	// Classes are the object types the app registers.
	Classes []den.Class
	// Bindings maps each binding name to a class name, such as
	// "COUNTER": "Counter". The worker and objects reach a namespace with
	// env.Namespace(binding). When the app runs with a configuration file
	// (see ConfigFile), the file's durable_objects.bindings are the
	// bindings, and Bindings, if set too, must agree with them exactly.
	Bindings map[string]string
	// Vars are variables for the worker and objects (env.Var). A
	// configuration file's vars override them.
	Vars map[string]string
	// ConfigFile is the app's own wrangler.jsonc, usually embedded with
	// go:embed: its bindings, migrations, vars and den settings. It is
	// used when neither --config (DEN_CONFIG) nor ./wrangler.jsonc names
	// another. Nil means the app runs without a file unless one is there.
	ConfigFile []byte
	// Worker returns the front router, which receives every HTTP request.
	// It is called once, after the namespaces exist.
	Worker func(env *den.Env) http.Handler
}

// validate checks the app's definition and returns its bindings sorted by
// name.
func (app App) validate() ([]string, error) {
	if app.Worker == nil {
		return nil, den.Errorf(den.EINVALID, "app %s: no Worker: set App.Worker to the front router", app.name())
	}
	classes := make(map[string]bool, len(app.Classes))
	for _, c := range app.Classes {
		switch {
		case c.Name == "":
			return nil, den.Errorf(den.EINVALID, "app %s: a class has no name", app.name())
		case c.New == nil:
			return nil, den.Errorf(den.EINVALID, "app %s: class %s has no New function", app.name(), c.Name)
		case classes[c.Name]:
			return nil, den.Errorf(den.EINVALID, "app %s: class %s is registered twice", app.name(), c.Name)
		}
		classes[c.Name] = true
	}
	bindings := make([]string, 0, len(app.Bindings))
	for b, class := range app.Bindings {
		if strings.TrimSpace(b) == "" {
			return nil, den.Errorf(den.EINVALID, "app %s: a binding to class %q has an empty name", app.name(), class)
		}
		if !classes[class] {
			return nil, den.Errorf(den.EINVALID, "app %s: binding %s names class %q, which is not registered (registered: %s)", app.name(), b, class, app.classList())
		}
		bindings = append(bindings, b)
	}
	sort.Strings(bindings)
	return bindings, nil
}

func (app App) name() string {
	if app.Name == "" {
		return "den"
	}
	return app.Name
}

func (app App) classList() string {
	if len(app.Classes) == 0 {
		return "none"
	}
	names := make([]string, len(app.Classes))
	for i, c := range app.Classes {
		names[i] = c.Name
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
