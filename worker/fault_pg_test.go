package worker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
	"github.com/pgredis/pgredis/notify"
	"github.com/pgredis/pgredis/worker"
)

// terminate ends every session of the worker (listener and pool) and
// returns the pid of the session that held the lock.
func terminate(t testing.TB, b *pgredistest.Bundle, app string) uint32 {
	t.Helper()
	info, ok, err := notify.ActiveWorker(context.Background(), b.PG)
	if err != nil || !ok {
		t.Fatalf("no active worker to terminate (%v)", err)
	}
	var n int
	err = b.PG.QueryRow(context.Background(), `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1) x`, app).Scan(&n)
	if err != nil || n == 0 {
		t.Fatalf("terminated %d sessions: %v", n, err)
	}
	return uint32(info.PID)
}

// waitNewHolder waits until a session other than old holds the lock.
func waitNewHolder(t testing.TB, b *pgredistest.Bundle, old uint32) time.Duration {
	t.Helper()
	start := time.Now()
	testenv.Eventually(t, 30*time.Second, func() error {
		info, ok, err := notify.ActiveWorker(context.Background(), b.PG)
		if err != nil {
			return err
		}
		if !ok || uint32(info.PID) == old {
			return fmt.Errorf("lock not yet retaken")
		}
		return nil
	})
	return time.Since(start)
}

// Fault 2: the worker's sessions are terminated while a writer commits;
// it reconnects, LISTENs again, reconciles and converges.
func TestFaultTerminateBackend(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, faultDDL, faultTables)
	cfg := b.Config(t)
	cfg.ApplicationName = "pgredis test " + t.Name()
	var logs *pgredistest.Logs
	cfg.Logger, logs = pgredistest.CaptureLogs(t)
	b.StartWorkerWith(t, cfg)
	b.WaitMirror(t, 30*time.Second)
	w := startWriter(t, b)
	for i := range 3 {
		w.waitCommits(t, 50)
		old := terminate(t, b, cfg.ApplicationName)
		measured(t, fmt.Sprintf("fault 2: lock retaken after pg_terminate_backend #%d", i+1), waitNewHolder(t, b, old))
	}
	w.waitCommits(t, 50)
	measured(t, "fault 2 (terminate): convergence after writes stop", convergeTime(t, b, w))
	if n := len(logs.Lines("worker lost its session; reconnecting")); n < 3 {
		t.Fatalf("logged %d reconnects, want 3", n)
	}
}

// A tenure that got to work resets the reconnect backoff: a worker whose
// session is terminated now and then reconnects quickly every time, not
// ever more slowly.
func TestReconnectBackoffResets(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, faultDDL, faultTables)
	cfg := b.Config(t)
	cfg.ApplicationName = "pgredis test " + t.Name()
	cfg.MaxBackoff = 10 * time.Second
	var logs *pgredistest.Logs
	cfg.Logger, logs = pgredistest.CaptureLogs(t)
	b.StartWorkerWith(t, cfg)
	for i := range 6 {
		testenv.Eventually(t, 30*time.Second, func() error {
			if n := len(logs.Lines("table reconciled")); n < i+1 {
				return fmt.Errorf("%d reconciles, want %d", n, i+1)
			}
			return nil
		})
		old := terminate(t, b, cfg.ApplicationName)
		if d := waitNewHolder(t, b, old); d > 1500*time.Millisecond {
			t.Fatalf("reconnect #%d took %v: the backoff grew across healthy tenures", i+1, d)
		}
	}
	b.WaitMirror(t, 30*time.Second)
}

// Fault 2, second half: PostgreSQL itself restarts under the writer.
func TestFaultPostgresRestart(t *testing.T) {
	t.Parallel()
	pg := testenv.StartPostgres(t)
	migratedDB(t, pg, "mirror")
	b := bundleAt(t, pg.URL("mirror"), "")
	cfg := b.Config(t)
	var logs *pgredistest.Logs
	cfg.Logger, logs = pgredistest.CaptureLogs(t)
	wk := b.StartWorkerWith(t, cfg)
	b.WaitMirror(t, 30*time.Second)
	w := startWriter(t, b)
	w.waitCommits(t, 50)

	restarted := time.Now()
	pg.Restart(t)
	testenv.Eventually(t, 30*time.Second, func() error {
		if len(logs.Lines("worker is active")) < 2 || !wk.Active() {
			return fmt.Errorf("worker not active again")
		}
		return nil
	})
	measured(t, "fault 2 (PostgreSQL restart): worker active again after the restart began", time.Since(restarted))
	w.waitCommits(t, 100)
	measured(t, "fault 2 (PostgreSQL restart): convergence after writes stop", convergeTime(t, b, w))
	var _ worker.Config = cfg
}
