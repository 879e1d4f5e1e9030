// Command reminders serves the reminders example app: reminders delivered by
// Durable Object alarms. Run it with --help for its flags.
//
//	go run ./examples/reminders --data /tmp/reminders
//	curl -X POST localhost:8787/reminders/ann -d "{\"at\": $(($(date +%s) * 1000 + 5000)), \"message\": \"tea\"}"
//	curl localhost:8787/reminders/ann   # pending, then delivered 5 s later
package main

import (
	_ "embed"

	"github.com/den-run/den/examples/reminders/reminders"
	"github.com/den-run/den/serve"
)

// configFile is the app's wrangler.jsonc: its bindings and migrations,
// which agree with the bindings reminders.App sets in code.
//
//go:embed wrangler.jsonc
var configFile []byte

func main() {
	app := reminders.App()
	app.ConfigFile = configFile
	serve.Main(app)
}
