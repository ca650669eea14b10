package worker_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/spec"
	"github.com/pgredis/pgredis/internal/testenv"
	"github.com/pgredis/pgredis/notify"
)

var roleSeq atomic.Int64

// needServers skips under -short: these tests need PostgreSQL and Redis.
func needServers(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
}

// writerRole creates a login role (cluster-wide, so named per process and
// test) with only the given table privileges, and returns a pool connected
// as it. Cleanup revokes the grants and drops the role.
func writerRole(t *testing.T, b *pgredistest.Bundle, grants string) *pgxpool.Pool {
	t.Helper()
	role := fmt.Sprintf("pgredis_test_writer_%d_%d", os.Getpid(), roleSeq.Add(1))
	ident := pgx.Identifier{role}.Sanitize()
	b.Exec(t, "CREATE ROLE "+ident+" LOGIN")
	b.Exec(t, strings.ReplaceAll(grants, "ROLE", ident))
	u, err := url.Parse(b.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	pool := strictPool(t, u.String())
	t.Cleanup(func() {
		ctx := context.Background()
		// The grants live in the test's database, the role in the cluster.
		if _, err := b.PG.Exec(ctx, "DROP OWNED BY "+ident); err != nil {
			t.Errorf("dropping privileges of %s: %v", role, err)
		}
		if _, err := b.PG.Exec(ctx, "DROP ROLE "+ident); err != nil {
			t.Errorf("dropping role %s: %v", role, err)
		}
	})
	return pool
}

// strictPool connects to url and fails the test on any warning a pgredis
// trigger raises: a trigger that fell back to asking for a reconcile would
// still let the mirror converge, and hide the bug the test looks for.
func strictPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		if strings.HasPrefix(n.Message, "pgredis") {
			t.Errorf("a trigger fell back to a reconcile: %s", n.Message)
		}
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func execAs(t *testing.T, pool *pgxpool.Pool, sql string) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql); err != nil {
		t.Fatalf("exec %q: %v", sql, err)
	}
}

// Guarantee 10: a role with nothing but its own privileges on the table
// (not on the pgredis schema or its sequence) writes, and every kind of
// write is mirrored: inserts, multi-row updates with key changes, deletes,
// rows too large for a notification (the fetch path) and TRUNCATE.
func TestWriterRoleWithTablePrivilegesOnly(t *testing.T) {
	needServers(t)
	t.Parallel()
	b := pgredistest.New(t, `
CREATE TABLE kv (id int PRIMARY KEY, v text);
CREATE TABLE docs (tenant int, id int, body text, PRIMARY KEY (tenant, id));`,
		"kv; docs key=doc:{tenant}:{id} format=hash")
	w := writerRole(t, b, `GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON kv, docs TO ROLE`)
	check := startStrict(t, b)
	defer check()
	execAs(t, w, `INSERT INTO kv SELECT g, 'v' || g FROM generate_series(1, 50) g`)
	execAs(t, w, `INSERT INTO docs VALUES (1, 1, 'small'), (1, 2, repeat('x', 9000)), (2, 1, repeat('é', 6000))`)
	execAs(t, w, `INSERT INTO kv VALUES (100, repeat('big', 4000))`)
	b.WaitMirror(t, converge)
	execAs(t, w, `UPDATE kv SET v = upper(v) WHERE id % 3 = 0`)
	execAs(t, w, `UPDATE kv SET id = id + 1000 WHERE id > 40`)
	execAs(t, w, `UPDATE docs SET body = body || repeat('y', 9000) WHERE tenant = 1`)
	execAs(t, w, `DELETE FROM kv WHERE id % 5 = 0`)
	execAs(t, w, `DELETE FROM docs WHERE id = 1`)
	b.WaitMirror(t, converge)
	execAs(t, w, `TRUNCATE kv`)
	execAs(t, w, `INSERT INTO kv VALUES (1, 'after truncate')`)
	// A role that may only insert (it cannot even read what it wrote).
	ins := writerRole(t, b, `GRANT INSERT ON kv TO ROLE`)
	execAs(t, ins, `INSERT INTO kv VALUES (2, 'insert only'), (3, repeat('i', 9000))`)
	b.WaitMirror(t, converge)
}

