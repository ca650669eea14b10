package worker_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
)

// Notifications that arrive while the start-up reconcile runs are neither
// lost nor applied out of order against its snapshot: writers keep
// changing rows (and keys) from before the worker starts until after its
// reconcile, and the mirror still ends exact.
func TestWritesDuringReconcile(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, `
CREATE TABLE hot (id int PRIMARY KEY, n int NOT NULL);
INSERT INTO hot SELECT g, 0 FROM generate_series(1, 20000) g;`, "hot")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				// Updates, key moves, deletes and re-inserts of the same rows.
				lo := (i*37 + w*5000) % 19000
				var err error
				switch i % 4 {
				case 0, 1:
					_, err = b.PG.Exec(ctx, `UPDATE hot SET n = n + 1 WHERE id BETWEEN $1 AND $1 + 50`, lo)
				case 2:
					_, err = b.PG.Exec(ctx, `DELETE FROM hot WHERE id BETWEEN $1 AND $1 + 10`, lo)
				case 3:
					_, err = b.PG.Exec(ctx, `INSERT INTO hot SELECT g, $2 FROM generate_series($1::int, $1::int + 10) g ON CONFLICT (id) DO UPDATE SET n = hot.n + 100`, lo, i)
				}
				if err != nil && ctx.Err() == nil {
					errs <- err
					return
				}
			}
		}()
	}
	// The sleeps set how long the writers run around the worker's start
	// (the workload), not when the test checks: WaitMirror does that.
	time.Sleep(200 * time.Millisecond)
	w := b.StartWorker(t)
	testenv.Eventually(t, converge, func() error {
		if !w.Active() {
			return errors.New("worker not active yet")
		}
		return nil
	})
	time.Sleep(1500 * time.Millisecond)
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	b.WaitMirror(t, converge)
}

// Quoted, mixed-case schema, table and column names, an enum primary key
// (a large row is fetched back by it), and key= on a nullable column: a
// row whose key column is NULL has no key.
func TestQuotedNamesAndNullKeys(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, `
CREATE SCHEMA "Sales";
CREATE TYPE "Sales".mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE "Sales"."Q1" ("Id" "Sales".mood PRIMARY KEY, "we""ird" text, body text);
CREATE TABLE nk (id int PRIMARY KEY, code text);`,
		`"Sales"."Q1"; nk key=nk:{code} format=hash`)
	startListening(t, b)
	b.Exec(t, `
INSERT INTO "Sales"."Q1" VALUES ('sad', 'q"uote', 'small'), ('happy', NULL, repeat('x', 10000));
INSERT INTO nk VALUES (1, 'a'), (2, NULL), (3, 'c');`)
	b.WaitMirror(t, converge)
	b.Exec(t, `
UPDATE "Sales"."Q1" SET body = body || 'y', "we""ird" = 'w';
UPDATE nk SET code = NULL WHERE id = 1;
UPDATE nk SET code = 'b' WHERE id = 2;`)
	b.WaitMirror(t, converge)
	if n := b.Redis.Exists(context.Background(), "Q1:happy", "nk:b", "nk:a").Val(); n != 2 {
		t.Fatalf("want Q1:happy and nk:b (and no nk:a), %d of them exist", n)
	}
}
