package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc supervises one server process that can be stopped and started again
// with the same command line (and thus the same port and directory).
type proc struct {
	name    string
	dir     string // private temp dir, removed by close
	argv    []string
	cred    *syscall.Credential // run as this user; nil: as ourselves
	termSig syscall.Signal      // polite shutdown used by close

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !closed(p.done) {
		return fmt.Errorf("%s is already running", p.name)
	}
	log, err := os.OpenFile(p.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = p.dir, log, log
	// Pdeathsig: the server dies with the test process even on a crash or a
	// test timeout, when neither t.Cleanup nor Main gets to run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: p.termSig, Credential: p.cred}
	if err := cmd.Start(); err != nil {
		return err
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func(done chan struct{}) { cmd.Wait(); close(done) }(p.done)
	return nil
}

// stop sends sig and waits for the exit, escalating to SIGKILL after 5s.
func (p *proc) stop(sig syscall.Signal) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	select {
	case <-done:
		return
	case <-time.After(5 * time.Second):
	}
	cmd.Process.Kill()
	<-done
}

func (p *proc) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil {
		t.Fatalf("testenv: %s is not running", p.name)
	}
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatalf("testenv: signalling %s: %v", p.name, err)
	}
}

func (p *proc) close() {
	p.stop(p.termSig)
	os.RemoveAll(p.dir)
	untrack(p)
}

// waitReady polls ready, giving up at once if the process exits meanwhile.
func (p *proc) waitReady(timeout time.Duration, ready func() error) error {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	err := poll(timeout, func() error {
		if closed(done) {
			return fmt.Errorf("%w: exited", errGiveUp)
		}
		return ready()
	})
	if err != nil {
		out, _ := os.ReadFile(p.logPath())
		if len(out) > 4000 {
			out = out[len(out)-4000:]
		}
		return fmt.Errorf("%s %v not ready: %v; log:\n%s", p.name, p.argv[1:], err, out)
	}
	return nil
}

func (p *proc) logPath() string { return filepath.Join(p.dir, "server.log") }

func closed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
