package main

import (
	"syscall"
	"testing"
	"time"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
)

// Guarantee 3 for a plain restart: a worker killed with SIGKILL misses
// whatever commits while it is down, and hand edits happen meanwhile; the
// next worker's reconcile repairs all of it.
func TestWorkerKilledAndRestarted(t *testing.T) {
	t.Parallel()
	url := testenv.Database(t, "empty", nil)
	exec1(t, connect(t, url), `
CREATE TABLE items (id int PRIMARY KEY, v text);
INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 100) g;`)
	env := map[string]string{
		"DATABASE_URL":           url,
		"REDIS_URL":              testenv.Redis(t),
		"PGREDIS_TABLES":         "items key=item:{id} format=hash",
		"PGREDIS_STANDBY_POLL":   "100ms",
		"PGREDIS_CHECK_INTERVAL": "100ms",
	}
	mustRun(t, env, "migrate", "up")
	b := pgredistest.Open(t, url, env["REDIS_URL"], env["PGREDIS_TABLES"])
	w := startPgredis(t, env, "worker")
	b.WaitMirror(t, 30*time.Second)

	w.cmd.Process.Signal(syscall.SIGKILL)
	<-w.done
	w.done <- nil
	b.Exec(t, `UPDATE items SET v = v || '!' WHERE id % 2 = 0; DELETE FROM items WHERE id > 90; INSERT INTO items VALUES (500, 'new')`)
	b.Redis.Del(t.Context(), "item:1")
	b.Redis.HSet(t.Context(), "item:2", "v", "hand edited")
	b.Redis.HSet(t.Context(), "item:999", "v", "no such row")
	if err := b.Diff(t.Context()); err == nil {
		t.Fatal("mirror already exact while no worker ran")
	}

	w = startPgredis(t, env, "worker")
	b.WaitMirror(t, 30*time.Second)
	b.Exec(t, `UPDATE items SET v = 'live' WHERE id < 10`)
	b.WaitMirror(t, 30*time.Second)
	start := time.Now()
	if err := w.stop(t); err != nil {
		t.Fatalf("worker exit after SIGTERM: %v\n%s", err, w.stderr)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("worker took %v to stop after SIGTERM", took)
	}
}
