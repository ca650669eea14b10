package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
)

// pooled is a test database reached directly and through a private
// pgbouncer.
func pooled(t *testing.T, poolMode string) (direct, viaPool string) {
	t.Helper()
	direct = testenv.Database(t, "empty", nil)
	cfg, err := pgx.ParseConfig(direct)
	if err != nil {
		t.Fatal(err)
	}
	exec1(t, connect(t, direct), `
CREATE TABLE items (id int PRIMARY KEY, v text, n numeric, at timestamptz, d interval);
INSERT INTO items SELECT g, 'v' || g, g / 7.0, '2026-01-01'::timestamptz + g * interval '1 hour', g * interval '90 minutes'
	FROM generate_series(1, 50) g;`)
	return direct, testenv.StartPgBouncer(t, poolMode).URL(cfg.Database)
}

// A stock PgBouncer session pool accepts only a handful of startup
// parameters; every command works through it, and the values still render
// with pgredis's pinned settings (the interval column renders as
// IntervalStyle=postgres, which is not the server's startup default here).
func TestPgBouncerSessionPool(t *testing.T) {
	t.Parallel()
	direct, viaPool := pooled(t, "session")
	env := map[string]string{
		"DATABASE_URL":           viaPool,
		"REDIS_URL":              testenv.Redis(t),
		"PGREDIS_TABLES":         "items",
		"PGREDIS_STANDBY_POLL":   "100ms",
		"PGREDIS_CHECK_INTERVAL": "100ms",
	}
	mustRun(t, env, "migrate", "up")
	b := pgredistest.Open(t, direct, env["REDIS_URL"], env["PGREDIS_TABLES"])
	w := startPgredis(t, env, "worker")
	b.WaitMirror(t, 30*time.Second)
	b.Exec(t, `UPDATE items SET v = v || '!', d = d * 2 WHERE id % 3 = 0; DELETE FROM items WHERE id > 45; INSERT INTO items VALUES (100, 'new', 1.5, now(), '1 day')`)
	b.WaitMirror(t, 30*time.Second)
	b.Redis.Set(t.Context(), "items:1", "hand edited", 0)
	r := mustRun(t, env, "resync")
	if !strings.Contains(r.stdout, "items") {
		t.Errorf("resync through the pool printed no line for items: %s", r)
	}
	b.WaitMirror(t, 30*time.Second)
	if r := mustRun(t, env, "status"); !strings.Contains(r.stdout, "items") {
		t.Errorf("status through the pool: %s", r)
	}
	if err := w.stop(t); err != nil {
		t.Fatalf("worker exit: %v\n%s", err, w.stderr)
	}
	if strings.Contains(w.stderr.String(), "unsupported startup parameter") {
		t.Errorf("the worker met a refused startup parameter:\n%s", w.stderr)
	}
}

// Through a transaction pool pgredis has no session of its own: each
// command that needs one refuses at once, in one line naming the pooler,
// and changes nothing.
func TestPgBouncerTransactionPoolRefused(t *testing.T) {
	t.Parallel()
	direct, viaPool := pooled(t, "transaction")
	env := map[string]string{
		"DATABASE_URL":   viaPool,
		"REDIS_URL":      testenv.Redis(t),
		"PGREDIS_TABLES": "items",
	}
	conn := connect(t, direct)
	before := catalog(t, conn)
	start := time.Now()
	requireOneLineError(t, pgredis(t, env, "migrate", "up"), "transaction-pooling connection pooler (PgBouncer pool_mode=transaction)")
	sameSnapshot(t, "migrate up", map[string]string{"catalog": before}, map[string]string{"catalog": catalog(t, conn)})

	mustRun(t, map[string]string{"DATABASE_URL": direct, "PGREDIS_TABLES": "items"}, "migrate", "up")
	for _, args := range [][]string{{"worker"}, {"resync"}} {
		requireOneLineError(t, pgredis(t, env, args...), "point DATABASE_URL at PostgreSQL directly or at a session-mode pool")
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("three refusals took %v", took)
	}
	if n, err := redisClient(t, env["REDIS_URL"]).DBSize(t.Context()).Result(); err != nil || n != 0 {
		t.Errorf("Redis holds %d keys (%v) after refusals", n, err)
	}
}

// Applications may write through a transaction pool (simple protocol,
// multi-statement transactions): the triggers keep nothing in the session,
// so the mirror stays exact in both capture modes.
func TestPgBouncerTransactionPoolWriters(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"notify", "queue"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			direct, viaPool := pooled(t, "transaction")
			env := map[string]string{
				"DATABASE_URL":           direct,
				"REDIS_URL":              testenv.Redis(t),
				"PGREDIS_TABLES":         "items",
				"PGREDIS_CAPTURE":        mode,
				"PGREDIS_STANDBY_POLL":   "100ms",
				"PGREDIS_CHECK_INTERVAL": "100ms",
			}
			mustRun(t, env, "migrate", "up")
			b := pgredistest.Open(t, direct, env["REDIS_URL"], env["PGREDIS_TABLES"])
			startPgredis(t, env, "worker")
			b.WaitMirror(t, 30*time.Second)

			cfg, err := pgx.ParseConfig(viaPool)
			if err != nil {
				t.Fatal(err)
			}
			cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			var g errgroup.Group
			for c := range 4 {
				g.Go(func() error {
					conn, err := pgx.ConnectConfig(ctx, cfg)
					if err != nil {
						return err
					}
					defer conn.Close(context.WithoutCancel(ctx))
					for i := range 40 {
						id := 1 + (c*40+i)%60
						err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
							if _, err := tx.Exec(ctx, `UPDATE items SET v = $1, n = n + 1 WHERE id = $2`, fmt.Sprintf("c%d-%d", c, i), id); err != nil {
								return err
							}
							if _, err := tx.Exec(ctx, `INSERT INTO items VALUES ($1, 'ins', 0, now(), '1 hour') ON CONFLICT (id) DO UPDATE SET v = 'upsert'`, 100+id); err != nil {
								return err
							}
							if i%5 == 4 {
								_, err := tx.Exec(ctx, `DELETE FROM items WHERE id = $1`, 100+id)
								return err
							}
							return nil
						})
						if err != nil {
							return err
						}
					}
					return nil
				})
			}
			if err := g.Wait(); err != nil {
				t.Fatalf("a writer through the transaction pool failed: %v", err)
			}
			b.WaitMirror(t, 30*time.Second)
		})
	}
}
