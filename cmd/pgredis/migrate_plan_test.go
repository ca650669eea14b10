package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
	"github.com/pgredis/pgredis/migrations"
	"github.com/pgredis/pgredis/notify"
)

// pgredisState is catalog() plus what is pgredis's: the registry rows
// (with row versions), every trigger with its enabled state and oid, the
// trigger functions' definitions and row versions, and the migrations
// record. Equal states mean migrate up changed nothing.
func pgredisState(t *testing.T, conn *pgx.Conn) string {
	t.Helper()
	ctx := context.Background()
	parts := []string{catalog(t, conn)}
	queries := []string{
		`SELECT 'trigger ' || tgrelid::regclass::text || ' ' || tgname || ' ' || tgenabled::text || ' ' || oid::text || ' ' || xmin::text FROM pg_trigger WHERE NOT tgisinternal`,
		`SELECT 'function ' || oid::regprocedure::text || ' ' || xmin::text || ' ' || md5(pg_get_functiondef(oid)) FROM pg_proc WHERE pronamespace = to_regnamespace('pgredis')`,
	}
	var migrated bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('pgredis.tables') IS NOT NULL`).Scan(&migrated); err != nil {
		t.Fatal(err)
	}
	if migrated {
		queries = append(queries,
			`SELECT 'registry ' || xmin::text || ' ' || to_jsonb(r)::text FROM pgredis.tables r`,
			`SELECT 'migrations ' || xmin::text || ' ' || to_jsonb(m)::text FROM pgredis.schema_migrations m`)
	}
	for _, q := range queries {
		rows, _ := conn.Query(ctx, q)
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		slices.Sort(got)
		parts = append(parts, got...)
	}
	return strings.Join(parts, "\n")
}

// needServers skips a test that needs PostgreSQL and Redis under -short.
func needServers(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
}

// lines are the stdout lines that start with prefix.
func lines(out, prefix string) []string {
	var got []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			got = append(got, l)
		}
	}
	return got
}

func requireLines(t *testing.T, r result, prefix string, want ...string) {
	t.Helper()
	if got := lines(r.stdout, prefix); !slices.Equal(got, want) {
		t.Fatalf("lines starting %q:\n%s\nwant:\n%s\nfull output: %s", prefix, strings.Join(got, "\n"), strings.Join(want, "\n"), r)
	}
}

func registrySpec(t *testing.T, url, table string) string {
	t.Helper()
	var s string
	if err := connect(t, url).QueryRow(context.Background(), `SELECT spec FROM pgredis.tables WHERE table_name = $1`, table).Scan(&s); err != nil {
		t.Fatalf("registry row of %s: %v", table, err)
	}
	return s
}

// Issue 13.3: each table's line names the action and the full canonical
// spec (columns= and ttl= too), and why an update is needed; removals are
// reported. Issue 13.4 and 8.8: an equivalent spelling changes nothing.
func TestMigrateUpReportsEveryTable(t *testing.T) {
	t.Parallel()
	needServers(t)
	url, env := appDB(t)
	conn := connect(t, url)
	env["PGREDIS_TABLES"] = "users columns=name,id; orders key=order:{tenant}:{id} format=hash ttl=1h"
	r := mustRun(t, env, "migrate", "up")
	requireLines(t, r, "installed:",
		"installed: public.users key=users:{id} format=json columns=id,name",
		"installed: public.orders key=order:{tenant}:{id} format=hash ttl=1h0m0s")
	if !strings.Contains(r.stdout, "2 installed, 0 updated, 0 unchanged, 0 removed") {
		t.Fatalf("no summary: %s", r)
	}

	// The same meaning spelled otherwise: nothing is touched, not even
	// the registry rows' versions.
	before := pgredisState(t, conn)
	env["PGREDIS_TABLES"] = "public.users key=users:{id} format=json columns=id,name; ORDERS ttl=60m format=hash key=order:{tenant}:{id}"
	r = mustRun(t, env, "migrate", "up")
	requireLines(t, r, "unchanged:",
		"unchanged: public.users key=users:{id} format=json columns=id,name",
		"unchanged: public.orders key=order:{tenant}:{id} format=hash ttl=1h0m0s")
	if after := pgredisState(t, conn); after != before {
		t.Fatalf("an equivalent spec changed the database:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// A disabled and a dropped trigger are changes to repair.
	exec1(t, conn, `ALTER TABLE users DISABLE TRIGGER pgredis_upd; DROP TRIGGER pgredis_del ON users`)
	r = mustRun(t, env, "migrate", "up")
	requireLines(t, r, "updated:",
		"updated: public.users key=users:{id} format=json columns=id,name (trigger pgredis_upd is disabled; trigger pgredis_del is missing)")
	if n := countQuery(t, url, `SELECT count(*) FROM pg_trigger WHERE tgrelid = 'users'::regclass AND tgname LIKE 'pgredis%' AND tgenabled <> 'D'`); n != 4 {
		t.Fatalf("users has %d enabled pgredis triggers after the repair, want 4", n)
	}
	// A trigger function replaced by hand too.
	exec1(t, conn, `DO $$ DECLARE f regprocedure; BEGIN
		SELECT tgfoid::regprocedure INTO f FROM pg_trigger WHERE tgrelid = 'orders'::regclass AND tgname = 'pgredis_ins';
		EXECUTE format('ALTER FUNCTION %s SET work_mem = %L', f, '1MB'); END $$`)
	r = mustRun(t, env, "migrate", "up")
	requireLines(t, r, "updated:",
		"updated: public.orders key=order:{tenant}:{id} format=hash ttl=1h0m0s (its pgredis triggers or trigger functions were changed since they were installed)")
	// Installed by an older pgredis (no record of what it ran), and by a
	// pgredis that generated other SQL.
	exec1(t, conn, `UPDATE pgredis.tables SET install_hash = CASE table_name WHEN 'users' THEN NULL ELSE 'other' END`)
	r = mustRun(t, env, "migrate", "up")
	requireLines(t, r, "updated:",
		"updated: public.users key=users:{id} format=json columns=id,name (installed by an older pgredis)",
		"updated: public.orders key=order:{tenant}:{id} format=hash ttl=1h0m0s (this pgredis generates different trigger SQL)")

	// A key column retyped: the registry's large-row lookup casts to the
	// old type. pgredis's event trigger (this test runs as a superuser)
	// has swapped the trigger functions for the fallback in the ALTER's
	// own transaction, which is a change to the installed functions too.
	exec1(t, conn, `ALTER TABLE orders ALTER id TYPE bigint`)
	r = mustRun(t, env, "migrate", "up")
	requireLines(t, r, "updated:",
		"updated: public.orders key=order:{tenant}:{id} format=hash ttl=1h0m0s (the table's columns changed since it was installed; its pgredis triggers or trigger functions were changed since they were installed)")
	if n := countQuery(t, url, `SELECT count(*) FROM pgredis.tables WHERE fetch_sql LIKE '%::bigint%'`); n != 1 {
		t.Fatal("the registry's fetch SQL does not cast to bigint")
	}
	requireLines(t, mustRun(t, env, "migrate", "up"), "unchanged:",
		"unchanged: public.users key=users:{id} format=json columns=id,name",
		"unchanged: public.orders key=order:{tenant}:{id} format=hash ttl=1h0m0s")

	// A changed spec and a table left out.
	env["PGREDIS_TABLES"] = "users"
	r = mustRun(t, env, "migrate", "up")
	requireLines(t, r, "removed:",
		"removed: public.orders key=order:{tenant}:{id} format=hash ttl=1h0m0s (not in PGREDIS_TABLES: its triggers and functions are dropped; its keys in Redis are left as they are)")
	requireLines(t, r, "updated:",
		"updated: public.users key=users:{id} format=json (columns=id,name -> every column)")
	if got := registrySpec(t, url, "users"); got != `"public"."users" key=users:{id} format=json` {
		t.Fatalf("registry holds %q", got)
	}
	if n := triggers(t, url, "orders"); n != 0 {
		t.Fatalf("orders still has %d triggers", n)
	}

	// A synced table dropped, then left out: its functions and row go.
	exec1(t, conn, `CREATE TABLE gone (id int PRIMARY KEY)`)
	env["PGREDIS_TABLES"] = "users; gone"
	mustRun(t, env, "migrate", "up")
	exec1(t, conn, `DROP TABLE gone`)
	env["PGREDIS_TABLES"] = "users"
	r = mustRun(t, env, "migrate", "up")
	requireLines(t, r, "removed:",
		"removed: public.gone key=gone:{id} format=json (not in PGREDIS_TABLES: the table no longer exists; its functions are dropped; its keys in Redis are left as they are)")
	if n := countQuery(t, url, `SELECT count(*) FROM pg_proc WHERE pronamespace = 'pgredis'::regnamespace AND proname LIKE 't\_%'`); n != 4 {
		t.Fatalf("%d trigger functions left, want users' 4", n)
	}
	if n := countQuery(t, url, `SELECT count(*) FROM pgredis.tables`); n != 1 {
		t.Fatalf("registry holds %d tables, want 1", n)
	}
}

// Issue 13.3: --dry-run prints the plan and its SQL and changes nothing,
// on a fresh database (not even the schema) and on an installed one.
func TestMigrateUpDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	needServers(t)
	url, env := appDB(t)
	conn := connect(t, url)
	env["PGREDIS_TABLES"] = "users; orders key=order:{tenant}:{id} format=hash"

	before := pgredisState(t, conn)
	r := mustRun(t, env, "migrate", "up", "--dry-run")
	if after := pgredisState(t, conn); after != before {
		t.Fatalf("dry run changed a fresh database:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	latest, err := migrations.Latest()
	if err != nil {
		t.Fatal(err)
	}
	requireLines(t, r, "would",
		fmt.Sprintf("would create schema pgredis and apply its migrations up to version %d", latest),
		"would install: public.users key=users:{id} format=json",
		"would install: public.orders key=order:{tenant}:{id} format=hash",
		"would install 2, update 0, remove 0; 0 unchanged")
	for _, want := range []string{"dry run: nothing is changed", "LOCK TABLE ONLY \"public\".\"users\" IN SHARE ROW EXCLUSIVE MODE;",
		"CREATE OR REPLACE FUNCTION pgredis.t_", "CREATE OR REPLACE TRIGGER pgredis_ins AFTER INSERT ON \"public\".\"orders\"", "COMMIT;"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("dry run output lacks %q: %s", want, r)
		}
	}

	mustRun(t, env, "migrate", "up")
	exec1(t, conn, `ALTER TABLE users DISABLE TRIGGER pgredis_ins`)
	env["PGREDIS_TABLES"] = "users columns=id"
	before = pgredisState(t, conn)
	r = mustRun(t, env, "migrate", "up", "--dry-run")
	if after := pgredisState(t, conn); after != before {
		t.Fatalf("dry run changed an installed database:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	requireLines(t, r, "would",
		"would remove: public.orders key=order:{tenant}:{id} format=hash (not in PGREDIS_TABLES: its triggers and functions are dropped; its keys in Redis are left as they are)",
		"would update: public.users key=users:{id} format=json columns=id (columns=every column -> id; trigger pgredis_ins is disabled)",
		"would install 0, update 1, remove 1; 0 unchanged")
	if !strings.Contains(r.stdout, `LOCK TABLE ONLY "public"."orders" IN ACCESS EXCLUSIVE MODE;`) || !strings.Contains(r.stdout, "DROP TRIGGER IF EXISTS pgredis_del ON \"public\".\"orders\"") {
		t.Fatalf("dry run does not show the removal's SQL: %s", r)
	}

	// What the dry run said is what the run does.
	r = mustRun(t, env, "migrate", "up")
	requireLines(t, r, "removed:", "removed: public.orders key=order:{tenant}:{id} format=hash (not in PGREDIS_TABLES: its triggers and functions are dropped; its keys in Redis are left as they are)")
	requireLines(t, r, "updated:", "updated: public.users key=users:{id} format=json columns=id (columns=every column -> id; trigger pgredis_ins is disabled)")
	before = pgredisState(t, conn)
	r = mustRun(t, env, "migrate", "up", "--dry-run")
	requireLines(t, r, "unchanged:", "unchanged: public.users key=users:{id} format=json columns=id")
	if strings.Contains(r.stdout, "BEGIN;") {
		t.Fatalf("dry run of an unchanged spec shows SQL: %s", r)
	}
	if after := pgredisState(t, conn); after != before {
		t.Fatalf("dry run changed the database:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// bg is a pgredis run in the background whose output the test reads as it
// comes.
type bg struct {
	cmd            *exec.Cmd
	stdout, stderr *lockedBuffer
	done           chan struct{}
	code           int
}

func startBg(t *testing.T, vars map[string]string, args ...string) *bg {
	t.Helper()
	b := &bg{cmd: exec.Command(binary, args...), stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	b.cmd.Env = envFor(vars)
	b.cmd.Stdout, b.cmd.Stderr = b.stdout, b.stderr
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := b.cmd.Wait()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			b.code = exit.ExitCode()
		} else if err != nil {
			b.code = -1
		}
		close(b.done)
	}()
	t.Cleanup(func() {
		b.cmd.Process.Kill()
		<-b.done
	})
	return b
}

func (b *bg) result(t *testing.T, timeout time.Duration) result {
	t.Helper()
	select {
	case <-b.done:
	case <-time.After(timeout):
		t.Fatalf("pgredis %v still running after %v; stdout:\n%s\nstderr:\n%s", b.cmd.Args[1:], timeout, b.stdout, b.stderr)
	}
	return result{stdout: b.stdout.String(), stderr: b.stderr.String(), code: b.code}
}

// waitOutput waits until stdout matches re.
func (b *bg) waitOutput(t *testing.T, re *regexp.Regexp, timeout time.Duration) {
	t.Helper()
	testenv.Eventually(t, timeout, func() error {
		select {
		case <-b.done:
			t.Fatalf("pgredis %v ended before printing %s: exit %d\nstdout:\n%s\nstderr:\n%s", b.cmd.Args[1:], re, b.code, b.stdout, b.stderr)
		default:
		}
		if !re.MatchString(b.stdout.String()) {
			return errorf("stdout so far:\n%s", b.stdout)
		}
		return nil
	})
}

// appTx is an application transaction holding a write lock on table.
func appTx(t *testing.T, url, sql string) (pgx.Tx, int) {
	t.Helper()
	ctx := context.Background()
	conn := connect(t, url)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback(context.Background()) })
	if _, err := tx.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return tx, int(conn.PgConn().PID())
}

// Issue 8.8: with an unchanged (here: equivalently spelled) spec, migrate
// up takes no lock on the tables, so an open write transaction does not
// hold it up, and it queues no writer behind it.
func TestMigrateUpUnchangedDoesNotWaitForWriters(t *testing.T) {
	t.Parallel()
	needServers(t)
	url, env := appDB(t)
	env["PGREDIS_TABLES"] = "users; orders key=order:{tenant}:{id} format=hash columns=total,id"
	mustRun(t, env, "migrate", "up")
	tx, _ := appTx(t, url, `UPDATE users SET name = name || '!'; UPDATE orders SET total = total + 1`)

	env["PGREDIS_TABLES"] = "users key=users:{id}; orders columns=id,total format=hash key=order:{tenant}:{id}"
	start := time.Now()
	// A lock wait would fail this run after 5s: no retries.
	r := pgredis(t, env, "migrate", "up", "--lock-timeout=5s", "--lock-retries=0")
	took := time.Since(start)
	if r.code != 0 || took > 4*time.Second || strings.Contains(r.stdout, "waiting") {
		t.Fatalf("migrate up with an unchanged spec took %v behind an open write transaction: %s", took, r)
	}
	requireLines(t, r, "unchanged:",
		"unchanged: public.users key=users:{id} format=json",
		"unchanged: public.orders key=order:{tenant}:{id} format=hash columns=id,total")
	if _, err := tx.Exec(context.Background(), `UPDATE users SET name = name || '?'`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Issue 8.8: a changed table waits for an open write transaction under a
// short lock_timeout, retrying; it says which session blocks it, lets
// other writers through between attempts, and succeeds once the
// transaction ends.
func TestMigrateUpWaitsForWriterAndNamesIt(t *testing.T) {
	t.Parallel()
	needServers(t)
	url, env := appDB(t)
	env["PGREDIS_TABLES"] = "users"
	mustRun(t, env, "migrate", "up")
	tx, pid := appTx(t, url, `UPDATE users SET name = 'held' WHERE id = 1`)

	env["PGREDIS_TABLES"] = "users columns=id,name"
	m := startBg(t, env, "migrate", "up", "--lock-timeout=200ms", "--lock-retries=1000")
	m.waitOutput(t, regexp.MustCompile(`public\.users: waiting for a ShareRowExclusiveLock on public\.users \(attempt \d+ of 1001\), blocked by pid `+strconv.Itoa(pid)+` \(application [^,]+, user "[^"]*", from [^,]+, state [^,]+, its transaction open for [0-9.]+m?s\)`), 30*time.Second)

	// Another writer gets through between attempts instead of queueing
	// behind migrate up until the open transaction ends.
	other := connect(t, url)
	exec1(t, other, `SET statement_timeout = '5s'`)
	start := time.Now()
	exec1(t, other, `UPDATE users SET name = 'other writer' WHERE id = 2`)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("a writer waited %v behind the waiting migrate up", took)
	}
	if got := registrySpec(t, url, "users"); got != `"public"."users" key=users:{id} format=json` {
		t.Fatalf("registry changed to %q before migrate up got its lock", got)
	}

	if err := tx.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := m.result(t, 30*time.Second)
	if r.code != 0 {
		t.Fatalf("migrate up after the transaction ended: %s", r)
	}
	requireLines(t, r, "updated:", "updated: public.users key=users:{id} format=json columns=id,name (columns=every column -> id,name)")
	if got := registrySpec(t, url, "users"); got != `"public"."users" key=users:{id} format=json columns=id,name` {
		t.Fatalf("registry holds %q", got)
	}
}

