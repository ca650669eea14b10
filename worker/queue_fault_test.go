package worker_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
	"github.com/pgredis/pgredis/notify"
	"github.com/pgredis/pgredis/worker"
)

// queueModeHeld reports whether some session holds the queue-mode lock.
func queueModeHeld(t *testing.T, b *pgredistest.Bundle) bool {
	t.Helper()
	held, err := notify.QueueModeHeld(context.Background(), b.PG)
	if err != nil {
		t.Fatal(err)
	}
	return held
}

// The active worker process is SIGKILLed while it switches capture modes
// back and forth under 16 writing connections; a standby takes over
// (discarding the queue its start-up reconcile covers), and the mirror is
// exact after every round.
func TestCaptureKilledDuringSwitch(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, hotDDL, "hot")
	env := []string{"PGREDIS_TEST_CAPTURE_ALTERNATE=150ms"}
	procs := map[int]*workerProc{}
	start := func() {
		p := startWorkerProc(t, b, env...)
		procs[p.cmd.Process.Pid] = p
	}
	start()
	start()
	b.WaitMirror(t, 30*time.Second)
	queued := 0
	for round := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
		commits, wait := hotWriters(ctx, t, b.DatabaseURL, 16)
		time.Sleep(time.Duration(600+rand.IntN(600)) * time.Millisecond)
		pid, err := activeWorkerPID(context.Background(), b)
		if err != nil || procs[pid] == nil {
			t.Fatalf("round %d: no active worker process (%v)", round, err)
		}
		if queueModeHeld(t, b) {
			queued++
		}
		procs[pid].signal(t, syscall.SIGKILL)
		procs[pid].wait(t, 10*time.Second)
		delete(procs, pid)
		start()
		wait()
		cancel()
		b.WaitMirror(t, 30*time.Second)
		t.Logf("round %d: %d commits, killed pid %d", round, commits.Load(), pid)
	}
	t.Logf("%d of 3 kills hit queue mode or a switch", queued)
}

// PostgreSQL stops at once (as in a crash: the unlogged queue is emptied
// by recovery) while the worker switches modes under 16 writers; the
// worker reconnects, reconciles and the mirror is exact.
func TestCapturePostgresCrash(t *testing.T) {
	t.Parallel()
	pg := testenv.StartPostgres(t)
	migratedDB(t, pg, "mirror")
	ctx := context.Background()
	b := pgredistest.Open(t, pg.URL("mirror"), testenv.Redis(t), "")
	b.Exec(t, hotDDL)
	b.Install(t, "hot")
	_, reg := switchWorker(t, b, 150*time.Millisecond)
	for round := range 2 {
		wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		commits, wait := hotWriters(wctx, t, b.DatabaseURL, 16)
		testenv.Eventually(t, 10*time.Second, func() error {
			if !queueModeHeld(t, b) {
				return fmt.Errorf("not in queue mode")
			}
			return nil
		})
		pg.Restart(t)
		wait()
		cancel()
		b.WaitMirror(t, 60*time.Second)
		q, n := switches(t, reg)
		t.Logf("round %d: %d commits; switches %v to queue, %v to notify", round, commits.Load(), q, n)
	}
}

