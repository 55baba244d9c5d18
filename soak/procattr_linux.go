package soak

import (
	"os/exec"
	"syscall"
)

// detach puts the service in a process group of its own, so a Ctrl-C at
// the terminal reaches only the soak, which stops it in order; and has
// the kernel kill it if the soak itself dies, so no service outlives it.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
