package worker_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
	"github.com/pgredis/pgredis/worker"
)

// exclude=: every column but the excluded ones, live and through the
// start-up reconcile, for json and hash, including a column added later
// (followed without a migrate up) and an excluded column that changes
// alone (the value stays, no excluded field ever reaches Redis).
func TestExcludeColumns(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, `
CREATE TABLE accounts (id int PRIMARY KEY, email text, password text, token text);
CREATE TABLE ah (id int PRIMARY KEY, email text, password text, n int);
INSERT INTO accounts VALUES (1, 'a@x', 'pw1', 't1'), (2, NULL, 'pw2', NULL);
INSERT INTO ah VALUES (1, 'a@x', 'pw1', 1), (2, NULL, 'pw2', NULL);`,
		"accounts exclude=password,token; ah format=hash exclude=password")
	ctx := context.Background()
	// Stale values holding an excluded column: the reconcile rewrites them.
	b.Redis.Set(ctx, "accounts:1", `{"id": 1, "email": "a@x", "password": "pw1", "token": "t1"}`, 0)
	b.Redis.HSet(ctx, "ah:1", "id", "1", "email", "a@x", "password", "pw1", "n", "1")
	startListening(t, b)
	b.WaitMirror(t, converge)
	noSecrets(t, b)

	b.Exec(t, `
INSERT INTO accounts VALUES (3, 'c@x', 'pw3', 't3');
INSERT INTO ah VALUES (3, 'c@x', 'pw3', 3), (4, NULL, 'only a password', NULL);
UPDATE accounts SET password = 'new' WHERE id = 1;
UPDATE ah SET password = 'new', email = 'b@x' WHERE id = 2;
UPDATE accounts SET id = id + 10 WHERE id = 2;
DELETE FROM ah WHERE id = 1;`)
	b.WaitMirror(t, converge)
	noSecrets(t, b)

	// A column added later is in the value, with no migrate up.
	b.Exec(t, `ALTER TABLE accounts ADD COLUMN plan text DEFAULT 'free'; ALTER TABLE ah ADD COLUMN plan text DEFAULT 'free'`)
	b.Exec(t, `INSERT INTO accounts VALUES (5, 'e@x', 'pw5', 't5', 'pro'); UPDATE ah SET plan = 'pro' WHERE id = 3; UPDATE accounts SET email = 'z@x' WHERE id = 1`)
	b.WaitMirror(t, converge)
	noSecrets(t, b)
	if v := b.Redis.Get(ctx, "accounts:5").Val(); !strings.Contains(v, `"plan": "pro"`) {
		t.Errorf("accounts:5 = %s, want the added column plan", v)
	}
	b.Exec(t, `TRUNCATE accounts, ah`)
	b.WaitMirror(t, converge)
}

// noSecrets checks that no excluded column reached Redis (the expected
// mirror leaves them out too; this says so by name).
func noSecrets(t *testing.T, b *pgredistest.Bundle) {
	t.Helper()
	ctx := context.Background()
	for _, k := range b.Redis.Keys(ctx, "accounts:*").Val() {
		if v := b.Redis.Get(ctx, k).Val(); strings.Contains(v, "password") || strings.Contains(v, "token") {
			t.Errorf("%s = %s holds an excluded column", k, v)
		}
	}
	for _, k := range b.Redis.Keys(ctx, "ah:*").Val() {
		if b.Redis.HExists(ctx, k, "password").Val() {
			t.Errorf("%s holds the excluded field password", k)
		}
	}
}

