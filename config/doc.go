// Package config reads a Den app's configuration file, in the form of
// Cloudflare's wrangler.jsonc, checks it against the classes the app
// registers in code, and applies its migrations to a data directory.
//
// The file is JSON with comments and trailing commas (JWCC, read with
// github.com/tailscale/hujson); plain JSON is accepted too. [Parse] returns a
// [Project]: the app's name, its namespace bindings, its migrations, its
// variables and a "den" section for Den's own settings. Every mistake, an
// unknown key included, is an [*Error] that names the file, line and
// column; [Errors] holds all of them at once.
//
// [Project.Check] compares the file with the classes registered in code: a
// binding to an unregistered class, a duplicate binding, or a bound class that
// no migration creates is an error at start, with its line.
//
// [Migrate] applies the migrations not yet applied to a data directory, in
// order and once each, and records them in <data>/migrations.json. Each
// migration is written to a journal first (<data>/migrations.journal) and
// every step is idempotent, so a crash part-way through is finished, never
// left half-applied, by the next start. A rename moves a class's key and
// objects to the new name, which keeps every ID; a delete removes them; a
// transfer moves them from another app's data directory.
package config
