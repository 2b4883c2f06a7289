package openpact_test

import (
	"os/exec"
	"syscall"
)

// dieWithTest makes the daemon get SIGTERM when the test binary dies (a panic skips TestMain's
// stop), so no daemon outlives its tests.
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
