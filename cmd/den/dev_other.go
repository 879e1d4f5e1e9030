//go:build !unix

package main

import "os/exec"

// ownProcessGroup does nothing where process groups are missing.
func ownProcessGroup(cmd *exec.Cmd) {}