// where=: only matching rows are in the mirror. Rows cross the boundary
// every way: inserts on either side, updates moving rows out and in
// (single and multi-row, with key changes), in -> out -> in and out -> in
// -> out inside one transaction, A -> B -> A, a writable CTE deleting a
// matching row and re-inserting its key not matching, deletes, TRUNCATE;
// live, and through the start-up reconcile (which deletes a planted key
// of a row that does not match).
func TestWhereFilter(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, `
CREATE TABLE tasks (id int PRIMARY KEY, state text NOT NULL, n int, note text);
CREATE TABLE th (id int PRIMARY KEY, n int, note text);
CREATE TABLE tk (code text NOT NULL, id int PRIMARY KEY, live boolean);
CREATE UNIQUE INDEX ON tk (code);
INSERT INTO tasks VALUES (1, 'open', 1, NULL), (2, 'done', 2, NULL), (3, 'open', 3, 'x');
INSERT INTO th VALUES (1, 1, NULL), (2, 0, NULL), (3, 5, 'x; y=z');
INSERT INTO tk VALUES ('a', 1, true), ('b', 2, false);`,
		`tasks where=(state <> 'done'); th format=hash where=(n > 0 AND note IS DISTINCT FROM 'x; y=z') exclude=note;
		 tk key=tk:{code} where=(live)`)
	ctx := context.Background()
	b.Redis.Set(ctx, "tasks:2", `{"id": 2, "state": "done", "n": 2, "note": null}`, 0)
	b.Redis.HSet(ctx, "th:3", "id", "3", "n", "5")
	w := startListening(t, b)
	b.WaitMirror(t, converge)
	if n := b.Redis.Exists(ctx, "tasks:2", "th:2", "th:3", "tk:b").Val(); n != 0 {
		t.Fatalf("%d keys of rows that do not match exist", n)
	}

	steps := []string{
		// Inserts on both sides, one statement.
		`INSERT INTO tasks VALUES (4, 'open', 4, NULL), (5, 'done', 5, NULL); INSERT INTO th VALUES (4, 4, NULL), (5, -1, NULL); INSERT INTO tk VALUES ('c', 3, true), ('d', 4, NULL)`,
		// Out, in, and a multi-row update crossing both ways.
		`UPDATE tasks SET state = 'done' WHERE id = 1; UPDATE tasks SET state = 'open' WHERE id = 2`,
		`UPDATE tasks SET state = CASE state WHEN 'done' THEN 'open' ELSE 'done' END; UPDATE th SET n = -n; UPDATE tk SET live = NOT coalesce(live, false)`,
		// Key changes while crossing: out with a new key, in with a new key, staying in with a new key.
		`UPDATE tasks SET id = id + 100, state = 'done' WHERE id = 1; UPDATE tasks SET id = id + 100, state = 'open' WHERE id = 3; UPDATE tk SET code = code || '2'`,
		`UPDATE tasks SET id = id + 100 WHERE state = 'open'`,
		// In -> out -> in and out -> in -> out in one transaction.
		`BEGIN; UPDATE tasks SET state = 'done' WHERE id = 2; UPDATE tasks SET state = 'open' WHERE id = 2; UPDATE th SET n = 9 WHERE id = 2; UPDATE th SET n = 0 WHERE id = 2; COMMIT`,
		`BEGIN; UPDATE tasks SET state = 'open' WHERE id = 5; UPDATE tasks SET state = 'done' WHERE id = 5; UPDATE th SET note = 'x; y=z' WHERE id = 1; UPDATE th SET note = NULL WHERE id = 1; UPDATE th SET note = 'x; y=z' WHERE id = 1; COMMIT`,
		// A -> B -> A on the filtered column and the value.
		`BEGIN; UPDATE tasks SET state = 'a', n = 1 WHERE id = 4; UPDATE tasks SET state = 'b', n = 2 WHERE id = 4; UPDATE tasks SET state = 'a', n = 1 WHERE id = 4; COMMIT`,
		// A writable CTE: a matching row deleted and its key re-inserted not matching, and the reverse.
		`WITH d AS (DELETE FROM tasks WHERE id = 4 RETURNING id) INSERT INTO tasks SELECT id, 'done', 0, NULL FROM d`,
		`WITH d AS (DELETE FROM tasks WHERE id = 4 RETURNING id) INSERT INTO tasks SELECT id, 'open', 7, NULL FROM d`,
		`DELETE FROM tasks WHERE id IN (4, 5); DELETE FROM th WHERE n <= 0; DELETE FROM tk WHERE NOT live`,
		// Rows too large for a notification go by reference: one that
		// stops matching before the worker reads it is deleted.
		`INSERT INTO tasks VALUES (50, 'open', 1, repeat('x', 9000)), (51, 'done', 1, repeat('y', 9000))`,
		`BEGIN; UPDATE tasks SET note = note || 'z' WHERE id = 50; UPDATE tasks SET state = 'done' WHERE id = 50; UPDATE tasks SET state = 'open' WHERE id = 51; COMMIT`,
	}
	for i, s := range steps {
		b.Exec(t, s)
		b.WaitMirror(t, converge)
		if t.Failed() {
			t.Fatalf("after step %d: %s", i, s)
		}
	}

	// Through the reconcile: changes made while no worker runs, and
	// stale keys of rows that do not match.
	if err := w.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	b.Exec(t, `UPDATE tasks SET state = 'done' WHERE id % 2 = 0; INSERT INTO tasks SELECT g, CASE WHEN g % 3 = 0 THEN 'done' ELSE 'open' END, g, NULL FROM generate_series(300, 360) g; UPDATE th SET n = 3; INSERT INTO tk VALUES ('z', 9, false)`)
	b.Redis.Set(ctx, "tasks:300", `{"id": 300}`, 0)
	b.Redis.Set(ctx, "tk:z", `{}`, 0)
	startListening(t, b)
	b.WaitMirror(t, converge)
	b.Exec(t, `TRUNCATE tasks, th, tk`)
	b.WaitMirror(t, converge)
}

