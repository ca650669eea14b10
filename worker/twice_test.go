package worker_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
	"github.com/pgredis/pgredis/worker"
)

// A table listed twice with different key templates: each entry is its
// own exact mirror (users:{id} as JSON, user_by_email:{email} as a hash
// of two columns), live (inserts, updates of a value, of the email that
// moves the second entry's key, of the id that moves the first's, an
// email set to NULL and back, deletes, a writable CTE, TRUNCATE), through
// the start-up reconcile after a restart and through a resync of the
// table by name, which reconciles both entries.
func TestTableListedTwice(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, `
CREATE TABLE users (id int PRIMARY KEY, email text UNIQUE, name text, note text);
INSERT INTO users VALUES (1, 'a@x', 'Ann', 'n1'), (2, 'b@x', 'Bob', NULL), (3, NULL, 'Cy', NULL);`,
		"users; users key=user_by_email:{email} format=hash columns=id,name")
	ctx := context.Background()
	// Stale keys of both entries: the start-up reconcile repairs them.
	b.Redis.HSet(ctx, "user_by_email:ghost@x", "id", "9", "name", "Ghost")
	b.Redis.HSet(ctx, "user_by_email:a@x", "id", "1", "name", "wrong")
	b.Redis.Set(ctx, "users:9", `{"id": 9}`, 0)
	w := startListening(t, b)
	b.WaitMirror(t, converge)

	steps := []string{
		`INSERT INTO users VALUES (4, 'd@x', 'Dee', 'n4')`,
		`INSERT INTO users SELECT g, 'u' || g || '@x', 'U' || g, NULL FROM generate_series(10, 40) g`,
		`UPDATE users SET name = 'Anne' WHERE id = 1`,
		`UPDATE users SET note = 'only in the first entry' WHERE id = 2`,
		// Moves the second entry's key; the first's stays.
		`UPDATE users SET email = 'a2@x' WHERE id = 1`,
		// Moves the first entry's key; the second's stays (its value changes).
		`UPDATE users SET id = 100 WHERE id = 2`,
		// Out of the second entry (no key) and back in.
		`UPDATE users SET email = NULL WHERE id = 4`,
		`UPDATE users SET email = 'c@x' WHERE id = 3`,
		`UPDATE users SET email = 'u' || (id + 1000) || '@x', name = name || '!' WHERE id BETWEEN 10 AND 40`,
		`BEGIN; UPDATE users SET email = 'tmp@x' WHERE id = 1; UPDATE users SET email = 'a2@x' WHERE id = 1; COMMIT`,
		`WITH d AS (DELETE FROM users WHERE id = 1 RETURNING id, email) INSERT INTO users SELECT id, email, 'Reborn', NULL FROM d`,
		`DELETE FROM users WHERE id = 100`,
		`DELETE FROM users WHERE id BETWEEN 10 AND 20`,
	}
	for i, s := range steps {
		b.Exec(t, s)
		b.WaitMirror(t, converge)
		if t.Failed() {
			t.Fatalf("after step %d: %s", i, s)
		}
	}

	// A column change: the event trigger swaps every entry's functions
	// for the fallback, and the worker regenerates them all.
	b.Exec(t, `ALTER TABLE users ADD COLUMN age int DEFAULT 7`)
	b.Exec(t, `UPDATE users SET age = id, email = 'x' || email WHERE id < 30; INSERT INTO users VALUES (6, 'f@x', 'Fay', NULL, 1)`)
	b.WaitMirror(t, converge)
	testenv.Eventually(t, converge, func() error {
		var stale []string
		err := b.PG.QueryRow(ctx, `SELECT coalesce(array_agg(proname::text), '{}') FROM pg_proc
WHERE pronamespace = 'pgredis'::regnamespace AND (proname LIKE 't\_%' OR proname LIKE 'e\_%') AND prosrc LIKE '%c1 refresh 0 0%'`).Scan(&stale)
		if err == nil && len(stale) > 0 {
			err = fmt.Errorf("trigger functions still the fallback: %v", stale)
		}
		return err
	})
	b.Exec(t, `UPDATE users SET age = age + 1, email = 'y' || email WHERE id < 30`)
	b.WaitMirror(t, converge)

	// A restart: changes made while no worker runs, and planted drift.
	if err := w.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	b.Exec(t, `UPDATE users SET email = 'moved' || id || '@x' WHERE id > 30; DELETE FROM users WHERE id = 3; INSERT INTO users VALUES (5, 'e@x', 'Eve', NULL, 5)`)
	b.Redis.HSet(ctx, "user_by_email:ghost2@x", "id", "9")
	b.Redis.Del(ctx, "users:5")
	w = startListening(t, b)
	b.WaitMirror(t, converge)
	if err := w.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	// resync TABLE reconciles every entry of the table.
	b.Redis.HSet(ctx, "user_by_email:ghost3@x", "id", "9")
	b.Redis.Set(ctx, "users:999", `{}`, 0)
	b.Redis.Del(ctx, "user_by_email:e@x", "users:4")
	reports, err := worker.Resync(ctx, b.Config(t), []string{"users"}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) != 2 {
		t.Fatalf("resync users reconciled %d entries, want 2: %+v", len(reports), reports)
	}
	var written, deleted int
	for _, r := range reports {
		written += int(r.Written)
		deleted += int(r.Deleted)
	}
	if written != 2 || deleted != 2 {
		t.Errorf("resync wrote %d and deleted %d keys, want 2 and 2: %+v", written, deleted, reports)
	}
	b.RequireMirror(t)

	w = startListening(t, b)
	b.WaitMirror(t, converge)
	b.Exec(t, `TRUNCATE users`)
	b.WaitMirror(t, converge)
	_ = w
}