// Redis is killed while the worker holds queue mode under 8 writers, and
// comes back empty: meanwhile the worker goes on draining the queue (and
// drops what it drains, as it drops notifications), so the queue does not
// grow while Redis is out; once Redis is back the mirror is rebuilt and
// exact.
func TestCaptureRedisRestartInQueueMode(t *testing.T) {
	t.Parallel()
	r := testenv.StartRedis(t)
	b := pgredistest.Open(t, testenv.Database(t, "migrated", pgredistest.Migrate), r.URL(0), "")
	b.Exec(t, hotDDL)
	b.Install(t, "hot")
	cfg := b.Config(t)
	cfg.Capture = worker.CaptureQueue
	cfg.MaxBackoff = 500 * time.Millisecond
	reg := prometheus.NewRegistry()
	cfg.Metrics = worker.NewMetrics(reg)
	var logs *pgredistest.Logs
	cfg.Logger, logs = pgredistest.CaptureLogs(t)
	b.StartWorkerWith(t, cfg)
	b.WaitMirror(t, 30*time.Second)
	testenv.Eventually(t, 10*time.Second, func() error {
		if !queueModeHeld(t, b) {
			return fmt.Errorf("not in queue mode yet")
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	commits, wait := hotWriters(ctx, t, b.DatabaseURL, 8)
	waitFor := func(n int64) {
		t.Helper()
		from := commits.Load()
		testenv.Eventually(t, 30*time.Second, func() error {
			if got := commits.Load() - from; got < n {
				return fmt.Errorf("%d of %d commits", got, n)
			}
			return nil
		})
	}
	waitFor(200)
	r.Stop(t)
	logs.Wait(t, 20*time.Second, "Redis is unavailable")
	waitFor(500)
	// What committed while Redis was out leaves the queue all the same.
	testenv.Eventually(t, 20*time.Second, func() error {
		var depth int64
		if err := b.PG.QueryRow(ctx, `SELECT count(*) FROM pgredis.queue`).Scan(&depth); err != nil {
			return err
		}
		if depth > 200 {
			return fmt.Errorf("%d rows in the queue while Redis is out", depth)
		}
		return nil
	})
	if !queueModeHeld(t, b) {
		t.Fatal("the worker left queue mode while Redis was out")
	}
	active := len(logs.Lines("worker is active"))
	r.Start(t)
	// Redis comes back empty: the worker repairs it in its tenure ("Redis
	// is back") or by a new one (seen once against Valkey: the claim's lock
	// check found the lock gone and the worker reconnected); either way it
	// reconciles and keeps draining, which the mirror check below proves.
	testenv.Eventually(t, 30*time.Second, func() error {
		if len(logs.Lines("Redis is back")) > 0 || len(logs.Lines("worker is active")) > active {
			return nil
		}
		return fmt.Errorf("no log line with %q, and no new tenure", "Redis is back")
	})
	waitFor(200)
	cancel()
	wait()
	b.WaitMirror(t, 30*time.Second)
	t.Logf("%d commits", commits.Load())
}

// Rows a worker left in the capture queue when it went away (killed in
// queue mode) are older than the next claim's reconcile: the claim
// discards them, or draining them later would put older values back.
// Here a session that holds queue mode stands for the worker that died.
func TestClaimDiscardsLeftQueue(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, hotDDL, "hot")
	ctx := context.Background()
	dead, err := pgx.Connect(ctx, b.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close(ctx)
	if _, err := dead.Exec(ctx, "SELECT pg_advisory_lock($1)", notify.QueueModeKey); err != nil {
		t.Fatal(err)
	}
	b.Exec(t, `UPDATE hot SET v = 100 WHERE id = 1; UPDATE hot SET v = 200, note = NULL WHERE id = 2; DELETE FROM hot WHERE id = 3`)
	var left int
	if err := b.PG.QueryRow(ctx, `SELECT count(*) FROM pgredis.queue`).Scan(&left); err != nil || left < 3 {
		t.Fatalf("%d rows queued (%v), want 3", left, err)
	}
	if _, err := dead.Exec(ctx, "SELECT pg_advisory_unlock($1)", notify.QueueModeKey); err != nil {
		t.Fatal(err)
	}
	b.Exec(t, `UPDATE hot SET v = 300 WHERE id IN (1, 2); INSERT INTO hot VALUES (3, 3, 'back')`)
	cfg := b.Config(t)
	cfg.Capture = worker.CaptureQueue
	b.StartWorkerWith(t, cfg)
	testenv.Eventually(t, 10*time.Second, func() error {
		if !queueModeHeld(t, b) {
			return fmt.Errorf("not in queue mode yet")
		}
		return nil
	})
	b.WaitMirror(t, 30*time.Second)
}
