package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
	"github.com/pgredis/pgredis/notify"
	"github.com/pgredis/pgredis/worker"
)

// counter reads a counter from reg by name and label value ("" for none).
func counter(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			ok := label == ""
			for _, l := range m.Label {
				ok = ok || l.GetValue() == label
			}
			if ok {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// Item 4: a resync request sent in the same transaction (so the same
// batch) as a change Redis refuses is answered, and so is one sent while
// Redis refuses; pgredis resync fails with a one-line error instead of
// hanging, and works again once Redis accepts writes.
func TestResyncDuringRedisRefusal(t *testing.T) {
	t.Parallel()
	r := testenv.StartRedis(t, "--maxmemory-policy", "noeviction")
	b := bundleAt(t, "", r.URL(0))
	logs := startLogged(t, b)
	b.WaitMirror(t, 30*time.Second)
	ctx := context.Background()

	listener, err := pgx.Connect(ctx, b.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close(ctx)
	if _, err := listener.Exec(ctx, "LISTEN "+notify.ReplyChannel); err != nil {
		t.Fatal(err)
	}
	used, err := b.Redis.InfoMap(ctx, "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Redis.ConfigSet(ctx, "maxmemory", used["Memory"]["used_memory"]).Err(); err != nil {
		t.Fatal(err)
	}
	req := notify.Control{Kind: "resync", ID: "same-batch-request"}
	b.Exec(t, fmt.Sprintf(`BEGIN; UPDATE acct SET note = repeat('x', 10000); SELECT pg_notify('%s', '%s'); COMMIT`, notify.Channel, req.Encode()))
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		n, err := listener.WaitForNotification(wctx)
		if err != nil {
			t.Fatalf("the resync request sent with a refused change was never answered: %v", err)
		}
		id, body, _ := strings.Cut(n.Payload, " ")
		if id != req.ID {
			continue
		}
		var m struct {
			Error string `json:"error"`
			Done  bool   `json:"done"`
		}
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatal(err)
		}
		if m.Done {
			if !strings.Contains(m.Error, "OOM") {
				t.Fatalf("answer %s, want an error naming the refusal", body)
			}
			break
		}
	}
	logs.Wait(t, 20*time.Second, "Redis is refusing writes")

	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	_, err = worker.Resync(rctx, b.Config(t), nil, false, nil)
	if err == nil || rctx.Err() != nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "cannot write to Redis") {
		t.Fatalf("resync during the refusal: %v; want a one-line error naming Redis, at once", err)
	}
	if err := b.Redis.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	b.WaitMirror(t, 30*time.Second)
	if _, err := worker.Resync(ctx, b.Config(t), nil, false, nil); err != nil {
		t.Fatalf("resync once Redis accepts writes: %v", err)
	}
}

// Item 7: a PostgreSQL error while the worker rereads the registry (a
// trigger it does not know sent a change) is a PostgreSQL error: the
// worker reconnects, nothing is logged or counted as Redis's, and the
// mirror recovers once the registry reads again.
func TestRegistryErrorIsNotARedisError(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, faultDDL, faultTables)
	cfg := b.Config(t)
	var logs *pgredistest.Logs
	cfg.Logger, logs = pgredistest.CaptureLogs(t)
	reg := prometheus.NewRegistry()
	cfg.Metrics = worker.NewMetrics(reg)
	cfg.MaxBackoff = 500 * time.Millisecond
	b.StartWorkerWith(t, cfg)
	b.WaitMirror(t, 30*time.Second)

	b.Exec(t, `ALTER TABLE pgredis.tables RENAME COLUMN fetch_sql TO fetch_sql_moved`)
	b.Exec(t, `SELECT pg_notify('pgredis', E'p1 0123456789abcdef 1 1\nS7:acct:151:x')`)
	logs.Wait(t, 20*time.Second, "fetch_sql")
	b.Exec(t, `UPDATE acct SET v = v + 1 WHERE id < 20`)
	b.Exec(t, `ALTER TABLE pgredis.tables RENAME COLUMN fetch_sql_moved TO fetch_sql`)
	b.WaitMirror(t, 30*time.Second)
	if lines := logs.Lines("Redis is"); len(lines) > 0 {
		t.Fatalf("a PostgreSQL error was logged as Redis's:\n%s", strings.Join(lines, "\n"))
	}
	if n := counter(t, reg, "pgredis_apply_errors_total", "redis"); n != 0 {
		t.Fatalf("pgredis_apply_errors_total{kind=redis} = %v, want 0", n)
	}
	if n := counter(t, reg, "pgredis_apply_errors_total", "postgres"); n < 1 {
		t.Fatalf("pgredis_apply_errors_total{kind=postgres} = %v, want at least 1", n)
	}
}

// Item 9: a Worker starts once (a second Start is an error, not a panic),
// Stop takes a context and may be called again.
func TestStartTwiceAndStop(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, faultDDL, faultTables)
	w, err := worker.New(b.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctx); err == nil || !strings.Contains(err.Error(), "already started") {
		t.Fatalf("second Start: %v, want an error", err)
	}
	b.WaitMirror(t, 30*time.Second)
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := w.Stop(sctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Stop(sctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if w.Ready() == nil {
		t.Fatal("a stopped worker is ready")
	}
}

// Item 4: a lock holder that never takes the request (a stalled worker)
// makes pgredis resync fail with a one-line error after
// ResyncAckTimeout, instead of waiting forever.
func TestResyncTimesOutOnAStalledWorker(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, faultDDL, faultTables)
	ctx := context.Background()
	pgcfg, err := pgx.ParseConfig(b.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	stalled, err := notify.Dial(ctx, pgcfg, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close(ctx)
	if ok, err := stalled.TryLock(ctx); err != nil || !ok {
		t.Fatalf("taking the worker lock: %v %v", ok, err)
	}
	cfg := b.Config(t)
	cfg.ResyncAckTimeout = 2 * time.Second
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	start := time.Now()
	_, err = worker.Resync(rctx, cfg, nil, false, nil)
	if err == nil || rctx.Err() != nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "did not take the resync request") {
		t.Fatalf("resync against a stalled worker: %v after %s; want a one-line timeout error", err, time.Since(start))
	}
}
