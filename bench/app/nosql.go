//go:build !densql

package main

import "github.com/den-run/den"

// sqlClass reports that this build has no SQL counter: the fallback for a
// Den without the SQL API (see sql.go, built with -tags densql).
func sqlClass() (den.Class, bool) { return den.Class{}, false }
