// Package testenv is the shared harness for integration tests that run
// against real PostgreSQL and Redis servers. Everything it hands out is
// private to one test (or one test process), so packages can run their tests
// in parallel, and everything is removed again when the test or process ends.
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Main wraps testing.M so that servers and template databases that outlive a
// single test (or that a test forgot) are gone when the test binary exits.
// m is a *testing.M, or a wrapper whose Run does per-package setup and
// teardown around it (Main exits, so nothing after it runs).
func Main(m interface{ Run() int }) {
	code := m.Run()
	tracked.mu.Lock()
	procs := tracked.procs
	tracked.procs = nil
	tracked.mu.Unlock()
	for p := range procs {
		p.close()
	}
	removeBuilt()
	if err := dropOwnDatabases(); err != nil {
		fmt.Fprintln(os.Stderr, "testenv: dropping this process's databases:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// tracked holds every server process started by this process, so Main can
// stop them even when no t.Cleanup did.
var tracked struct {
	mu    sync.Mutex
	procs map[*proc]struct{}
}

func track(p *proc) {
	tracked.mu.Lock()
	defer tracked.mu.Unlock()
	if tracked.procs == nil {
		tracked.procs = map[*proc]struct{}{}
	}
	tracked.procs[p] = struct{}{}
}

func untrack(p *proc) {
	tracked.mu.Lock()
	defer tracked.mu.Unlock()
	delete(tracked.procs, p)
}

func pidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}

var sweepDirsOnce sync.Once

// tempDir names the directory after our pid so that a later run can tell the
// directories of crashed runs (dead pid) from those of concurrent ones.
func tempDir(kind string) (string, error) {
	sweepDirsOnce.Do(func() {
		old, _ := filepath.Glob(filepath.Join(os.TempDir(), "pgredis-*-*-*"))
		for _, dir := range old {
			parts := strings.SplitN(filepath.Base(dir), "-", 3)
			if pid, err := strconv.Atoi(parts[1]); err == nil && pid != os.Getpid() && !pidAlive(pid) {
				os.RemoveAll(dir)
			}
		}
	})
	return os.MkdirTemp("", fmt.Sprintf("pgredis-%d-%s-", os.Getpid(), kind))
}

var lockFile struct {
	once sync.Once
	f    *os.File
	err  error
}

// tryLock takes a cross-process lock on one byte of a shared file; the kernel
// releases it when this process exits, however it exits. The file is never
// closed because closing any descriptor of it would drop all our locks.
func tryLock(off int64) (bool, error) {
	lockFile.once.Do(func() {
		lockFile.f, lockFile.err = os.OpenFile(filepath.Join(os.TempDir(), "pgredis-testenv.lock"), os.O_RDWR|os.O_CREATE, 0o666)
	})
	if lockFile.err != nil {
		return false, lockFile.err
	}
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Start: off, Len: 1}
	err := syscall.FcntlFlock(lockFile.f.Fd(), syscall.F_SETLK, &lk)
	if err == syscall.EAGAIN || err == syscall.EACCES {
		return false, nil
	}
	return err == nil, err
}

func unlock(off int64) {
	lk := syscall.Flock_t{Type: syscall.F_UNLCK, Start: off, Len: 1}
	syscall.FcntlFlock(lockFile.f.Fd(), syscall.F_SETLK, &lk)
}
