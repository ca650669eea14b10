package worker_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
	"github.com/pgredis/pgredis/worker"
)

// audited starts a worker with a short audit interval, captured logs and
// metrics.
func audited(t *testing.T, b *pgredistest.Bundle, interval time.Duration) (*pgredistest.Logs, *prometheus.Registry) {
	t.Helper()
	cfg := b.Config(t)
	var logs *pgredistest.Logs
	cfg.Logger, logs = pgredistest.CaptureLogs(t)
	reg := prometheus.NewRegistry()
	cfg.Metrics = worker.NewMetrics(reg)
	cfg.AuditInterval = interval
	cfg.MaxBackoff = 500 * time.Millisecond
	b.StartWorkerWith(t, cfg)
	b.WaitMirror(t, 30*time.Second)
	return logs, reg
}

// Item 2: keys deleted, changed and added by hand in Redis while a worker
// runs (no restart, no resync) are repaired by the audit within its
// interval, logged and counted by cause.
func TestAuditRepairsDrift(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, faultDDL+`; CREATE TABLE doc (id int PRIMARY KEY, v int);
		INSERT INTO doc SELECT g, g FROM generate_series(1, 50) g`, "acct; doc format=hash")
	logs, reg := audited(t, b, time.Second)
	ctx := context.Background()
	b.Redis.Del(ctx, "acct:1", "acct:2", "doc:3")
	b.Redis.Set(ctx, "acct:4", `{"id":4,"v":-1,"note":"by hand"}`, 0)
	b.Redis.HSet(ctx, "doc:5", "v", "-5")
	b.Redis.Set(ctx, "acct:9999", `{"id":9999}`, 0)
	start := time.Now()
	b.WaitMirror(t, 10*time.Second)
	t.Logf("drift repaired in %s", time.Since(start).Round(time.Millisecond))
	logs.Wait(t, 20*time.Second, "audit repaired drift", "table=public.acct")
	logs.Wait(t, 20*time.Second, "audit repaired drift", "table=public.doc")
	for cause, want := range map[string]float64{"missing": 3, "changed": 2, "extra": 1} {
		if n := sumBy(t, reg, "pgredis_audit_keys_total", "cause", cause); n != want {
			t.Errorf("pgredis_audit_keys_total{cause=%s} = %v, want %v", cause, n, want)
		}
	}
}

