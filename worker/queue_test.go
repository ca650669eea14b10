package worker_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
	"github.com/pgredis/pgredis/mirror"
	"github.com/pgredis/pgredis/worker"
)

// hotDDL is a few hot keys the switch tests fight over.
const hotDDL = `CREATE TABLE hot (id int PRIMARY KEY, v int NOT NULL DEFAULT 0, note text);
INSERT INTO hot SELECT g, 0, 'n' || g FROM generate_series(1, 12) g`

// switchWorker starts a worker that switches the capture mode every
// interval, and returns its metrics.
func switchWorker(t *testing.T, b *pgredistest.Bundle, interval time.Duration) (*worker.Worker, *prometheus.Registry) {
	t.Helper()
	cfg := b.Config(t)
	reg := prometheus.NewRegistry()
	cfg.Metrics = worker.NewMetrics(reg)
	cfg.CaptureAlternate = interval
	w := b.StartWorkerWith(t, cfg)
	b.WaitMirror(t, 30*time.Second)
	return w, reg
}

func switches(t *testing.T, reg *prometheus.Registry) (toQueue, toNotify float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "pgredis_capture_switches_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				switch l.GetValue() {
				case "to_queue":
					toQueue = m.GetCounter().GetValue()
				case "to_notify":
					toNotify = m.GetCounter().GetValue()
				}
			}
		}
	}
	return toQueue, toNotify
}

// hotWriters runs n connections updating, moving and deleting the hot
// keys (single statements, multi-statement and REPEATABLE READ
// transactions) until ctx ends. Errors (deadlocks, serialization
// failures) roll back and are counted.
func hotWriters(ctx context.Context, t *testing.T, url string, n int) (commits *atomic.Int64, wait func()) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = int32(n)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	commits = &atomic.Int64{}
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				id := 1 + rand.IntN(12)
				var err error
				switch rand.IntN(8) {
				case 0, 1, 2:
					_, err = pool.Exec(ctx, `UPDATE hot SET v = v + 1, note = md5(random()::text) WHERE id = $1`, id)
				case 3:
					// Move a key away and (another time) back.
					_, err = pool.Exec(ctx, `UPDATE hot SET id = CASE WHEN id > 100 THEN id - 100 ELSE id + 100 END
						WHERE id IN ($1, $1 + 100) AND NOT EXISTS (SELECT 1 FROM hot h WHERE h.id = CASE WHEN hot.id > 100 THEN hot.id - 100 ELSE hot.id + 100 END)`, id)
				case 4:
					_, err = pool.Exec(ctx, `DELETE FROM hot WHERE id = $1`, id)
				case 5:
					_, err = pool.Exec(ctx, `INSERT INTO hot VALUES ($1, 1, 'i') ON CONFLICT (id) DO UPDATE SET v = hot.v + 1, note = 'u'`, id)
				default:
					iso := pgx.ReadCommitted
					if rand.IntN(2) == 0 {
						iso = pgx.RepeatableRead
					}
					err = pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{IsoLevel: iso}, func(tx pgx.Tx) error {
						if _, err := tx.Exec(ctx, `UPDATE hot SET note = 'x' || v WHERE id = $1`, id); err != nil {
							return err
						}
						time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond)
						_, err := tx.Exec(ctx, `UPDATE hot SET v = v * 2 WHERE id = $1`, 1+rand.IntN(12))
						return err
					})
				}
				if err == nil {
					commits.Add(1)
				} else {
					// A fault may be under way: do not spin.
					time.Sleep(5 * time.Millisecond)
				}
			}
		}()
	}
	return commits, func() {
		wg.Wait()
		pool.Close()
	}
}

// Issue 9: 16 connections update, move and delete a few hot keys while
// the worker switches between notify and queue mode again and again; the
// mirror is exact after every round.
func TestCaptureSwitchUnderLoad(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, hotDDL, "hot")
	_, reg := switchWorker(t, b, 150*time.Millisecond)
	for round := range 4 {
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		commits, wait := hotWriters(ctx, t, b.DatabaseURL, 16)
		wait()
		cancel()
		b.WaitMirror(t, 30*time.Second)
		q, n := switches(t, reg)
		t.Logf("round %d: %d commits, switches so far: %v to queue, %v to notify", round, commits.Load(), q, n)
	}
	if q, n := switches(t, reg); q < 4 || n < 4 {
		t.Fatalf("the worker switched %v times to queue and %v to notify, want several of each", q, n)
	}
}

