// Command notes serves the notes example app: every user's notes in their
// own object's SQLite database, searchable with FTS5. Run it with --help
// for its flags.
//
//	go run ./examples/notes --data /tmp/notes
//	curl -H 'X-User-ID: ann' -d '{"title": "Milk", "content": "two litres"}' localhost:8787/notes
//	curl -H 'X-User-ID: ann' 'localhost:8787/notes?q=litres'
package main

import (
	_ "embed"

	"github.com/den-run/den/examples/notes/notes"
	"github.com/den-run/den/serve"
)

// configFile is the app's wrangler.jsonc: its bindings and migrations,
// which agree with the bindings notes.App sets in code.
//
//go:embed wrangler.jsonc
var configFile []byte

func main() {
	app := notes.App()
	app.ConfigFile = configFile
	serve.Main(app)
}
