package worker_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/pgredis/pgredis/internal/pgredistest"
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
