//go:build unix

package main

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup puts the app in a process group of its own, so that the
// terminal's Ctrl-C reaches den dev only; den dev then stops the app once.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}
