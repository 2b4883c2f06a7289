//go:build !linux

package openpact_test

import "os/exec"

// dieWithTest: only Linux can tie the daemon's life to the test binary's.
func dieWithTest(*exec.Cmd) {}