// sumBy sums a metric's series whose label has value.
func sumBy(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
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
			for _, l := range m.Label {
				if l.GetName() == label && l.GetValue() == value {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

// The ttl= decision: a ttl= key may be missing once its TTL passed; the
// audit and a reconcile re-add it with a fresh TTL and count it as
// expired, not as drift. A key present is exact.
func TestTTLKeyMissingIsExpiredNotDrift(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, faultDDL, "acct ttl=1h")
	ctx := context.Background()
	b.Redis.Del(ctx, "acct:1", "acct:2")
	b.Redis.Set(ctx, "acct:3", "changed by hand", time.Hour)
	reports, err := worker.Resync(ctx, b.Config(t), nil, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The resync ran before any worker: every key but the one set by
	// hand was missing.
	if r := reports[0]; r.Expired != 199 || r.Written != 1 {
		t.Fatalf("first resync %+v, want 199 expired, 1 written", r)
	}
	b.RequireMirror(t)
	b.Redis.Del(ctx, "acct:1", "acct:2")
	b.Redis.Set(ctx, "acct:3", "changed by hand", time.Hour)
	reports, err = worker.Resync(ctx, b.Config(t), nil, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := reports[0]; r.Expired != 2 || r.Written != 1 || r.Missing != 0 {
		t.Fatalf("resync %+v, want 2 expired, 1 written (the changed key), 0 missing", r)
	}
	b.RequireMirror(t)

	logs, reg := audited(t, b, 500*time.Millisecond)
	logs.Wait(t, 10*time.Second, "table reconciled") // the start-up reconcile, not the audit
	b.Redis.Del(ctx, "acct:7")
	b.WaitMirror(t, 10*time.Second)
	testenv.Eventually(t, 20*time.Second, func() error {
		if n := sumBy(t, reg, "pgredis_audit_keys_total", "cause", "expired"); n < 1 {
			return fmt.Errorf("no expired key counted")
		}
		return nil
	})
	if n := sumBy(t, reg, "pgredis_audit_keys_total", "cause", "missing"); n != 0 {
		t.Fatalf("a ttl= key counted as missing drift: %v", n)
	}
	if lines := logs.Lines("audit repaired drift"); len(lines) > 0 {
		t.Fatalf("an expired ttl= key was logged as drift: %s", lines[0])
	}
}

// Item 2: keys of a ttl= table evicted under maxmemory (volatile-lru) are
// re-added by the audit once Redis has room, without a restart.
func TestAuditRepairsEvictedKeys(t *testing.T) {
	t.Parallel()
	r := testenv.StartRedis(t, "--maxmemory-policy", "volatile-lru")
	b := bundleAt(t, "", r.URL(0))
	b.Exec(t, `CREATE TABLE blob (id int PRIMARY KEY, body text); INSERT INTO blob SELECT g, repeat('z', 2000) FROM generate_series(1, 2000) g`)
	b.Install(t, "acct; blob ttl=1h")
	_, reg := audited(t, b, time.Second)
	ctx := context.Background()
	used, err := b.Redis.InfoMap(ctx, "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.ParseInt(used["Memory"]["used_memory"], 10, 64)
	if err := b.Redis.ConfigSet(ctx, "maxmemory", strconv.FormatInt(n/2, 10)).Err(); err != nil {
		t.Fatal(err)
	}
	// Any write makes Redis evict down to the limit.
	b.Exec(t, `UPDATE acct SET v = v + 1 WHERE id = 1`)
	testenv.Eventually(t, 10*time.Second, func() error {
		stats, err := b.Redis.InfoMap(ctx, "stats").Result()
		if err != nil {
			return err
		}
		if stats["Stats"]["evicted_keys"] == "0" {
			return fmt.Errorf("nothing evicted yet")
		}
		return nil
	})
	if err := b.Redis.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	b.WaitMirror(t, 15*time.Second)
	if n := sumBy(t, reg, "pgredis_audit_keys_total", "cause", "expired"); n < 1 {
		t.Fatalf("evicted ttl= keys re-added: %v counted, want some", n)
	}
}

// Item 2: a Redis too small for the mirror is reported as such, and the
// worker does not rebuild in a loop; once Redis has room the mirror is
// whole again without operator action. Under allkeys-random the claim may
// be evicted with the rest or survive; under allkeys-lfu it survives (the
// claim check reads it often), and only the evicted count tells.
func TestRedisCannotHoldTheMirror(t *testing.T) {
	t.Parallel()
	for _, policy := range []string{"allkeys-random", "allkeys-lfu"} {
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			testRedisCannotHoldTheMirror(t, policy)
		})
	}
}

func testRedisCannotHoldTheMirror(t *testing.T, policy string) {
	r := testenv.StartRedis(t, "--maxmemory-policy", policy)
	b := bundleAt(t, "", r.URL(0))
	b.Exec(t, `CREATE TABLE blob (id int PRIMARY KEY, body text); INSERT INTO blob SELECT g, repeat('z', 2000) FROM generate_series(1, 2000) g`)
	b.Install(t, "acct; blob")
	cfg := b.Config(t)
	var logs *pgredistest.Logs
	cfg.Logger, logs = pgredistest.CaptureLogs(t)
	cfg.MaxBackoff = 2 * time.Second
	cfg.CheckInterval = 100 * time.Millisecond
	b.StartWorkerWith(t, cfg)
	b.WaitMirror(t, 30*time.Second)
	ctx := context.Background()
	used, err := b.Redis.InfoMap(ctx, "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.ParseInt(used["Memory"]["used_memory"], 10, 64)
	if err := b.Redis.ConfigSet(ctx, "maxmemory", strconv.FormatInt(n/3, 10)).Err(); err != nil {
		t.Fatal(err)
	}
	b.Exec(t, `UPDATE acct SET v = v + 1 WHERE id = 1`)
	line := logs.Wait(t, 30*time.Second, "Redis cannot hold the mirror")
	if !strings.Contains(line, "raise maxmemory") {
		t.Fatalf("the report lacks the fix: %s", line)
	}
	before := len(logs.Lines("table reconciled", "table=public.blob"))
	watch := time.Now()
	testenv.Eventually(t, 20*time.Second, func() error {
		if time.Since(watch) < 5*time.Second {
			return fmt.Errorf("watching")
		}
		return nil
	})
	if n := len(logs.Lines("table reconciled", "table=public.blob")) - before; n > 6 {
		t.Fatalf("%d rebuilds in 5s: the worker rebuilds in a loop", n)
	}
	if err := b.Redis.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	b.WaitMirror(t, 30*time.Second)
}

// Item 1: Redis restored from an older snapshot (an RDB saved, more
// writes mirrored, then Redis restarted from that file) still holds the
// worker's claim; the worker notices the new run_id and rebuilds, without
// the audit's help.
func TestRedisRestoredFromOlderSnapshot(t *testing.T) {
	t.Parallel()
	r := testenv.StartRedis(t)
	b := bundleAt(t, "", r.URL(0))
	cfg := b.Config(t)
	var logs *pgredistest.Logs
	cfg.Logger, logs = pgredistest.CaptureLogs(t)
	cfg.AuditInterval = -1
	cfg.CheckInterval = time.Second
	b.StartWorkerWith(t, cfg)
	b.WaitMirror(t, 30*time.Second)
	ctx := context.Background()
	if err := b.Redis.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	b.Exec(t, `UPDATE acct SET v = v + 100 WHERE id <= 50; DELETE FROM acct WHERE id > 150; INSERT INTO acct VALUES (500, 5, 'new')`)
	b.WaitMirror(t, 30*time.Second)
	r.Stop(t)
	r.Start(t)
	b.WaitMirror(t, 20*time.Second)
	logs.Wait(t, 20*time.Second, "Redis restarted or failed over")
}
