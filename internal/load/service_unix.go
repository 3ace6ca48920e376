//go:build unix

package load

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts the service in a process group of its own, so that stopping it
// reaches the processes it started (a shell script's children).
func setProcessGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

func terminate(cmd *exec.Cmd) error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }

func kill(cmd *exec.Cmd) error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
