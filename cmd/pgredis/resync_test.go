package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
)

// resyncCounts parses a resync line for table: scanned, written (or to
// write), deleted (or to delete), unchanged.
func resyncCounts(t *testing.T, out, table string) [4]int {
	t.Helper()
	re := regexp.MustCompile(regexp.QuoteMeta(table) + `: rows scanned (\d+), keys (?:written|to write) (\d+), keys (?:deleted|to delete) (\d+), keys already correct (\d+)`)
	m := re.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no resync line for %s in:\n%s", table, out)
	}
	var n [4]int
	for i := range n {
		n[i], _ = strconv.Atoi(m[i+1])
	}
	return n
}

// Resync, resync --dry-run, resync TABLE, status, and a worker process,
// in a Redis database that also holds keys no table owns (guarantee 4).
func TestResyncStatusAndWorker(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.Database(t, "empty", nil)
	exec1(t, connect(t, url), `
CREATE TABLE users (id int PRIMARY KEY, name text);
CREATE TABLE orders (tenant int, id text, total numeric, PRIMARY KEY (tenant, id));
INSERT INTO users SELECT g, 'user ' || g FROM generate_series(1, 5) g;
INSERT INTO orders VALUES (1, 'a:b', 9.5), (2, 'c', NULL);`)
	env := map[string]string{
		"DATABASE_URL":           url,
		"REDIS_URL":              testenv.Redis(t),
		"PGREDIS_TABLES":         "users; orders key=o:{tenant}:{id} format=hash",
		"PGREDIS_STANDBY_POLL":   "100ms",
		"PGREDIS_CHECK_INTERVAL": "100ms",
	}
	mustRun(t, env, "migrate", "up")
	b := pgredistest.Open(t, url, env["REDIS_URL"], env["PGREDIS_TABLES"])
	rdb := b.Redis

	// Keys outside every pattern, of several types, some with an expiry.
	unrelated := map[string]bool{"other:1": true, "usersX": true, "users": true, "o": true, "ox:1": true, "pgredis": true}
	b.Outside = func(k string) bool { return unrelated[k] }
	rdb.Set(ctx, "other:1", "x", 0)
	rdb.Set(ctx, "usersX", "y", time.Hour)
	rdb.RPush(ctx, "users", "a", "b")
	rdb.HSet(ctx, "o", "f", "v")
	rdb.SAdd(ctx, "ox:1", "m")
	rdb.Set(ctx, "pgredis", "not the state prefix", 0)
	outside := func() map[string]string { return snapshot(t, rdb, func(k string) bool { return unrelated[k] }) }
	keep := outside()

	r := mustRun(t, env, "resync")
	if got := resyncCounts(t, r.stdout, "public.users"); got != [4]int{5, 5, 0, 0} {
		t.Errorf("first resync of users: %v", got)
	}
	b.RequireMirror(t)

	// Hand edits inside the patterns: stale, missing, extra, wrong type.
	rdb.Set(ctx, "users:1", `{"id": 1, "name": "stale"}`, 0)
	rdb.Del(ctx, "users:2")
	rdb.Set(ctx, "users:999", "{}", 0)
	rdb.Set(ctx, "users:a:b", "{}", 0)
	rdb.Set(ctx, "o:1:a:b", "not a hash", 0)
	rdb.HSet(ctx, "o:9:z", "id", "z")
	drifted := snapshot(t, rdb, nil)
	r = mustRun(t, env, "resync", "--dry-run")
	if got := resyncCounts(t, r.stdout, "public.users"); got != [4]int{5, 2, 2, 3} {
		t.Errorf("dry run on users: %v\n%s", got, r.stdout)
	}
	if got := resyncCounts(t, r.stdout, "public.orders"); got != [4]int{2, 1, 1, 1} {
		t.Errorf("dry run on orders: %v\n%s", got, r.stdout)
	}
	sameSnapshot(t, "resync --dry-run", drifted, snapshot(t, rdb, nil))

	// resync TABLE touches that table only.
	r = mustRun(t, env, "resync", "users")
	if strings.Contains(r.stdout, "orders") {
		t.Errorf("resync users reported orders:\n%s", r.stdout)
	}
	if typ := rdb.Type(ctx, "o:1:a:b").Val(); typ != "string" {
		t.Errorf("resync users repaired orders' key o:1:a:b (now a %s)", typ)
	}
	if err := b.Diff(ctx); err == nil || strings.Contains(err.Error(), "users:") {
		t.Errorf("after resync users, want only orders to differ: %v", err)
	}
	mustRun(t, env, "resync")
	b.RequireMirror(t)
	sameSnapshot(t, "keys outside the patterns after resync", keep, outside())

	// status without, then with a worker.
	r = mustRun(t, env, "status")
	for _, want := range []string{"table public.users: trigger installed", "table public.orders: trigger installed", "worker: none active"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, r.stdout)
		}
	}
	w := startPgredis(t, env, "worker")
	testenv.Eventually(t, 30*time.Second, func() error {
		if r := pgredis(t, env, "status"); !strings.Contains(r.stdout, "worker: active") {
			return errorf("status: %s\nworker stderr:\n%s", r, w.stderr)
		}
		return nil
	})
	b.Exec(t, `UPDATE users SET name = name || '!' WHERE id > 2`)
	b.Exec(t, `INSERT INTO orders VALUES (3, 'x:y:z', 1)`)
	b.Exec(t, `DELETE FROM orders WHERE tenant = 2`)
	b.WaitMirror(t, 30*time.Second)
	// A resync while the worker runs goes through it: a dry run reports
	// and changes nothing (pgredis's own state keys aside), a real one repairs.
	rdb.Set(ctx, "users:3", "stale", 0)
	notState := func(k string) bool { return !strings.HasPrefix(k, "pgredis:") }
	drifted = snapshot(t, rdb, notState)
	r = mustRun(t, env, "resync", "--dry-run")
	if got := resyncCounts(t, r.stdout, "public.users"); got[1] != 1 {
		t.Errorf("dry run via the worker: %v\n%s", got, r.stdout)
	}
	sameSnapshot(t, "resync --dry-run via the worker", drifted, snapshot(t, rdb, notState))
	r = mustRun(t, env, "resync")
	if got := resyncCounts(t, r.stdout, "public.users"); got[1] != 1 {
		t.Errorf("resync via the worker wrote %d users keys, want 1:\n%s", got[1], r.stdout)
	}
	b.RequireMirror(t)
	b.Exec(t, `TRUNCATE users`)
	b.WaitMirror(t, 30*time.Second)
	sameSnapshot(t, "keys outside the patterns after worker and truncate", keep, outside())

	if err := w.stop(t); err != nil {
		t.Fatalf("worker exit after SIGTERM: %v\n%s", err, w.stderr)
	}
	// A table listed but never installed shows as such.
	exec1(t, connect(t, url), `CREATE TABLE extra (id int PRIMARY KEY)`)
	env["PGREDIS_TABLES"] += "; extra"
	r = mustRun(t, env, "status")
	for _, want := range []string{"table public.extra: trigger NOT installed", "table public.users: trigger installed", "worker: none active"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, r.stdout)
		}
	}
}
