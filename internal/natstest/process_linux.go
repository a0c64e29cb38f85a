package natstest

import (
	"os"
	"path/filepath"
	"syscall"
)

// sysProcAttr makes the kernel kill a nats-server process when the test
// binary that started it dies, so that a crashed or timed-out test leaves no
// server behind holding its ports.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// lockDir holds an exclusive lock on dir until unlock: test binaries of
// several packages, run at once by go test, build nats-server once between
// them. The kernel drops the lock if the holder dies.
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