// An application transaction that fired the trigger in one mode commits
// after the switch began (the switch waits for it), in either isolation
// level; its changes reach Redis whole and in order.
func TestCaptureTransactionAcrossSwitch(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, hotDDL, "hot")
	_, reg := switchWorker(t, b, 100*time.Millisecond)
	ctx := context.Background()
	for i := range 8 {
		iso := pgx.ReadCommitted
		if i%2 == 0 {
			iso = pgx.RepeatableRead
		}
		q0, n0 := switches(t, reg)
		tx, err := b.PG.BeginTx(ctx, pgx.TxOptions{IsoLevel: iso})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `UPDATE hot SET v = $1 WHERE id = 1`, 1000+i); err != nil {
			t.Fatal(err)
		}
		// Held open across a few switch periods (a switch waits for it).
		time.Sleep(time.Duration(150+rand.IntN(200)) * time.Millisecond)
		if _, err := tx.Exec(ctx, `UPDATE hot SET v = $1 WHERE id = 2`, 2000+i); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		b.Exec(t, `UPDATE hot SET v = v + 1 WHERE id = 1`)
		b.WaitMirror(t, 20*time.Second)
		if v := mirroredV(t, b, "hot:1"); v != 1001+i {
			t.Fatalf("hot:1 = %d, want %d", v, 1001+i)
		}
		q1, n1 := switches(t, reg)
		t.Logf("transaction %d (%s): switches meanwhile %v to queue, %v to notify", i, iso, q1-q0, n1-n0)
	}
	if q, n := switches(t, reg); q+n < 4 {
		t.Fatalf("the worker switched %v times, want several", q+n)
	}
}

// In queue mode a barrier is answered only once every change committed
// before it is in Redis: the worker drains the queue before it answers.
func TestCaptureQueueBarrier(t *testing.T) {
	t.Parallel()
	// A slow poll: only the barrier's drain can bring the change in time.
	b, reg := startQueueMode(t, nil)
	ctx := context.Background()
	for i := 1; i <= 50; i++ {
		b.Exec(t, `UPDATE hot SET v = $1 WHERE id = 3`, i)
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := mirror.WaitForMirror(wctx, b.PG, b.Redis)
		cancel()
		if err != nil {
			t.Fatalf("iteration %d: %v", i, err)
		}
		if v := mirroredV(t, b, "hot:3"); v != i {
			t.Fatalf("iteration %d: after the barrier, Redis has v=%d, want %d", i, v, i)
		}
	}
	if mode := gaugeOf(t, reg, "pgredis_capture_mode"); mode != 1 {
		t.Fatalf("capture mode %v, want 1 (queue)", mode)
	}
}

// startQueueMode starts a worker on the hot table held in queue mode,
// draining only when something asks it to (an hour's poll, no
// heartbeats), and waits until it switched.
func startQueueMode(t *testing.T, configure func(*worker.Config)) (*pgredistest.Bundle, *prometheus.Registry) {
	t.Helper()
	b := pgredistest.New(t, hotDDL, "hot")
	cfg := b.Config(t)
	cfg.Capture = worker.CaptureQueue
	cfg.CapturePoll = time.Hour
	cfg.HeartbeatInterval = time.Hour
	reg := prometheus.NewRegistry()
	cfg.Metrics = worker.NewMetrics(reg)
	if configure != nil {
		configure(&cfg)
	}
	b.StartWorkerWith(t, cfg)
	b.WaitMirror(t, 30*time.Second)
	testenv.Eventually(t, 10*time.Second, func() error {
		if q, _ := switches(t, reg); q < 1 {
			return fmt.Errorf("not in queue mode yet")
		}
		return nil
	})
	return b, reg
}

func gaugeOf(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}

// A worker that holds queue mode but does not drain (here: it polls once
// an hour and nothing else makes it drain) is bounded: a writer more than
// a million payloads past the last drain appends nothing and tells the
// worker, which rebuilds the mirror (the change reaches Redis through the
// rebuild's reconcile).
func TestCaptureQueueBound(t *testing.T) {
	t.Parallel()
	var logs *pgredistest.Logs
	b, _ := startQueueMode(t, func(cfg *worker.Config) { cfg.Logger, logs = pgredistest.CaptureLogs(t) })
	// Settle: the switch's own drains are done.
	time.Sleep(300 * time.Millisecond)
	b.Exec(t, `SELECT setval('pgredis.seq', (SELECT last_value FROM pgredis.seq) + 2000000)`)
	b.Exec(t, `UPDATE hot SET v = 4242 WHERE id = 4`)
	var queued int
	if err := b.PG.QueryRow(context.Background(), `SELECT count(*) FROM pgredis.queue`).Scan(&queued); err != nil {
		t.Fatal(err)
	}
	if queued != 0 {
		t.Fatalf("%d rows queued beyond the bound", queued)
	}
	logs.Wait(t, 20*time.Second, "the capture queue reached its bound")
	b.WaitMirror(t, 30*time.Second)
}

// A transaction appends at most 64 payloads of a table to the queue (the
// worker drains transactions whole, in memory), then one request to
// reconcile the table; the mirror is exact after the reconcile.
func TestCaptureQueueLargeTransaction(t *testing.T) {
	t.Parallel()
	b, _ := startQueueMode(t, nil)
	time.Sleep(300 * time.Millisecond)
	if !queueModeHeld(t, b) {
		t.Fatal("queue mode not held")
	}
	b.Exec(t, `INSERT INTO hot SELECT g, g, repeat('x', 100) FROM generate_series(100, 40099) g`)
	var rows int
	if err := b.PG.QueryRow(context.Background(), `SELECT count(*) FROM pgredis.queue`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 65 {
		t.Fatalf("the transaction queued %d rows, want 64 and a reconcile request", rows)
	}
	// The barrier makes the worker drain.
	wctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := mirror.WaitForMirror(wctx, b.PG, b.Redis); err != nil {
		t.Fatal(err)
	}
	b.WaitMirror(t, 30*time.Second)
}
