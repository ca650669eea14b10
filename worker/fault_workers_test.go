package worker_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
	"github.com/pgredis/pgredis/notify"
	"github.com/pgredis/pgredis/worker"
)

// sampleActive samples the workers' Active() every 2ms until stopped and
// reports the most that were active at once.
func sampleActive(ws []*worker.Worker) (stop func() int) {
	var most atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			n := 0
			for _, w := range ws {
				if w.Active() {
					n++
				}
			}
			if int64(n) > most.Load() {
				most.Store(int64(n))
			}
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return func() int { close(done); wg.Wait(); return int(most.Load()) }
}

func activeOne(ws []*worker.Worker) (int, error) {
	idx := -1
	for i, w := range ws {
		if w.Active() {
			if idx >= 0 {
				return -1, fmt.Errorf("workers %d and %d both active", idx, i)
			}
			idx = i
		}
	}
	if idx < 0 {
		return -1, fmt.Errorf("no worker active")
	}
	return idx, nil
}

// Fault 4: several workers at once; exactly one applies, and when it goes
// (stopped, or its lock session terminated) a standby takes over within
// 10s and reconciles before applying.
func TestFaultManyWorkers(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, faultDDL, faultTables)
	var ws []*worker.Worker
	for i := range 3 {
		cfg := b.Config(t)
		cfg.ApplicationName = fmt.Sprintf("pgredis test worker %d", i)
		ws = append(ws, b.StartWorkerWith(t, cfg))
	}
	b.WaitMirror(t, 30*time.Second)
	stopSampling := sampleActive(ws)
	w := startWriter(t, b)
	w.waitCommits(t, 200)
	if n := lockHolders(t, b); n != 1 {
		t.Fatalf("%d sessions hold the worker lock", n)
	}
	first, err := activeOne(ws)
	if err != nil {
		t.Fatal(err)
	}

	// The active one stops (a deploy); a standby takes over.
	stopped := time.Now()
	_ = ws[first].Stop(context.Background())
	var second int
	testenv.Eventually(t, 10*time.Second, func() error {
		second, err = activeOne(ws)
		return err
	})
	measured(t, "fault 4: standby active after the active worker stopped", time.Since(stopped))
	w.waitCommits(t, 200)
	if most := stopSampling(); most != 1 {
		t.Fatalf("%d workers were active at once", most)
	}

	// The lock session of the new active one is terminated; the last
	// standby (or the same worker, reconnecting) takes over.
	info, ok, err := notify.ActiveWorker(context.Background(), b.PG)
	if err != nil || !ok {
		t.Fatalf("no lock holder: %v", err)
	}
	if _, err := b.PG.Exec(context.Background(), "SELECT pg_terminate_backend($1)", info.PID); err != nil {
		t.Fatal(err)
	}
	measured(t, "fault 4: lock retaken after its session was terminated", waitNewHolder(t, b, uint32(info.PID)))
	w.waitCommits(t, 100)
	measured(t, "fault 4: convergence after writes stop", convergeTime(t, b, w))
	if n := lockHolders(t, b); n != 1 {
		t.Fatalf("%d sessions hold the worker lock", n)
	}
	_ = second
}

// Fault 4 with real processes: the active worker is killed with SIGKILL,
// the standby process takes over within 10s and converges.
func TestFaultKillActiveProcess(t *testing.T) {
	t.Parallel()
	b, a, s, w := activeStandbyWriter(t)
	killed := time.Now()
	a.signal(t, syscall.SIGKILL)
	waitActiveProc(t, b, s, 10*time.Second)
	measured(t, "fault 4: standby process took the lock after SIGKILL of the active one", time.Since(killed))
	s.logs.Wait(t, 20*time.Second, "table reconciled")
	w.waitCommits(t, 100)
	measured(t, "fault 4 (processes): convergence after writes stop", convergeTime(t, b, w))
}
