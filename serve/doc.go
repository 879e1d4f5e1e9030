// Package serve is the one runner every Den app uses.
//
// An app is an [App]: its object classes, the namespace bindings that name
// them (COUNTER → Counter), its variables and its worker, the front router
// that receives every HTTP request. A program's main calls [Main] with it:
//
//	func main() { serve.Main(counter.App()) }
//
// Main reads flags, DEN_* environment variables and the app's configuration
// file, wrangler.jsonc (--config, else ./wrangler.jsonc, else App.ConfigFile;
// see package config): a flag beats its variable, which beats the file. Run
// the program with --help to list them. The file's bindings, vars and
// migrations configure the app. Main keeps namespace keys and object
// databases under the data directory, serves HTTP until SIGINT or SIGTERM,
// and then drains: it stops accepting connections, finishes the requests
// and turns in flight, and closes every database.
//
// Tests and benchmarks run an app in-process with [Start] on port 0 and a
// temporary data directory.
//
// The data directory holds:
//
//	<data>/keys/<class>.key        namespace keys (back them up: see package keyring)
//	<data>/objects/<class>/...     one SQLite database per object
//	<data>/lock                    held while a process serves the directory
//	<data>/admin.token             the operator API's bearer token (mode 0600), unless --admin-token
//	<data>/migrations.json         the configuration's migrations applied (package config)
//
// Beside the app, Main serves the operator API (package admin: a SQL console
// into any object) on its own loopback listener, --admin-addr.
package serve
