package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sync"
	"testing"
)

// built holds the binaries this process built; Main removes their
// directory.
var built struct {
	mu   sync.Mutex
	dir  string
	bins map[string]*binary
}

type binary struct {
	once sync.Once
	path string
	err  error
}

// Binary builds the main package pkg (an import path) once per process and
// returns the executable's path, for tests that run the real command as a
// separate process (to kill it, signal it, or measure its memory).
func Binary(t testing.TB, pkg string) string {
	t.Helper()
	built.mu.Lock()
	if built.bins == nil {
		built.bins = map[string]*binary{}
	}
	b := built.bins[pkg]
	if b == nil {
		b = &binary{}
		built.bins[pkg] = b
	}
	built.mu.Unlock()
	b.once.Do(func() { b.path, b.err = build(pkg) })
	if b.err != nil {
		t.Fatalf("testenv: building %s: %v", pkg, b.err)
	}
	return b.path
}

func build(pkg string) (string, error) {
	built.mu.Lock()
	if built.dir == "" {
		dir, err := tempDir("bin")
		if err != nil {
			built.mu.Unlock()
			return "", err
		}
		built.dir = dir
	}
	dir := built.dir
	built.mu.Unlock()
	out := filepath.Join(dir, path.Base(pkg))
	// go test puts its own go first on PATH.
	cmd := exec.Command("go", "build", "-o", out, pkg)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%v\n%s", err, msg)
	}
	return out, nil
}

func removeBuilt() {
	built.mu.Lock()
	defer built.mu.Unlock()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
}