// expire_at=: each key expires at its row's instant (timestamptz,
// timestamp read as UTC, date); a row whose instant has passed is not in
// the mirror, NULL and infinity mean no expiry; live (instants moved into
// the past and the future, set and cleared), through the start-up
// reconcile (a key with a wrong or no expiry, a key of an expired row),
// a key that expires in Redis while the worker runs, and a dry-run
// resync afterwards that finds no drift (an expired key is not drift).
func TestExpireAt(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, `
CREATE TABLE sess (id int PRIMARY KEY, until timestamptz, v text);
CREATE TABLE sh (id int PRIMARY KEY, day date, v text);
CREATE TABLE sl (id int PRIMARY KEY, at timestamp, live boolean);
INSERT INTO sess VALUES (1, '2099-01-01 00:00:00.123+00', 'a'), (2, '2000-01-01 00:00:00+00', 'b'), (3, NULL, 'c'), (4, 'infinity', 'd'), (5, '-infinity', 'e');
INSERT INTO sh VALUES (1, '2099-01-01', 'a'), (2, '2000-01-01', 'b'), (3, NULL, 'c');
INSERT INTO sl VALUES (1, '2099-06-01 12:00:00.5', true), (2, '2099-06-01 12:00:00', false), (3, '2001-01-01', true);`,
		"sess expire_at=until; sh format=hash expire_at=day; sl expire_at=at where=(live)")
	ctx := context.Background()
	// Stale keys: an expired row's, one with no expiry, one with a wrong one.
	b.Redis.Set(ctx, "sess:2", `{"id": 2, "v": "b", "until": "2000-01-01T00:00:00+00:00"}`, 0)
	b.Redis.Set(ctx, "sess:1", `{"id": 1, "v": "a", "until": "2099-01-01T00:00:00.123+00:00"}`, 0)
	b.Redis.HSet(ctx, "sh:1", "id", "1", "day", "2099-01-01", "v", "a")
	b.Redis.PExpireAt(ctx, "sh:1", time.Date(2098, 1, 1, 0, 0, 0, 0, time.UTC))
	w := startListening(t, b)
	b.WaitMirror(t, converge)
	if n := b.Redis.Exists(ctx, "sess:2", "sess:5", "sh:2", "sl:3").Val(); n != 0 {
		t.Fatalf("%d keys of rows whose instant has passed exist", n)
	}

	for i, s := range []string{
		`UPDATE sess SET until = '2001-01-01+00' WHERE id = 1; UPDATE sess SET until = '2098-01-01+00' WHERE id = 2; UPDATE sess SET until = '2097-05-05 05:05:05.5+00' WHERE id = 3; UPDATE sess SET until = NULL WHERE id = 4`,
		`UPDATE sh SET day = day + 1; UPDATE sh SET day = NULL WHERE id = 1; UPDATE sl SET at = at + interval '1 day', live = NOT live`,
		`INSERT INTO sess VALUES (6, '2096-01-01+00', 'f'), (7, '1999-01-01+00', 'g'); UPDATE sess SET v = 'moved', id = 8 WHERE id = 2`,
		`BEGIN; UPDATE sess SET until = '2001-01-01+00' WHERE id = 6; UPDATE sess SET until = '2095-01-01+00' WHERE id = 6; COMMIT`,
		// A key that expires in Redis while the worker runs.
		`INSERT INTO sess VALUES (9, clock_timestamp() + interval '1500 milliseconds', 'soon')`,
		// Rows too large for a notification go by reference.
		`INSERT INTO sess VALUES (10, '2094-01-01+00', repeat('x', 9000)), (11, '2002-01-01+00', repeat('y', 9000))`,
	} {
		b.Exec(t, s)
		b.WaitMirror(t, converge)
		if t.Failed() {
			t.Fatalf("after step %d: %s", i, s)
		}
	}
	testenv.Eventually(t, converge, func() error {
		if b.Redis.Exists(ctx, "sess:9").Val() != 0 {
			return errors.New("sess:9 has not expired yet")
		}
		return nil
	})
	b.WaitMirror(t, converge)
	reps, err := worker.Resync(ctx, b.Config(t), nil, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reps {
		if r.Written != 0 || r.Deleted != 0 || r.Missing != 0 {
			t.Errorf("dry-run resync found drift in %s: %+v", r.Table, r)
		}
	}

	// Through the reconcile.
	if err := w.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	b.Exec(t, `UPDATE sess SET until = until - interval '1000 years' WHERE id = 8; UPDATE sess SET until = '2090-01-01+00' WHERE id = 7; UPDATE sh SET day = '2093-03-03'`)
	b.Redis.Persist(ctx, "sess:6")
	startListening(t, b)
	b.WaitMirror(t, converge)
	b.Exec(t, `DELETE FROM sess WHERE id = 6; TRUNCATE sh, sl`)
	b.WaitMirror(t, converge)
}