// A second entry added to a table mirrored alone (a release: migrate up,
// then the worker restarted with the new PGREDIS_TABLES) is filled by the
// start-up reconcile and followed live next to the first; removed again,
// its triggers stop and the first entry goes on as before.
func TestTableSecondEntryAddedAndRemoved(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, `
CREATE TABLE users (id int PRIMARY KEY, email text UNIQUE, name text);
INSERT INTO users SELECT g, 'u' || g || '@x', 'U' || g FROM generate_series(1, 30) g;`, "users")
	ctx := context.Background()
	w := startListening(t, b)
	b.Exec(t, `UPDATE users SET name = 'first' WHERE id < 5`)
	b.WaitMirror(t, converge)
	if err := w.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	b.Install(t, "users; users key=user_by_email:{email} format=hash columns=id,name")
	b.Exec(t, `UPDATE users SET email = 'new' || email WHERE id BETWEEN 5 AND 9`)
	w = startListening(t, b)
	b.WaitMirror(t, converge)
	if n := b.Redis.Exists(ctx, "user_by_email:newu5@x", "users:5").Val(); n != 2 {
		t.Fatalf("%d of the keys of both entries exist, want 2", n)
	}
	b.Exec(t, `UPDATE users SET email = 'again' || id || '@x' WHERE id < 12; DELETE FROM users WHERE id = 1; INSERT INTO users VALUES (31, 'z@x', 'Z')`)
	b.WaitMirror(t, converge)
	if err := w.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	b.Install(t, "users")
	// Its keys stay in Redis (migrate up leaves them); the mirror of the
	// remaining entry is compared alone.
	b.Redis.Del(ctx, b.Redis.Keys(ctx, "user_by_email:*").Val()...)
	var n int
	if err := b.PG.QueryRow(ctx, `SELECT count(*) FROM pg_trigger WHERE tgrelid = 'users'::regclass AND tgname LIKE 'pgredis%'`).Scan(&n); err != nil || n != 4 {
		t.Fatalf("users has %d pgredis triggers after the second entry was removed, want 4 (%v)", n, err)
	}
	startListening(t, b)
	b.Exec(t, `UPDATE users SET email = 'last' || id || '@x', name = 'last' WHERE id < 20; DELETE FROM users WHERE id = 2`)
	b.WaitMirror(t, converge)
	if keys := b.Redis.Keys(ctx, "user_by_email:*").Val(); len(keys) != 0 {
		t.Fatalf("the removed entry still writes: %v", keys)
	}
}