// Issue 8.8: after its retries, migrate up fails with one line naming the
// table and the blocking session, and leaves the table as it was.
func TestMigrateUpGivesUpAfterRetries(t *testing.T) {
	t.Parallel()
	needServers(t)
	url, env := appDB(t)
	conn := connect(t, url)
	env["PGREDIS_TABLES"] = "users"
	mustRun(t, env, "migrate", "up")
	tx, pid := appTx(t, url, `INSERT INTO users VALUES (3, 'carl')`)
	before := pgredisState(t, conn)

	env["PGREDIS_TABLES"] = "users format=hash"
	r := pgredis(t, env, "migrate", "up", "--lock-timeout=100ms", "--lock-retries=2")
	requireOneLineError(t, r, "could not lock table public.users within 100ms in 3 attempt(s): blocked by pid "+strconv.Itoa(pid)+" (")
	for _, want := range []string{"end that transaction", "--lock-timeout", "nothing was changed"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("error lacks %q: %s", want, r)
		}
	}
	if n := len(lines(r.stdout, "public.users: waiting for")); n == 0 {
		t.Errorf("no waiting line while it waited: %s", r)
	}
	if err := tx.Rollback(context.Background()); err != nil {
		t.Fatal(err)
	}
	if after := pgredisState(t, conn); after != before {
		t.Fatalf("a migrate up that gave up changed the database:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// Issue 8.8: an application transaction that writes two synced tables
// while migrate up changes both never deadlocks with it: migrate up holds
// one table's lock at a time, in a transaction of its own.
func TestMigrateUpTwoTablesNoDeadlock(t *testing.T) {
	t.Parallel()
	needServers(t)
	url, env := appDB(t)
	env["PGREDIS_TABLES"] = "users; orders"
	mustRun(t, env, "migrate", "up")
	// The application has written orders and will write users next.
	tx, _ := appTx(t, url, `UPDATE orders SET total = total + 1`)

	env["PGREDIS_TABLES"] = "users format=hash; orders format=hash"
	m := startBg(t, env, "migrate", "up", "--lock-timeout=5s", "--lock-retries=100")
	m.waitOutput(t, regexp.MustCompile(`public\.orders: waiting for a ShareRowExclusiveLock on public\.orders`), 30*time.Second)
	// While it waits for orders, it holds nothing on users...
	if n := countQuery(t, url, `SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE a.application_name = 'pgredis migrate up' AND l.relation = 'users'::regclass`); n != 0 {
		t.Fatalf("migrate up holds %d lock(s) on users while it waits for orders", n)
	}
	// ...so the application's next write goes through at once.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := tx.Exec(ctx, `UPDATE users SET name = name || '!'`); err != nil {
		t.Fatalf("the application's write to users: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the application's write to users waited %v", took)
	}
	if err := tx.Commit(context.Background()); err != nil {
		t.Fatalf("the application's commit: %v", err)
	}
	r := m.result(t, 30*time.Second)
	if r.code != 0 || strings.Contains(r.stdout+r.stderr, "deadlock") {
		t.Fatalf("migrate up: %s", r)
	}
	requireLines(t, r, "updated:",
		"updated: public.users key=users:{id} format=hash (format=json -> hash)",
		"updated: public.orders key=orders:{tenant}:{id} format=hash (format=json -> hash)")
}

// Issue 13.4: a worker whose PGREDIS_TABLES spells the installed spec
// differently (the default key written out, columns= in another order,
// the format written out, another ttl spelling) runs; one that means
// something else still refuses.
func TestWorkerAcceptsEquivalentSpec(t *testing.T) {
	t.Parallel()
	needServers(t)
	url, env := appDB(t)
	env["PGREDIS_TABLES"] = "users key=users:{id}; orders key=order:{tenant}:{id} format=hash columns=total,id ttl=1h"
	mustRun(t, env, "migrate", "up")

	// The installed spec has the key written out (migrate up records the
	// resolved key); the worker's leaves it to the primary key.
	env["PGREDIS_TABLES"] = "public.users format=json; ORDERS columns=id,total ttl=60m format=hash key=order:{tenant}:{id}"
	env["PGREDIS_STANDBY_POLL"] = "100ms"
	b := pgredistest.Open(t, url, env["REDIS_URL"], env["PGREDIS_TABLES"])
	w := startPgredis(t, env, "worker")
	b.WaitMirror(t, 30*time.Second)
	b.Exec(t, `INSERT INTO users VALUES (10, 'dan'); UPDATE orders SET total = 12`)
	b.WaitMirror(t, 30*time.Second)
	if err := w.stop(t); err != nil {
		t.Fatalf("worker: %v\n%s", err, w.stderr)
	}

	env["PGREDIS_TABLES"] = "users key=user:{id}; orders key=order:{tenant}:{id} format=hash columns=total,id ttl=1h"
	r := pgredis(t, env, "worker")
	if r.code == 0 || !strings.Contains(r.stderr, "table public.users is installed as") {
		t.Fatalf("a worker with another key for users: %s", r)
	}
}

// Issue 8.8: migrate up killed half-way leaves every table either as it
// was or as planned, each matching its registry row; a rerun does the
// rest.
func TestMigrateUpKilledHalfwayRerunRepairs(t *testing.T) {
	t.Parallel()
	needServers(t)
	url, env := appDB(t)
	env["PGREDIS_TABLES"] = "users; orders"
	mustRun(t, env, "migrate", "up")
	tx, _ := appTx(t, url, `UPDATE orders SET total = total + 1`)

	env["PGREDIS_TABLES"] = "users columns=id; orders columns=id"
	m := startBg(t, env, "migrate", "up", "--lock-timeout=200ms", "--lock-retries=1000")
	m.waitOutput(t, regexp.MustCompile(`updated: public\.users[^\n]*\n(.*\n)*public\.orders: waiting for`), 30*time.Second)
	m.cmd.Process.Signal(syscall.SIGKILL)
	m.result(t, 10*time.Second)
	if got := registrySpec(t, url, "users"); got != `"public"."users" key=users:{id} format=json columns=id` {
		t.Fatalf("users registered as %q after the kill", got)
	}
	if got := registrySpec(t, url, "orders"); got != `"public"."orders" key=orders:{tenant}:{id} format=json` {
		t.Fatalf("orders registered as %q after the kill", got)
	}
	if n, o := triggers(t, url, "users"), triggers(t, url, "orders"); n != 4 || o != 4 {
		t.Fatalf("after the kill: users %d, orders %d triggers", n, o)
	}
	if err := tx.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, env, "migrate", "up")
	requireLines(t, r, "unchanged:", "unchanged: public.users key=users:{id} format=json columns=id")
	requireLines(t, r, "updated:", "updated: public.orders key=orders:{tenant}:{id} format=json columns=id (columns=every column -> id)")
}