// Guarantee 10 for the shape options: a column added to a where= and
// expire_at= table is followed (the functions are regenerated and the
// expression checked again); one that where= or expire_at= names dropped
// never fails a write, and migrate up with a fitting spec repairs.
func TestShapeOptionsAfterAlter(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, `
CREATE TABLE tasks (id int PRIMARY KEY, state text, until timestamptz, note text);
INSERT INTO tasks VALUES (1, 'open', '2099-01-01+00', 'a'), (2, 'done', NULL, 'b');`,
		"tasks where=(state <> 'done') expire_at=until exclude=note")
	w := startListening(t, b)
	b.WaitMirror(t, converge)
	b.Exec(t, `ALTER TABLE tasks ADD COLUMN extra int DEFAULT 7`)
	b.Exec(t, `INSERT INTO tasks VALUES (3, 'open', NULL, 'c', 8); UPDATE tasks SET state = 'open' WHERE id = 2`)
	b.WaitMirror(t, converge)

	b.Exec(t, `ALTER TABLE tasks DROP COLUMN state; ALTER TABLE tasks DROP COLUMN until`)
	for _, q := range []string{`INSERT INTO tasks VALUES (4, 'd', 1)`, `UPDATE tasks SET extra = 9`, `DELETE FROM tasks WHERE id = 1`, `TRUNCATE tasks`, `INSERT INTO tasks VALUES (5, 'e', 2)`} {
		b.Exec(t, q)
	}
	if err := w.Err(); err != nil {
		t.Fatalf("worker stopped: %v", err)
	}
	_ = w.Stop(context.Background())
	b.Install(t, "tasks where=(extra > 1) exclude=note")
	startListening(t, b)
	b.WaitMirror(t, converge)
	b.Exec(t, `UPDATE tasks SET extra = 0; INSERT INTO tasks VALUES (6, 'f', 3)`)
	b.WaitMirror(t, converge)
}