// Guarantee 1: a writable CTE or MERGE that deletes a key and re-inserts
// it (or moves another row onto it) in one statement. Their sub-statements'
// triggers fire in the order the sub-statements finished, not the order
// the rows changed, so the delete can reach the worker after the set.
func TestWritableCTEsAndMerge(t *testing.T) {
	needServers(t)
	t.Parallel()
	b := pgredistest.New(t, `
CREATE TABLE kv (id int PRIMARY KEY, v text);
CREATE TABLE kd (id int PRIMARY KEY DEFERRABLE, v text);
CREATE TABLE kc (id int PRIMARY KEY, code text NOT NULL UNIQUE DEFERRABLE, v text);
CREATE TABLE kn (id int PRIMARY KEY, code text, v text);
CREATE TABLE src (id int, v text);
INSERT INTO kn SELECT g, 'n' || g, 'old' || g FROM generate_series(1, 10) g;
INSERT INTO kv SELECT g, 'old' || g FROM generate_series(1, 10) g;
INSERT INTO kd SELECT g, 'old' || g FROM generate_series(1, 10) g;
INSERT INTO kc SELECT g, 'c' || g, 'old' || g FROM generate_series(1, 10) g;`,
		"kv; kd format=hash; kc key=kc:{code}; kn key=kn:{code}")
	w := strictPool(t, b.DatabaseURL)
	check := startStrict(t, b)
	defer check()
	b.WaitMirror(t, converge)
	for _, q := range []string{
		// Delete and re-insert the same key.
		`WITH d AS (DELETE FROM kv WHERE id = 1 RETURNING id) INSERT INTO kv SELECT id, 'new' FROM d`,
		`WITH d AS (DELETE FROM kv WHERE id IN (2, 3, 4) RETURNING id) INSERT INTO kv SELECT id, 'new' || id FROM d`,
		// Move a row away and insert another onto its key.
		`WITH m AS (UPDATE kd SET id = 100 WHERE id = 1) INSERT INTO kd VALUES (1, 'x')`,
		`WITH m AS (UPDATE kd SET id = id + 200 WHERE id IN (2, 3)) INSERT INTO kd VALUES (2, 'y'), (3, 'z')`,
		// Another row takes over a deleted row's key (a custom key on a
		// unique column).
		`WITH d AS (DELETE FROM kc WHERE code = 'c1' RETURNING code) INSERT INTO kc SELECT 100, code, 'taken over' FROM d`,
		`WITH m AS (UPDATE kc SET code = 'moved' WHERE code = 'c2') INSERT INTO kc VALUES (101, 'c2', 'x')`,
		// The delete of the same key as the insert, in the other order.
		`WITH i AS (INSERT INTO kv VALUES (11, 'eleven') RETURNING id) DELETE FROM kv WHERE id = 5`,
		// A key on an unindexed column: deletes are emitted as before.
		`UPDATE kn SET code = code || 'x' WHERE id < 5`,
		`DELETE FROM kn WHERE id > 7`,
	} {
		execAs(t, w, q)
	}
	b.WaitMirror(t, converge)
	// MERGE deleting a row and inserting another with its key (the
	// deferrable key lets the insert in before the delete is checked).
	b.Exec(t, `INSERT INTO src VALUES (6, 'old6'), (6, 'merged6'), (7, 'old7'), (7, 'merged7'), (12, 'new12')`)
	execAs(t, w, `MERGE INTO kd t USING src s ON t.v = s.v
		WHEN MATCHED THEN DELETE
		WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.v)`)
	execAs(t, w, `MERGE INTO kc t USING (VALUES ('c3', 'c4')) s(a, b) ON t.code = s.a
		WHEN MATCHED THEN UPDATE SET code = s.b || 'x'`)
	b.WaitMirror(t, converge)
	// Plain deletes still delete.
	execAs(t, w, `DELETE FROM kv WHERE id > 5; DELETE FROM kd; DELETE FROM kc WHERE id > 5; DELETE FROM kn`)
	b.WaitMirror(t, converge)
}

