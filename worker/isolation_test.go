package worker_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
	"github.com/pgredis/pgredis/worker"
)

// isolated starts a worker on acct and doc with captured logs and metrics.
func isolated(t *testing.T, docDDL, tables string) (*pgredistest.Bundle, *worker.Worker, *pgredistest.Logs, *prometheus.Registry) {
	t.Helper()
	b := pgredistest.New(t, faultDDL+";"+docDDL, tables)
	cfg := b.Config(t)
	var logs *pgredistest.Logs
	cfg.Logger, logs = pgredistest.CaptureLogs(t)
	reg := prometheus.NewRegistry()
	cfg.Metrics = worker.NewMetrics(reg)
	cfg.MaxBackoff = 500 * time.Millisecond
	cfg.CheckInterval = 100 * time.Millisecond
	w := b.StartWorkerWith(t, cfg)
	b.WaitMirror(t, 30*time.Second)
	return b, w, logs, reg
}

// onlyAcct makes the bundle compare acct alone, doc's keys left aside.
func onlyAcct(b *pgredistest.Bundle) func() {
	specs, outside := b.Specs, b.Outside
	b.Specs = b.Specs[:1]
	b.Outside = func(k string) bool { return strings.HasPrefix(k, "doc:") }
	return func() { b.Specs, b.Outside = specs, outside }
}

// Item 3: a json value to_jsonb cannot render (SQLSTATE 22P05) makes only
// its table fail: it is reported (log, readiness, metric, status key)
// naming the table, every other table stays live, and it is retried with
// backoff until the row is fixed.
func TestUnrenderableValueQuarantinesItsTableOnly(t *testing.T) {
	t.Parallel()
	b, w, logs, reg := isolated(t, `CREATE TABLE doc (id int PRIMARY KEY, body json);
		INSERT INTO doc VALUES (1, '{"a": 1}')`, "acct; doc")
	b.Exec(t, `INSERT INTO doc VALUES (2, '{"note":"\u0000"}')`)
	b.Exec(t, `INSERT INTO doc VALUES (3, '{"b": 3}')`)
	line := logs.Wait(t, 20*time.Second, "table quarantined", "table=public.doc", "key=doc:2")
	if !strings.Contains(line, "22P05") {
		t.Fatalf("the quarantine line lacks the cause: %s", line)
	}
	// The table's other rows stay mirrored, the bad one has no key.
	ctx := context.Background()
	b.Exec(t, `UPDATE doc SET body = '{"a": 2}' WHERE id = 1`)
	testenv.Eventually(t, 10*time.Second, func() error {
		one, _ := b.Redis.Get(ctx, "doc:1").Result()
		n, _ := b.Redis.Exists(ctx, "doc:2", "doc:3").Result()
		three, _ := b.Redis.Exists(ctx, "doc:3").Result()
		if !strings.Contains(one, `"a": 2`) || n != 1 || three != 1 {
			return fmt.Errorf("doc:1 = %q, doc:2 and doc:3 exist %d, doc:3 %d; want the good rows mirrored and doc:2 absent", one, n, three)
		}
		return nil
	})
	restore := onlyAcct(b)
	b.Exec(t, `UPDATE acct SET v = v + 1 WHERE id < 50; DELETE FROM acct WHERE id = 60`)
	b.WaitMirror(t, 30*time.Second)
	restore()
	testenv.Eventually(t, 10*time.Second, func() error {
		if err := w.Ready(); err == nil || !strings.Contains(err.Error(), "public.doc") {
			return fmt.Errorf("readiness %v, want it to name public.doc", err)
		}
		return nil
	})
	if n := counter(t, reg, "pgredis_tables_quarantined", ""); n != 1 {
		t.Fatalf("pgredis_tables_quarantined = %v, want 1", n)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		st, ok, err := worker.ReadStatus(context.Background(), b.Redis, "pgredis:")
		if err != nil || !ok || st.Quarantined["public.doc"] == "" {
			return fmt.Errorf("status key %+v (%v), want public.doc quarantined", st, err)
		}
		return nil
	})
	// Retried with backoff, logged once.
	if n := len(logs.Lines("table quarantined")); n != 1 {
		t.Fatalf("the quarantine was logged %d times, want once", n)
	}
	b.Exec(t, `UPDATE doc SET body = '{"note": "fixed"}' WHERE id = 2`)
	b.WaitMirror(t, 30*time.Second)
	logs.Wait(t, 20*time.Second, "quarantine lifted", "table=public.doc")
	testenv.Eventually(t, 10*time.Second, w.Ready)
}

// Item 6: a table that stops fitting its spec (a column renamed) and fits
// again (renamed back) is reconciled when it fits again: the changes made
// in between reach Redis without a resync.
func TestTableThatFitsAgainIsReconciled(t *testing.T) {
	t.Parallel()
	b, _, logs, _ := isolated(t, `CREATE TABLE doc (id int PRIMARY KEY, a text, b text);
		INSERT INTO doc SELECT g, 'a' || g, 'b' || g FROM generate_series(1, 20) g`, "acct; doc columns=id,a")
	b.Exec(t, `ALTER TABLE doc RENAME COLUMN a TO a_moved`)
	b.Exec(t, `UPDATE doc SET a_moved = 'changed while renamed' WHERE id < 10; DELETE FROM doc WHERE id = 15; INSERT INTO doc VALUES (21, 'new', 'x')`)
	logs.Wait(t, 20*time.Second, "table quarantined", "table=public.doc")
	b.Exec(t, `UPDATE acct SET v = v + 1 WHERE id < 50`)
	restore := onlyAcct(b)
	b.WaitMirror(t, 30*time.Second)
	restore()
	b.Exec(t, `ALTER TABLE doc RENAME COLUMN a_moved TO a`)
	b.WaitMirror(t, 30*time.Second)
}

// Item 5: migrate down (the pgredis schema and triggers gone) or a trigger
// dropped by hand under a running worker fails readiness, and the log
// says what happened and the fix.
func TestTriggersGoneUnderWorker(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, sql, want string }{
		{"migrate down", `DROP SCHEMA pgredis CASCADE`, "migrate down"},
		{"trigger dropped", `DROP TRIGGER pgredis_upd ON acct`, "has no trigger pgredis_upd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := pgredistest.New(t, faultDDL, faultTables)
			cfg := b.Config(t)
			var logs *pgredistest.Logs
			cfg.Logger, logs = pgredistest.CaptureLogs(t)
			cfg.HeartbeatInterval = 100 * time.Millisecond
			w := b.StartWorkerWith(t, cfg)
			b.WaitMirror(t, 30*time.Second)
			testenv.Eventually(t, 10*time.Second, w.Ready)
			b.Exec(t, tc.sql)
			line := logs.Wait(t, 20*time.Second, "table=public.acct", tc.want)
			if !strings.Contains(line, "run pgredis migrate up") {
				t.Fatalf("the log line lacks the fix: %s", line)
			}
			testenv.Eventually(t, 10*time.Second, func() error {
				if err := w.Ready(); err == nil || !strings.Contains(err.Error(), tc.want) {
					return fmt.Errorf("readiness %v, want it to say %q", err, tc.want)
				}
				return nil
			})
		})
	}
}