// The lock wait in process, so go test -race sees the watcher goroutine
// that reports it.
func TestMigrateUpWaitInProcess(t *testing.T) {
	t.Parallel()
	needServers(t)
	url, _ := appDB(t)
	e := &env{DatabaseURL: url, Tables: "users", StatePrefix: "pgredis:"}
	o := upOptions{lock: notify.LockPolicy{Timeout: 100 * time.Millisecond, Retries: 1000}}
	if err := migrateUp(t.Context(), e, o, &lockedBuffer{}); err != nil {
		t.Fatal(err)
	}
	tx, pid := appTx(t, url, `DELETE FROM users WHERE id = 2`)
	e.Tables = "users columns=name"
	out := &lockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- migrateUp(t.Context(), e, o, out) }()
	want := "blocked by pid " + strconv.Itoa(pid)
	testenv.Eventually(t, 30*time.Second, func() error {
		if !strings.Contains(out.String(), want) {
			return errorf("output so far:\n%s", out)
		}
		return nil
	})
	if err := tx.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("migrate up: %v\n%s", err, out)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("migrate up still waiting after the transaction ended:\n%s", out)
	}
	if !strings.Contains(out.String(), "updated: public.users key=users:{id} format=json columns=name (columns=every column -> name)") {
		t.Fatalf("output:\n%s", out)
	}
}

