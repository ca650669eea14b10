package worker_test

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
)

// Fault 1: the worker process is killed with SIGKILL; rows are inserted,
// updated and deleted while no worker runs; a new worker converges.
func TestFaultWorkerSIGKILL(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, faultDDL, faultTables)
	first := startWorkerProc(t, b)
	b.WaitMirror(t, 30*time.Second)
	w := startWriter(t, b)
	w.waitCommits(t, 50)

	first.signal(t, syscall.SIGKILL)
	first.wait(t, 10*time.Second)
	w.waitCommits(t, 200) // inserts, updates, deletes nobody hears

	started := time.Now()
	second := startWorkerProc(t, b)
	waitActiveProc(t, b, second, 20*time.Second)
	measured(t, "fault 1: new worker active after start", time.Since(started))
	w.waitCommits(t, 50)
	measured(t, "fault 1: convergence after writes stop", convergeTime(t, b, w))
}

// Fault 6: SIGTERM (and SIGINT) stop the worker within 5s with exit code
// 0; the lock is released at once, so the standby takes over, and nothing
// is lost.
func TestFaultWorkerSignals(t *testing.T) {
	t.Parallel()
	b, a, s, w := activeStandbyWriter(t)

	sent := time.Now()
	a.signal(t, syscall.SIGTERM)
	if code := a.wait(t, 5*time.Second); code != 0 {
		t.Fatalf("worker exited %d after SIGTERM, want 0", code)
	}
	measured(t, "fault 6: worker exited after SIGTERM", a.exit.Sub(sent))
	waitActiveProc(t, b, s, 10*time.Second)
	measured(t, "fault 6: standby took the lock after SIGTERM of the active one", time.Since(sent))
	w.waitCommits(t, 100)
	measured(t, "fault 6: convergence after writes stop", convergeTime(t, b, w))

	sent = time.Now()
	s.signal(t, syscall.SIGINT)
	if code := s.wait(t, 5*time.Second); code != 0 {
		t.Fatalf("worker exited %d after SIGINT, want 0", code)
	}
	measured(t, "fault 6: worker exited after SIGINT", s.exit.Sub(sent))
	// The session was closed, not cut: its backend goes at once.
	testenv.Eventually(t, 10*time.Second, func() error {
		if n := lockHolders(t, b); n != 0 {
			return fmt.Errorf("%d sessions still hold the worker lock", n)
		}
		return nil
	})
}

// Fault 6: a second signal exits at once, even while the first one's stop
// waits on a Redis that hangs.
func TestFaultWorkerSecondSignal(t *testing.T) {
	t.Parallel()
	r := testenv.StartRedis(t)
	b := bundleAt(t, "", r.URL(0))
	p := startWorkerProc(t, b)
	waitActiveProc(t, b, p, 20*time.Second)
	b.WaitMirror(t, 30*time.Second)
	w := startWriter(t, b)
	w.waitCommits(t, 20)
	r.Pause(t)
	t.Cleanup(func() { r.Resume(t) })
	w.waitCommits(t, 20) // the worker is stuck on a Redis call now
	p.signal(t, syscall.SIGTERM)
	p.logs.Wait(t, 20*time.Second, "stopping worker")
	sent := time.Now()
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 5*time.Second); code != 0 {
		t.Fatalf("worker exited %d after a second SIGTERM, want 0", code)
	}
	measured(t, "fault 6: worker exited after a second SIGTERM", p.exit.Sub(sent))
	if d := p.exit.Sub(sent); d > time.Second {
		t.Fatalf("worker took %v to exit after the second signal", d)
	}
	p.logs.Wait(t, time.Second, "second signal")
}
