package natstest

import "syscall"

// sysProcAttr makes the kernel kill a nats-server process when the test
// binary that started it dies, so that a crashed or timed-out test leaves no
// server behind holding its ports.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