// An upgrade: a database installed by the pgredis before migration 2
// (no record of what was installed). The dry run reads it as it is and
// changes nothing; the run upgrades and reinstalls once.
func TestMigrateUpFromVersion1(t *testing.T) {
	t.Parallel()
	needServers(t)
	url, env := appDB(t)
	conn := connect(t, url)
	env["PGREDIS_TABLES"] = "users"
	mustRun(t, env, "migrate", "up")
	// Take away what the migrations after 2 added (newest first), as a
	// version-1 database lacks it; 2's columns go below.
	downs, err := filepath.Glob("../../migrations/*.down.sql")
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(downs, func(a, b string) int { return migrationVersion(t, b) - migrationVersion(t, a) })
	for _, f := range downs {
		if migrationVersion(t, f) <= 2 {
			continue
		}
		sql, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		exec1(t, conn, string(sql))
	}
	exec1(t, conn, `ALTER TABLE pgredis.tables DROP COLUMN install_hash, DROP COLUMN catalog_hash;
		UPDATE pgredis.tables SET spec = '"public"."users" format=json';
		UPDATE pgredis.schema_migrations SET version = 1`)
	latest, err := migrations.Latest()
	if err != nil {
		t.Fatal(err)
	}

	before := pgredisState(t, conn)
	r := mustRun(t, env, "migrate", "up", "--dry-run")
	requireLines(t, r, "would",
		fmt.Sprintf("would apply pgredis's migrations from version 1 to %d", latest),
		"would update: public.users key=users:{id} format=json (installed by an older pgredis)",
		"would install 0, update 1, remove 0; 0 unchanged")
	if after := pgredisState(t, conn); after != before {
		t.Fatalf("dry run changed the database:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	r = mustRun(t, env, "migrate", "up")
	requireLines(t, r, "updated:", "updated: public.users key=users:{id} format=json (installed by an older pgredis)")
	requireLines(t, mustRun(t, env, "migrate", "up"), "unchanged:", "unchanged: public.users key=users:{id} format=json")
}

// migrationVersion is the version in a migration file's name.
func migrationVersion(t *testing.T, path string) int {
	t.Helper()
	v, err := strconv.Atoi(strings.SplitN(filepath.Base(path), "_", 2)[0])
	if err != nil {
		t.Fatalf("migration file %s: %v", path, err)
	}
	return v
}