// Values and keys never depend on the writer's output settings:
// bytea_output (values, and keys: a delete from such a session must find
// the key the worker wrote), search_path (regclass output), lc_monetary
// (money), and standard_conforming_strings (the generated SQL's literals).
func TestWriterOutputSettings(t *testing.T) {
	needServers(t)
	t.Parallel()
	b := pgredistest.New(t, `
CREATE SCHEMA other;
CREATE TABLE other.thing (id int);
CREATE TABLE bin (k bytea PRIMARY KEY, v bytea, r regclass, ty regtype, m money);
CREATE TABLE binh (k bytea PRIMARY KEY, v bytea, r regclass, m money);
CREATE TABLE esc (id int PRIMARY KEY, v text);`,
		`bin; binh format=hash; esc key=a\b:{id}`)
	startListening(t, b)
	ctx := context.Background()
	conn, err := strictPool(t, b.DatabaseURL).Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	for _, q := range []string{
		`SET bytea_output = 'escape'`, `SET search_path = other, pg_catalog`,
		`INSERT INTO public.bin VALUES ('\x00ff41', '\xdeadbeef', 'other.thing', 'other.thing', 12.5), ('abc', '', 'public.bin', 'int4', -1), ('\x5c', '\x5c00', 'pg_class', 'text', 0)`,
		`INSERT INTO public.binh VALUES ('\x00ff41', '\xdeadbeef', 'other.thing', 1234567.89), ('x', NULL, 'public.binh', NULL)`,
		`UPDATE public.bin SET v = v || '\x01'::bytea, k = k || '\x02'::bytea WHERE k = 'abc'`,
		`UPDATE public.binh SET m = m * 2`,
		// The key template's backslash is a literal whatever the writer's
		// standard_conforming_strings (the trigger's SQL parses in the
		// writer's session).
		`SET standard_conforming_strings = off`,
		`INSERT INTO public.esc VALUES (1, 'x'), (2, 'y')`,
		`SET standard_conforming_strings = on`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	b.WaitMirror(t, converge)
	for _, q := range []string{
		`DELETE FROM public.bin WHERE k = '\x00ff41'`,
		`DELETE FROM public.binh WHERE r = 'thing'::regclass`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := conn.Exec(ctx, "RESET ALL"); err != nil {
		t.Fatal(err)
	}
	b.WaitMirror(t, converge)
	// lc_monetary: write through a locale that prints money differently
	// from C, if this machine has one (C, C.UTF-8 and POSIX print alike).
	var inC, other string
	if err := conn.QueryRow(ctx, `SELECT set_config('lc_monetary', 'C', false), 1234.5::money::text`).Scan(new(string), &inC); err != nil {
		t.Fatal(err)
	}
	var loc string
	for _, l := range []string{"en_US.UTF-8", "de_DE.UTF-8", "fr_FR.UTF-8", "en_GB.UTF-8", "en_IN.UTF-8"} {
		if conn.QueryRow(ctx, `SELECT set_config('lc_monetary', $1, false), 1234.5::money::text`, l).Scan(new(string), &other) == nil && other != inC {
			loc = l
			break
		}
	}
	if loc == "" {
		t.Log("lc_monetary not exercised: no installed locale prints money differently from C")
		return
	}
	if _, err := conn.Exec(ctx, `INSERT INTO public.bin VALUES ('money', NULL, NULL, NULL, 1234.5); UPDATE public.binh SET m = m + 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "RESET ALL"); err != nil {
		t.Fatal(err)
	}
	b.WaitMirror(t, converge)
}

// A column named with the dollar-quote tag pgredis once used ends no
// function body early: the table syncs.
func TestDollarTagInColumnName(t *testing.T) {
	needServers(t)
	t.Parallel()
	b := pgredistest.New(t, `
CREATE TABLE "t$pgredis$" ("a$pgredis$b" text PRIMARY KEY, "$pgredis$" text);
CREATE TABLE h ("a$pgredis$b" text PRIMARY KEY, "$pgredis$" text);`,
		`"t$pgredis$"; h key=x$pgredis$:{a$pgredis$b} format=hash`)
	startListening(t, b)
	w := strictPool(t, b.DatabaseURL)
	for _, tbl := range []string{`"t$pgredis$"`, "h"} {
		execAs(t, w, `INSERT INTO `+tbl+` VALUES ('$pgredis$', 'one'), ('two', '$pgredis$ $$')`)
		execAs(t, w, `UPDATE `+tbl+` SET "a$pgredis$b" = "a$pgredis$b" || '!' WHERE "$pgredis$" = 'one'`)
	}
	b.WaitMirror(t, converge)
	execAs(t, w, `DELETE FROM "t$pgredis$" WHERE "a$pgredis$b" = 'two'; DELETE FROM h WHERE "a$pgredis$b" = '$pgredis$!'`)
	b.WaitMirror(t, converge)
}

// PREPARE TRANSACTION of a write to a synced table fails (the trigger sent
// a NOTIFY); the transaction rolls back, the mirror stays as it was. On a
// private server when the shared one allows no prepared transactions.
func TestPrepareTransactionRefused(t *testing.T) {
	needServers(t)
	t.Parallel()
	const ddl = `CREATE TABLE kv (id int PRIMARY KEY, v text); CREATE TABLE plain (id int)`
	b := pgredistest.New(t, ddl, "kv")
	var max int
	if err := b.PG.QueryRow(context.Background(), `SELECT current_setting('max_prepared_transactions')::int`).Scan(&max); err != nil {
		t.Fatal(err)
	}
	if max == 0 {
		b = preparedTransactionsServer(t, ddl, "kv")
	}
	startListening(t, b)
	ctx := context.Background()
	b.Exec(t, `INSERT INTO kv VALUES (1, 'a')`)
	b.WaitMirror(t, converge)
	gid := fmt.Sprintf("pgredis_test_%d_%d", os.Getpid(), roleSeq.Add(1))
	tx, err := b.PG.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `INSERT INTO kv VALUES (2, 'b')`); err != nil {
		t.Fatal(err)
	}
	_, err = tx.Exec(ctx, `PREPARE TRANSACTION '`+gid+`'`)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "0A000" || !strings.Contains(pgErr.Message, "NOTIFY") {
		b.PG.Exec(ctx, `ROLLBACK PREPARED '`+gid+`'`)
		t.Fatalf("PREPARE TRANSACTION after a write to a synced table: %v, want the documented 0A000 NOTIFY error", err)
	}
	tx.Rollback(ctx)
	// A transaction that writes only unsynced tables prepares as usual.
	tx2, err := b.PG.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx2.Rollback(ctx)
	if _, err := tx2.Exec(ctx, `INSERT INTO plain VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx2.Exec(ctx, `PREPARE TRANSACTION '`+gid+`'`); err != nil {
		t.Fatal(err)
	}
	b.Exec(t, `ROLLBACK PREPARED '`+gid+`'`)
	b.RequireMirror(t)
	var n int
	if err := b.PG.QueryRow(ctx, `SELECT count(*) FROM kv`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("kv has %d rows (%v), want 1", n, err)
	}
}

// preparedTransactionsServer is a bundle on a private PostgreSQL that
// allows prepared transactions.
func preparedTransactionsServer(t *testing.T, ddl, tables string) *pgredistest.Bundle {
	t.Helper()
	pg := testenv.StartPostgres(t)
	ctx := context.Background()
	admin := pgAdmin(t, pg)
	admin("postgres", "ALTER SYSTEM SET max_prepared_transactions = 4")
	pg.Restart(t)
	admin("postgres", "CREATE DATABASE app")
	admin("app", ddl)
	if err := pgredistest.Migrate(ctx, pg.URL("app")); err != nil {
		t.Fatal(err)
	}
	b := pgredistest.Open(t, pg.URL("app"), testenv.Redis(t), "")
	b.Install(t, tables)
	return b
}

// errorLog records the worker's error-level log lines: a fetch or trigger
// that failed would still let the mirror converge through a reconcile,
// and hide what the test looks for.
type errorLog struct {
	slog.Handler
	mu    sync.Mutex
	lines []string
}

func (h *errorLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		h.mu.Lock()
		h.lines = append(h.lines, r.Message)
		r.Attrs(func(a slog.Attr) bool {
			h.lines[len(h.lines)-1] += " " + a.String()
			return true
		})
		h.mu.Unlock()
	}
	return h.Handler.Handle(ctx, r)
}

// startStrict starts a listening worker; the returned check fails the
// test if the worker logged an error so far.
func startStrict(t *testing.T, b *pgredistest.Bundle) (check func()) {
	t.Helper()
	cfg := b.Config(t)
	h := &errorLog{Handler: cfg.Logger.Handler()}
	cfg.Logger = slog.New(h)
	w := b.StartWorkerWith(t, cfg)
	testenv.Eventually(t, converge, func() error {
		if !w.Active() {
			return errors.New("worker not active yet")
		}
		return nil
	})
	return func() {
		t.Helper()
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, l := range h.lines {
			t.Errorf("worker logged an error: %s", l)
		}
	}
}

// Types outside the pinned search_path: an enum and an extension's type
// (citext, whose equality operator lives in the extension's schema) in
// schemas that only migrate up's and the writer's sessions have on their
// path. Large rows (the worker's fetch casts to the key column's type) and
// a key moved and re-inserted in one statement (the trigger's lookup uses
// the type's equality) mirror without a fallback.
func TestTypesOutsideThePinnedPath(t *testing.T) {
	needServers(t)
	t.Parallel()
	b := pgredistest.New(t, `
CREATE SCHEMA app;
CREATE SCHEMA ext;
CREATE EXTENSION citext SCHEMA ext;
CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE app.items (k ext.citext PRIMARY KEY DEFERRABLE, mood app.mood, body text);
CREATE TABLE app.moods (m app.mood PRIMARY KEY DEFERRABLE, body text);`, "")
	ctx := context.Background()
	conn, err := b.PG.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	specs, err := spec.Parse("app.items; app.moods format=hash")
	if err != nil {
		t.Fatal(err)
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL search_path = app, ext, public"); err != nil {
			return err
		}
		resolved, err := notify.Resolve(ctx, tx, specs, pgredistest.StatePrefix)
		if err != nil {
			return err
		}
		return notify.Install(ctx, tx, resolved)
	})
	conn.Release()
	if err != nil {
		t.Fatal(err)
	}
	b.Tables, b.Specs = "app.items; app.moods format=hash", specs
	check := startStrict(t, b)
	w := strictPool(t, b.DatabaseURL)
	for _, q := range []string{
		`INSERT INTO items VALUES ('a', 'ok', 'small'), ('B', 'sad', repeat('x', 9000)), ('c', NULL, NULL)`,
		`INSERT INTO moods VALUES ('sad', 'small'), ('happy', repeat('y', 9000))`,
		`UPDATE items SET body = body || repeat('z', 9000) WHERE k = 'b'`,
		`WITH m AS (UPDATE items SET k = 'moved' WHERE k = 'A') INSERT INTO items VALUES ('a', 'happy', 'again')`,
		`WITH m AS (UPDATE moods SET m = 'ok' WHERE m = 'sad') INSERT INTO moods VALUES ('sad', 'back')`,
	} {
		// Each statement on its own connection state: search_path is per
		// session, so set it in the same call.
		execAs(t, w, `SET search_path = app, ext, public; `+q)
	}
	b.WaitMirror(t, converge)
	execAs(t, w, `DELETE FROM app.items WHERE k = 'MOVED'; DELETE FROM app.moods WHERE m = 'happy'`)
	b.WaitMirror(t, converge)
	check()
}

