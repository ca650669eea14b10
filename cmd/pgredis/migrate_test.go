package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/pgredis/pgredis/internal/testenv"
	"github.com/pgredis/pgredis/migrations"
)

const appDDL = `
CREATE TABLE users (id int PRIMARY KEY, name text);
CREATE TABLE orders (tenant int, id int, total numeric, PRIMARY KEY (tenant, id));
INSERT INTO users VALUES (1, 'ann'), (2, 'bob');
INSERT INTO orders VALUES (1, 1, 9.5);
-- The application's own golang-migrate record (guarantee 9).
CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);
INSERT INTO schema_migrations VALUES (20240101120000, false);`

// appDB is a fresh database holding appDDL and nothing of pgredis.
func appDB(t *testing.T) (string, map[string]string) {
	t.Helper()
	url := testenv.Database(t, "empty", nil)
	exec1(t, connect(t, url), appDDL)
	return url, map[string]string{"DATABASE_URL": url, "REDIS_URL": testenv.Redis(t)}
}

func countQuery(t *testing.T, url, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := connect(t, url).QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func triggers(t *testing.T, url, table string) int {
	t.Helper()
	return countQuery(t, url, `SELECT count(*) FROM pg_trigger WHERE tgrelid = $1::regclass AND tgname LIKE 'pgredis%'`, table)
}

// pgredisObjects counts whatever in the catalog is pgredis's or mentions it.
func pgredisObjects(t *testing.T, url string) int {
	t.Helper()
	return countQuery(t, url, `SELECT
		(SELECT count(*) FROM pg_namespace WHERE nspname LIKE '%pgredis%') +
		(SELECT count(*) FROM pg_proc WHERE proname LIKE '%pgredis%' OR prosrc LIKE '%pgredis%') +
		(SELECT count(*) FROM pg_trigger WHERE tgname LIKE '%pgredis%') +
		(SELECT count(*) FROM pg_class WHERE relname LIKE '%pgredis%') +
		(SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE '%pgredis%')`)
}

func TestMigrateUpDownVersion(t *testing.T) {
	t.Parallel()
	url, env := appDB(t)
	conn := connect(t, url)
	before := catalog(t, conn)

	// version before anything says so, and creates nothing.
	r := mustRun(t, env, "migrate", "version")
	if !strings.Contains(r.stdout, "no pgredis migration applied") {
		t.Fatalf("migrate version on a fresh database: %s", r)
	}
	if after := catalog(t, conn); after != before {
		t.Fatalf("migrate version changed the database:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	env["PGREDIS_TABLES"] = "users; orders key=order:{tenant}:{id} format=hash"
	for range 2 { // idempotent
		mustRun(t, env, "migrate", "up")
		if n, m := triggers(t, url, "users"), triggers(t, url, "orders"); n != 4 || m != 4 {
			t.Fatalf("triggers: users %d, orders %d; want 4 each", n, m)
		}
		if n := countQuery(t, url, `SELECT count(*) FROM pgredis.tables`); n != 2 {
			t.Fatalf("registry holds %d tables, want 2", n)
		}
	}
	r = mustRun(t, env, "migrate", "version")
	latest, err := migrations.Latest()
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(r.stdout) != fmt.Sprintf("version %d", latest) {
		t.Fatalf("migrate version after up: %s", r)
	}

	// Dropping a table from PGREDIS_TABLES removes its triggers and row.
	env["PGREDIS_TABLES"] = "users"
	mustRun(t, env, "migrate", "up")
	if n, m := triggers(t, url, "users"), triggers(t, url, "orders"); n != 4 || m != 0 {
		t.Fatalf("after dropping orders from the spec: users %d, orders %d triggers", n, m)
	}
	if n := countQuery(t, url, `SELECT count(*) FROM pgredis.tables WHERE table_name = 'orders'`); n != 0 {
		t.Fatal("orders still registered")
	}
	if n := countQuery(t, url, `SELECT count(*) FROM pg_proc WHERE pronamespace = 'pgredis'::regnamespace AND proname LIKE 't\_%'`); n != 4 {
		t.Fatalf("%d trigger functions left, want users' 4", n)
	}

	// down leaves nothing of pgredis, and the app's tables as they were.
	mustRun(t, env, "migrate", "down")
	if n := pgredisObjects(t, url); n != 0 {
		t.Fatalf("%d pgredis objects left after migrate down", n)
	}
	if after := catalog(t, conn); after != before {
		t.Fatalf("migrate up+down did not restore the database:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	r = mustRun(t, env, "migrate", "version")
	if !strings.Contains(r.stdout, "no pgredis migration applied") {
		t.Fatalf("migrate version after down: %s", r)
	}
	// down again is a no-op, up again works.
	mustRun(t, env, "migrate", "down")
	mustRun(t, env, "migrate", "up")
	if n := triggers(t, url, "users"); n != 4 {
		t.Fatalf("users has %d triggers after a second up", n)
	}
}

// Guarantee 9: the application's schema_migrations is never touched, not
// even its row versions (ctid, xmin).
func TestMigrateKeepsAppSchemaMigrations(t *testing.T) {
	t.Parallel()
	url, env := appDB(t)
	conn := connect(t, url)
	appRecord := func() string {
		var s string
		err := conn.QueryRow(context.Background(), `SELECT string_agg(ctid::text || ' ' || xmin::text || ' ' || version || ' ' || dirty, ',') ||
			(SELECT string_agg(attname || ':' || format_type(atttypid, atttypmod), ',') FROM pg_attribute WHERE attrelid = 'public.schema_migrations'::regclass AND attnum > 0)
			FROM public.schema_migrations`).Scan(&s)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	want := appRecord()
	env["PGREDIS_TABLES"] = "users"
	for _, args := range [][]string{{"migrate", "up"}, {"migrate", "version"}, {"migrate", "up"}, {"migrate", "down"}} {
		mustRun(t, env, args...)
		if got := appRecord(); got != want {
			t.Fatalf("after migrate %s the app's schema_migrations is %q, was %q", args[1], got, want)
		}
	}
}

func TestHelpAndVersion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"version"}, {"--help"}, {"help"}, {"migrate", "--help"}, {"worker", "--help"}, {"resync", "--help"}, {"status", "--help"}} {
		r := pgredis(t, nil, args...)
		if r.code != 0 || r.stdout == "" {
			t.Errorf("pgredis %s: %s", strings.Join(args, " "), r)
		}
	}
	if r := pgredis(t, nil, "resync", "--help"); !strings.Contains(r.stdout, "dry-run") {
		t.Errorf("resync --help does not mention --dry-run: %s", r)
	}
	for _, args := range [][]string{{}, {"frobnicate"}, {"migrate"}, {"migrate", "sideways"}, {"resync", "--bogus"}} {
		r := pgredis(t, nil, args...)
		if r.code == 0 || strings.Contains(r.stderr, "panic") {
			t.Errorf("pgredis %s: %s", strings.Join(args, " "), r)
		}
	}
}
