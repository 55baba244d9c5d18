//go:build !linux

// Package childproc starts the services a command runs as child
// processes of its own (the soak's, the cluster's replicas).
package childproc

import (
	"os/exec"
	"syscall"
)

// Detach puts the child in a process group of its own, so a Ctrl-C at
// the terminal reaches only its parent, which stops it in order.
func Detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}
