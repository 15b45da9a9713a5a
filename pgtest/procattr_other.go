//go:build !linux

package pgtest

import "syscall"

// setDeathSignal does nothing where the kernel has no parent-death signal;
// there only Close (through Main) stops the server.
func setDeathSignal(*syscall.SysProcAttr) {}
