package worker_test

import (
	"context"
	"strings"
	"testing"

	"github.com/pgredis/pgredis/internal/pgredistest"
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
