// Command counter serves the counter example app: named counters that
// survive restarts. Run it with --help for its flags.
//
//	go run ./examples/counter --data /tmp/counter
//	curl -X POST localhost:8787/counter/a/increment   # 1
//	curl localhost:8787/counter/a                     # 1
package main

import (
	_ "embed"

	"github.com/den-run/den/examples/counter/counter"
	"github.com/den-run/den/serve"
)

// configFile is the app's wrangler.jsonc: its bindings and migrations,
// which agree with the bindings counter.App sets in code.
//
//go:embed wrangler.jsonc
var configFile []byte

func main() {
	app := counter.App()
	app.ConfigFile = configFile
	serve.Main(app)
}
