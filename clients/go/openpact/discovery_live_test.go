package openpact_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openpact/openpact/clients/go/openpact"
)

// The client finds <dir>/openpact.sock by itself: from an explicit data dir, from
// OPENPACT_DATA_DIR, and from ~/.openpact; an explicit socket wins over all of them.
func TestDiscoveryFindsTheSocket(t *testing.T) {
	if daemonBin == "" {
		t.Skip("no openpact binary (set OPENPACT_BIN)")
	}
	want, err := filepath.EvalSymlinks(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir() // no daemon there
	home := t.TempDir()
	if err := os.Symlink(dataDir, filepath.Join(home, ".openpact")); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dataDir, openpact.SocketName)

	cases := []struct {
		name   string
		env    string
		home   string
		opts   []openpact.Option
		socket string
	}{
		{"OPENPACT_DATA_DIR", dataDir, elsewhere, nil, sock},
		{"explicit data dir over the environment", elsewhere, elsewhere, []openpact.Option{openpact.WithDataDir(dataDir)}, sock},
		{"explicit socket over the data dir", elsewhere, elsewhere, []openpact.Option{openpact.WithDataDir(elsewhere), openpact.WithSocket(sock)}, sock},
		{"default ~/.openpact", "", home, nil, filepath.Join(home, ".openpact", openpact.SocketName)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(openpact.DataDirEnv, tc.env)
			t.Setenv("HOME", tc.home)
			path, err := openpact.SocketPath(tc.opts...)
			if err != nil || path != tc.socket {
				t.Errorf("SocketPath = %q, %v; want %q", path, err, tc.socket)
			}
			c, err := openpact.Dial(ctxFor(t), tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.Socket() != tc.socket {
				t.Errorf("dialled %s, want %s", c.Socket(), tc.socket)
			}
			ping, err := c.Ping(ctxFor(t))
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := filepath.EvalSymlinks(ping.DataDir); got != want {
				t.Errorf("the daemon of %s answered, want %s", ping.DataDir, want)
			}
		})
	}
}

// With no daemon on the socket, Dial fails with ErrDaemonUnavailable, naming the socket and
// saying how to start one; so do calls on a client whose daemon went away.
func TestNoDaemonIsErrDaemonUnavailable(t *testing.T) {
	if daemonBin == "" {
		t.Skip("no openpact binary (set OPENPACT_BIN)")
	}
	dir, err := os.MkdirTemp("", "opgo")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, openpact.SocketName)

	_, err = openpact.Dial(ctxFor(t), openpact.WithDataDir(dir))
	wantUnavailable(t, err, sock)

	stop, err := startDaemon(daemonBin, dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := openpact.Dial(ctxFor(t), openpact.WithDataDir(dir))
	if err != nil {
		stop()
		t.Fatal(err)
	}
	defer c.Close()
	st, err := c.Status(ctxFor(t))
	if err != nil || st.PactCount != 0 {
		t.Errorf("a fresh daemon: %v %v", st, err)
	}
	ready, err := c.Ready(ctxFor(t))
	if err != nil || ready.Ok || ready.Status != "not-ready" {
		t.Errorf("a fresh daemon is not ready: %v %v", ready, err)
	}
	stop()
	_, err = c.Ping(ctxFor(t))
	wantUnavailable(t, err, sock)
}

func wantUnavailable(t *testing.T, err error, sock string) {
	t.Helper()
	if !errors.Is(err, openpact.ErrDaemonUnavailable) {
		t.Fatalf("want ErrDaemonUnavailable, got %T %v", err, err)
	}
	var e *openpact.DaemonUnavailableError
	if !errors.As(err, &e) || e.Socket != sock || e.Err == nil {
		t.Fatalf("want a DaemonUnavailableError for %s, got %#v", sock, err)
	}
	if msg := err.Error(); !strings.Contains(msg, sock) || !strings.Contains(msg, "openpact start") {
		t.Errorf("the message should name the socket and the fix: %s", msg)
	}
	var wire *openpact.Error
	if errors.As(err, &wire) {
		t.Errorf("a transport failure is not a wire error: %v", wire)
	}
	t.Log(err)
}
