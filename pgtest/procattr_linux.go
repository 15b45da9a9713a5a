package pgtest

import "syscall"

// setDeathSignal asks the kernel to send postgres SIGQUIT (immediate
// shutdown) when the thread that started it exits. Go applies it after
// switching credentials, which would otherwise clear it.
func setDeathSignal(attr *syscall.SysProcAttr) {
	attr.Pdeathsig = syscall.SIGQUIT
}
