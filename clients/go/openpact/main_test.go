package openpact_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openpact/openpact/clients/go/openpact"
	"github.com/openpact/openpact/clients/go/openpactv1"
)

// The daemon every test shares: one per test binary, on a temp data dir, with the pact "main"
// created and current.
var (
	daemonBin string // "" when OPENPACT_BIN does not exist: live tests skip
	dataDir   string
)

// mainPact is the alias of the pact TestMain creates.
const mainPact = "main"

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	bin := os.Getenv("OPENPACT_BIN")
	if bin == "" {
		bin = filepath.Join("..", "..", "..", "target", "release", "openpact")
	}
	if _, err := os.Stat(bin); err != nil {
		fmt.Fprintf(os.Stderr, "openpact binary %s not found (set OPENPACT_BIN): tests against a live daemon skip\n", bin)
		return m.Run()
	}
	bin, _ = filepath.Abs(bin)
	dir, err := os.MkdirTemp("", "opgo")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	stop, err := startDaemon(bin, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := openpact.Dial(ctx, openpact.WithDataDir(dir))
	if err == nil {
		_, err = c.CreatePact(ctx, &openpactv1.CreatePactRequest{Name: "Main", Alias: ptr(mainPact)})
		c.Close()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "cannot create the test pact: %v\n", err)
		return 1
	}
	daemonBin, dataDir = bin, dir
	return m.Run()
}

// startDaemon starts `openpact start --foreground` on dir and waits until its socket answers a
// Ping. stop sends SIGTERM and waits for the exit.
func startDaemon(bin, dir string) (stop func(), err error) {
	cmd := exec.Command(bin, "--data-dir", dir, "start", "--foreground", "--port", "0", "--no-dashboard", "--log-level", "warn")
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := openpact.Dial(ctx, openpact.WithDataDir(dir))
		cancel()
		if err == nil {
			c.Close()
			return stop, nil
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("the daemon exited before answering: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("the daemon did not answer on %s within 15 s: %w", dir, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dial connects to the shared daemon, acting on pact (mainPact when "").
func dial(t *testing.T, pact string) *openpact.Client {
	t.Helper()
	if daemonBin == "" {
		t.Skip("no openpact binary (set OPENPACT_BIN)")
	}
	if pact == "" {
		pact = mainPact
	}
	c, err := openpact.Dial(ctxFor(t), openpact.WithDataDir(dataDir), openpact.WithPact(pact))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newPact creates a pact of its own for a test (its alias from the test name) and returns a
// client acting on it.
func newPact(t *testing.T) *openpact.Client {
	t.Helper()
	c := dial(t, "")
	alias := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(strings.TrimPrefix(t.Name(), "Test")))
	if len(alias) > 48 {
		alias = strings.TrimRight(alias[:48], "-")
	}
	if _, err := c.CreatePact(ctxFor(t), &openpactv1.CreatePactRequest{Name: t.Name(), Alias: &alias}); err != nil {
		t.Fatalf("create pact %s: %v", alias, err)
	}
	return c.ForPact(alias)
}

// ctxFor returns a context that ends with the test (and after 60 s at most).
func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wantCode fails the test unless err is an *openpact.Error with the code and matches its
// sentinel.
func wantCode(t *testing.T, err error, sentinel *openpact.Error) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s, got success", sentinel.Code)
	}
	var e *openpact.Error
	if !errors.As(err, &e) {
		t.Fatalf("want %s, got %T: %v", sentinel.Code, err, err)
	}
	if !errors.Is(err, sentinel) || e.Code != sentinel.Code {
		t.Fatalf("want %s, got %s (%v)", sentinel.Code, e.Code, err)
	}
	if e.HTTPStatus != sentinel.HTTPStatus || e.Message == "" {
		t.Errorf("%s: HTTP status %d (want %d), message %q", e.Code, e.HTTPStatus, sentinel.HTTPStatus, e.Message)
	}
}

func ptr[T any](v T) *T { return &v }
