package openpact_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The README's first Go block, written out as a program of its own (a module with a replace
// directive to this one) and run against the live daemon, finds it through OPENPACT_DATA_DIR
// and prints what it recorded.
func TestReadmeExampleRunsAsPrinted(t *testing.T) {
	if daemonBin == "" {
		t.Skip("no openpact binary (set OPENPACT_BIN)")
	}
	if testing.Short() {
		t.Skip("builds a program: not in -short")
	}
	moduleDir, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(moduleDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)```go\n(.*?)```").FindSubmatch(readme)
	if block == nil {
		t.Fatal("README.md has no ```go block")
	}
	dir := t.TempDir()
	goMod := fmt.Sprintf(`module readme_example

go 1.26

require github.com/openpact/openpact/clients/go v0.0.0

replace github.com/openpact/openpact/clients/go => %s
`, moduleDir)
	sum, err := os.ReadFile(filepath.Join(moduleDir, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{"main.go": block[1], "go.mod": []byte(goMod), "go.sum": sum} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Everything the example needs is in the module cache already: no network.
	env := append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod", "OPENPACT_DATA_DIR="+dataDir)
	goCmd := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctxFor(t), "go", args...)
		cmd.Dir = dir
		cmd.Env = env
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("go %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), stderr.String())
		}
		return out.String()
	}
	out := goCmd("run", ".")
	t.Logf("the README example printed:\n%s", out)

	m := regexp.MustCompile(`(?m)^recorded (\S+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no 'recorded <id>' line")
	}
	if !strings.Contains(out, m[1]+" Run make before pushing.") {
		t.Errorf("the listing does not show the recorded entry %s", m[1])
	}
}
