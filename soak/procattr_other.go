//go:build !linux

package soak

import (
	"os/exec"
	"syscall"
)

// detach puts the service in a process group of its own, so a Ctrl-C at
// the terminal reaches only the soak, which stops it in order.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}