// A trigger that cannot describe a change (here: the key column was
// dropped) lets the write through and says why in a WARNING, which the
// server logs and the writer receives.
func TestTriggerFallbackWarns(t *testing.T) {
	needServers(t)
	t.Parallel()
	b := pgredistest.New(t, `CREATE TABLE doc (id int PRIMARY KEY, code text, v text)`, "doc key=d:{code}")
	// With pgredis's event trigger off for this ALTER (it would swap the
	// functions for the fallback, which cannot fail), as on a server where
	// migrate up could not create it.
	b.Exec(t, `SELECT set_config('pgredis.in_ddl', 'on', true); ALTER TABLE doc DROP COLUMN code`)
	cfg, err := pgxpool.ParseConfig(b.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var warnings []string
	cfg.ConnConfig.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		mu.Lock()
		defer mu.Unlock()
		warnings = append(warnings, n.Severity+" "+n.Message)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	execAs(t, pool, `INSERT INTO doc VALUES (1, 'a')`)
	mu.Lock()
	defer mu.Unlock()
	want := `WARNING pgredis: the ins trigger on public.doc failed, so the worker will reconcile the table: column n.code does not exist`
	if len(warnings) != 1 || warnings[0] != want {
		t.Fatalf("warnings %q, want [%q]", warnings, want)
	}
}

// A statement that changes one row takes the trigger's short path, which
// must send what the bulk path sends for that row: every kind of
// single-row write converges exactly, next to the same writes done by
// multi-row statements, and none falls back to a reconcile (strictPool,
// startStrict). Covered: a key that moves, a row that leaves and re-enters
// where=, a key column set to NULL and back, rows too large for a
// notification (fetch entries), deletes of rows in and out of the mirror,
// and a single-row statement inside a writable CTE that re-sets the key it
// moved away from (it needs goneKeys's lookup, so the bulk path).
func TestSingleRowStatements(t *testing.T) {
	needServers(t)
	t.Parallel()
	b := pgredistest.New(t, `
CREATE TABLE s1 (id int PRIMARY KEY, code text UNIQUE DEFERRABLE, live boolean NOT NULL DEFAULT true, v text);
CREATE TABLE s2 (id int PRIMARY KEY, v text, at timestamptz, n numeric);
CREATE TABLE s3 (id int PRIMARY KEY, v text, at timestamptz);`,
		"s1 key=s1:{code} where=(live); s2; s3 format=hash")
	w := strictPool(t, b.DatabaseURL)
	check := startStrict(t, b)
	defer check()
	b.WaitMirror(t, converge)
	rounds := [][]string{{
		`INSERT INTO s1 VALUES (1, 'a', true, 'one')`,
		`INSERT INTO s1 VALUES (2, 'b', false, 'hidden')`,
		`INSERT INTO s1 VALUES (3, NULL, true, 'no key')`,
		`INSERT INTO s1 VALUES (4, 'd', true, repeat('x', 9000))`,
		`INSERT INTO s1 SELECT g, 'm' || g, g % 2 = 0, 'multi' FROM generate_series(10, 19) g`,
		`INSERT INTO s2 VALUES (1, 'one', '2024-01-01 12:00+02', 1.50)`,
		`INSERT INTO s2 VALUES (2, repeat('é', 5000), NULL, NULL)`,
		`INSERT INTO s2 SELECT g, 'multi', now(), g FROM generate_series(10, 19) g`,
		`INSERT INTO s3 VALUES (1, 'one', now())`,
		`INSERT INTO s3 VALUES (2, repeat('y', 9000), NULL)`,
	}, {
		`UPDATE s1 SET v = 'changed' WHERE id = 1`,
		`UPDATE s1 SET code = 'a2' WHERE id = 1`,
		`UPDATE s1 SET live = true WHERE id = 2`,
		`UPDATE s1 SET live = false WHERE id = 4`,
		`UPDATE s1 SET code = 'c' WHERE id = 3`,
		`UPDATE s1 SET code = NULL WHERE id = 10`,
		`UPDATE s1 SET code = code WHERE id = 12`,
		`UPDATE s1 SET code = code || 'x', live = NOT live WHERE id > 14`,
		`UPDATE s2 SET id = 100 WHERE id = 1`,
		`UPDATE s2 SET v = v || repeat('z', 9000) WHERE id = 2`,
		`UPDATE s2 SET n = n + 1 WHERE id = 10`,
		`UPDATE s2 SET id = id + 100 WHERE id > 15`,
		`UPDATE s3 SET id = 3, v = 'moved' WHERE id = 1`,
		`UPDATE s3 SET v = 'small again' WHERE id = 2`,
		`UPDATE s1 SET v = 'none' WHERE id = 999`,
	}, {
		`WITH m AS (UPDATE s1 SET code = 'gone' WHERE id = 11) INSERT INTO s1 VALUES (50, 'm11', true, 'took over')`,
		`WITH d AS (DELETE FROM s2 WHERE id = 11 RETURNING id) INSERT INTO s2 SELECT id, 'again', NULL, NULL FROM d`,
		`WITH d AS (DELETE FROM s3 WHERE id = 2 RETURNING id) INSERT INTO s3 SELECT id, 'again', NULL FROM d`,
	}, {
		`DELETE FROM s1 WHERE id = 1`,
		`DELETE FROM s1 WHERE id = 4`,
		`DELETE FROM s1 WHERE id = 10`,
		`DELETE FROM s1 WHERE id > 15`,
		`DELETE FROM s2 WHERE id = 100`,
		`DELETE FROM s2 WHERE id > 110`,
		`DELETE FROM s3 WHERE id = 3`,
		`DELETE FROM s3 WHERE id = 999`,
	}}
	for _, round := range rounds {
		for _, q := range round {
			execAs(t, w, q)
		}
		b.WaitMirror(t, converge)
	}
}
