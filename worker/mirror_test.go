package worker_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
	"github.com/pgredis/pgredis/worker"
)

// startListening starts a worker and waits until it listens, so the
// test's writes travel through the triggers and notifications rather than
// being picked up by the start-up reconcile.
func startListening(t *testing.T, b *pgredistest.Bundle) *worker.Worker {
	t.Helper()
	w := b.StartWorker(t)
	testenv.Eventually(t, converge, func() error {
		if !w.Active() {
			return errors.New("worker not active yet")
		}
		return nil
	})
	return w
}

// converge is how long a test waits for the mirror; generous because other
// test processes share the machine's two cores.
const converge = 30 * time.Second

// Composite primary keys (a key value containing ':'), key= templates with
// literals and several columns, format=hash (NULLs have no field),
// columns= subsets for json and hash, and ttl=.
func TestKeysFormatsColumnsTTL(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, `
CREATE TABLE pairs (a text, b int, v text, PRIMARY KEY (a, b));
CREATE TABLE accounts (tenant int, id int, region text NOT NULL, name text, PRIMARY KEY (tenant, id));
CREATE TABLE h (id int PRIMARY KEY, a text, n int, doc jsonb, at timestamptz);
CREATE TABLE js (id int PRIMARY KEY, a text, n int, secret text);
CREATE TABLE hs (id int PRIMARY KEY, a text, n int, secret text);
CREATE TABLE tt (id int PRIMARY KEY, v text);
CREATE TABLE th (id int PRIMARY KEY, v text);
-- Columns named like the aliases the generated SQL uses.
CREATE TABLE aliases (id int PRIMARY KEY, r int, n int, o int, x int, d int, e int, k text, v text, f text, m int, s int, c int, h int, q int);`,
		`pairs; accounts key=acct/{region}-{tenant}:x:{id}/{region}; h format=hash; js columns=n,id;
		 hs format=hash columns=a,n; tt ttl=1h; th key=th:{id} format=hash ttl=90s; aliases key=al:{r}:{n}:{id}`)
	startListening(t, b)
	b.Exec(t, `
INSERT INTO pairs VALUES ('x:y', 1, 'one'), ('x', 2, 'two'), ('', 3, 'empty a'), ('a:b:c', -4, NULL);
INSERT INTO accounts VALUES (1, 1, 'eu', 'ann'), (1, 2, 'us:east', 'bob'), (2, 1, 'eu', NULL);
INSERT INTO h VALUES (1, 'x', 1, '{"k": [1, "two"]}', '2024-05-06 07:08:09+00'), (2, NULL, NULL, NULL, NULL), (3, E'multi\nline', 0, 'null', NULL);
INSERT INTO js VALUES (1, 'a', 10, 's'), (2, NULL, NULL, 's');
INSERT INTO hs VALUES (1, 'a', 10, 's'), (2, NULL, NULL, 's'), (3, NULL, 7, NULL);
INSERT INTO tt VALUES (1, 'a'), (2, 'b');
INSERT INTO th VALUES (1, 'a'), (2, NULL);
INSERT INTO aliases VALUES (1, 2, 3, 4, 5, 6, 7, 'k', 'v', 'f', 8, 9, 10, 11, 12);`)
	b.WaitMirror(t, converge)
	ctx := context.Background()
	for _, k := range []string{"pairs:x:y:1", "pairs::3", "acct/us:east-1:x:2/us:east", "h:1", "hs:3", "tt:1", "th:1"} {
		if n := b.Redis.Exists(ctx, k).Val(); n != 1 {
			t.Errorf("key %q missing", k)
		}
	}
	for _, k := range []string{"hs:2"} {
		if n := b.Redis.Exists(ctx, k).Val(); n != 0 {
			t.Errorf("key %q of a row whose synced columns are all NULL exists", k)
		}
	}
	if f := b.Redis.HGetAll(ctx, "h:2").Val(); len(f) != 1 || f["id"] != "2" {
		t.Errorf("h:2 = %v, want only the id field", f)
	}

	// Key changes (old key deleted), updates, deletes across all tables.
	b.Exec(t, `
UPDATE pairs SET a = a || ':z', v = upper(v) WHERE b < 3;
UPDATE accounts SET region = 'ap' WHERE id = 1;
UPDATE h SET a = NULL, n = n + 1 WHERE id = 1;
UPDATE h SET a = 'now set' WHERE id = 2;
UPDATE hs SET a = NULL, n = NULL WHERE id = 1;
UPDATE hs SET a = 'back' WHERE id = 2;
UPDATE js SET secret = 'not synced', n = 11 WHERE id = 1;
UPDATE tt SET v = v || v;
UPDATE th SET v = 'set' WHERE id = 2;
UPDATE aliases SET r = r + 1, v = 'w';
DELETE FROM pairs WHERE v IS NULL;
DELETE FROM accounts WHERE tenant = 2;`)
	b.WaitMirror(t, converge)
	b.Exec(t, `DELETE FROM h; DELETE FROM th WHERE id = 1`)
	b.WaitMirror(t, converge)
}

// Rows whose payload exceeds NOTIFY's 8000 bytes: the application's writes
// succeed and the mirror converges (guarantee 2).
func TestLargeRows(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, `
CREATE TABLE big (id int PRIMARY KEY, body text);
CREATE TABLE bigh (id int PRIMARY KEY, body text);
CREATE TABLE bigkey (k text PRIMARY KEY, v int);`,
		"big; bigh format=hash; bigkey")
	startListening(t, b)
	b.Exec(t, `
INSERT INTO big VALUES (1, repeat('a', 20000)), (2, repeat('é', 100000)), (3, 'small');
INSERT INTO bigh VALUES (1, repeat('b', 20000)), (2, repeat('c', 200000)), (3, NULL);
INSERT INTO bigkey VALUES (repeat('k', 9000), 1), ('short', 2);`)
	b.WaitMirror(t, converge)
	b.Exec(t, `
UPDATE big SET body = body || repeat('x', 1000);
UPDATE big SET id = id + 10 WHERE id = 1;
UPDATE bigh SET body = left(body, 10) WHERE id = 2;
UPDATE bigkey SET v = v + 1;`)
	b.WaitMirror(t, converge)
	// One statement mixing big and small rows, then deletes.
	b.Exec(t, `INSERT INTO big SELECT g, CASE WHEN g % 3 = 0 THEN repeat(g::text, 9000) ELSE g::text END FROM generate_series(100, 160) g`)
	b.Exec(t, `UPDATE bigkey SET k = k || 'z' WHERE v = 2`)
	b.WaitMirror(t, converge)
	b.Exec(t, `DELETE FROM big WHERE id % 2 = 0; DELETE FROM bigh WHERE id = 2; DELETE FROM bigkey`)
	b.WaitMirror(t, converge)
}

// A -> B -> A inside one transaction ends as A: PostgreSQL drops an
// identical notification within a transaction unless each is distinct.
func TestSameValueTwiceInOneTransaction(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, `CREATE TABLE t (id int PRIMARY KEY, v text)`, "t")
	startListening(t, b)
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, b.PG, func(tx pgx.Tx) error {
		for _, q := range []string{
			`INSERT INTO t VALUES (1, 'A')`, `UPDATE t SET v = 'B'`, `UPDATE t SET v = 'A'`,
			`INSERT INTO t VALUES (2, 'A')`, `DELETE FROM t WHERE id = 2`, `INSERT INTO t VALUES (2, 'A')`,
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	b.WaitMirror(t, converge)
	if v := b.Redis.Get(ctx, "t:1").Val(); v != `{"v": "A", "id": 1}` {
		t.Fatalf("t:1 = %s", v)
	}
}

func TestUpsertAndMerge(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, `
CREATE TABLE stock (sku text PRIMARY KEY, qty int NOT NULL);
CREATE TABLE incoming (sku text, qty int);`, "stock key=stock/{sku} format=hash")
	startListening(t, b)
	b.Exec(t, `INSERT INTO stock VALUES ('a', 1), ('b', 2), ('c', 3)`)
	b.Exec(t, `INSERT INTO stock VALUES ('a', 10), ('d', 4) ON CONFLICT (sku) DO UPDATE SET qty = stock.qty + EXCLUDED.qty`)
	b.Exec(t, `INSERT INTO stock VALUES ('b', 0) ON CONFLICT DO NOTHING`)
	b.WaitMirror(t, converge)
	b.Exec(t, `INSERT INTO incoming VALUES ('a', 0), ('b', 5), ('e', 6)`)
	b.Exec(t, `MERGE INTO stock s USING incoming i ON s.sku = i.sku
		WHEN MATCHED AND i.qty = 0 THEN DELETE
		WHEN MATCHED THEN UPDATE SET qty = s.qty + i.qty
		WHEN NOT MATCHED THEN INSERT VALUES (i.sku, i.qty)`)
	b.WaitMirror(t, converge)
}

// One statement touching 10k rows is mirrored for every row.
func TestTenThousandRowStatement(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, `CREATE TABLE many (id int PRIMARY KEY, v int, note text)`, "many")
	startListening(t, b)
	b.Exec(t, `INSERT INTO many SELECT g, g, 'row ' || g FROM generate_series(1, 10000) g`)
	b.WaitMirror(t, converge)
	b.Exec(t, `UPDATE many SET v = v * 2 WHERE v % 3 <> 0`)
	b.Exec(t, `UPDATE many SET id = id + 20000 WHERE id > 9000`)
	b.Exec(t, `DELETE FROM many WHERE id % 7 = 0`)
	b.WaitMirror(t, converge)
}

// The reconcile on start repairs whatever was done to Redis by hand while
// no worker ran, and never touches keys outside the patterns.
func TestReconcileOnStart(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, `
CREATE TABLE users (id int PRIMARY KEY, name text);
CREATE TABLE carts (uid int, pid int, qty int, PRIMARY KEY (uid, pid));
INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 50) g;
INSERT INTO carts VALUES (1, 1, 1), (1, 2, 2), (2, 1, 3);`, "users; carts key=cart:{uid}:{pid} format=hash ttl=1h")
	ctx := context.Background()
	r := b.Redis
	r.Set(ctx, "users:1", `{"id": 1, "name": "stale"}`, 0)
	r.Set(ctx, "users:2", `not json`, 0)
	r.Set(ctx, "users:500", `{"id": 500}`, 0)       // no such row
	r.HSet(ctx, "users:3", "id", "3", "name", "u3") // wrong type
	r.HSet(ctx, "cart:1:1", "qty", "99")            // stale hash, no ttl
	r.HSet(ctx, "cart:1:2", "uid", "1", "pid", "2", "qty", "2", "extra", "x")
	r.Set(ctx, "cart:2:1", "a string", 0) // wrong type
	r.HSet(ctx, "cart:9:9", "qty", "1")   // no such row
	outside := map[string]string{"usersX": "1", "user:1": "2", "cart:": "3", "cart1": "4", "other": "5"}
	for k, v := range outside {
		r.Set(ctx, k, v, 0)
	}
	r.RPush(ctx, "cartlist", "x")
	b.Outside = func(k string) bool { _, ok := outside[k]; return ok || k == "cartlist" }
	b.StartWorker(t)
	b.WaitMirror(t, converge)
	for k, v := range outside {
		if got := r.Get(ctx, k).Val(); got != v {
			t.Errorf("key %q outside the patterns changed: %q -> %q", k, v, got)
		}
	}
	if got := r.LRange(ctx, "cartlist", 0, -1).Val(); len(got) != 1 {
		t.Errorf("cartlist changed: %q", got)
	}
	if ttl := r.TTL(ctx, "cart:1:1").Val(); ttl <= 0 {
		t.Errorf("cart:1:1 has no ttl after reconcile: %v", ttl)
	}
}

// Values never depend on the writer's session settings: a writer with
// odd TimeZone, DateStyle, IntervalStyle and extra_float_digits writes
// what a UTC, ISO session renders.
func TestWriterSessionSettings(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, `
CREATE TABLE ev (at timestamptz PRIMARY KEY, local timestamp, day date, span interval, f4 float4, f8 float8, n numeric, t time, tz timetz);
CREATE TABLE evh (id int PRIMARY KEY, at timestamptz, day date, span interval, f4 float4, f8 float8);`,
		"ev; evh format=hash")
	startListening(t, b)
	ctx := context.Background()
	conn, err := b.PG.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	for _, q := range []string{
		`SET TimeZone = 'Asia/Kathmandu'`, `SET DateStyle = 'SQL, DMY'`, `SET IntervalStyle = 'sql_standard'`, `SET extra_float_digits = 0`,
		`INSERT INTO ev VALUES ('2024-03-04 05:06:07.891+05:45', '2024-03-04 05:06:07', '2024-12-31', '1 year 2 mons 3 days 04:05:06.7', 0.1, 1.0/3, 12.50, '23:59:59.5', '10:00+05:45')`,
		`INSERT INTO evh VALUES (1, '1999-12-31 23:59:59+00', '2000-02-29', '-1 day +02:00', 3.14159, 2.718281828459045)`,
		`UPDATE ev SET at = at + interval '1 hour', span = span * 2`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	b.WaitMirror(t, converge)
	// The key of a timestamptz primary key renders in UTC, ISO too.
	if n := b.Redis.Exists(ctx, "ev:2024-03-04 00:21:07.891+00").Val(); n != 1 {
		keys := b.Redis.Keys(ctx, "ev:*").Val()
		t.Fatalf("want key ev:2024-03-04 00:21:07.891+00 (UTC, ISO), have %q", keys)
	}
}

// Guarantee 10: altering a synced table never fails the application's
// writes; after a re-install with a fitting spec the mirror converges.
func TestAlterSyncedTable(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, `
CREATE TABLE doc (id int PRIMARY KEY, a text, b text);
CREATE TABLE sub (id int PRIMARY KEY, a text, b text, c text);
CREATE TABLE keyed (code text NOT NULL UNIQUE, id int PRIMARY KEY, v text);
INSERT INTO doc VALUES (1, 'a', 'b');
INSERT INTO sub VALUES (1, 'a', 'b', 'c');
INSERT INTO keyed VALUES ('x', 1, 'v');`,
		"doc; sub format=hash columns=id,a,b; keyed key=k:{code}")
	w := startListening(t, b)
	b.WaitMirror(t, converge)

	// Adding a column fits every spec: all-columns JSON picks it up.
	b.Exec(t, `ALTER TABLE doc ADD COLUMN extra int DEFAULT 7; ALTER TABLE sub ADD COLUMN d text`)
	b.Exec(t, `INSERT INTO doc VALUES (2, 'x', 'y'); UPDATE doc SET extra = 8 WHERE id = 1; INSERT INTO sub VALUES (2, 'p', 'q', 'r', 's')`)
	b.WaitMirror(t, converge)

	// Renaming or dropping a column the spec names: writes still succeed.
	b.Exec(t, `ALTER TABLE sub RENAME COLUMN a TO a2; ALTER TABLE sub DROP COLUMN b; ALTER TABLE keyed RENAME COLUMN code TO code2; ALTER TABLE doc DROP COLUMN b`)
	for _, q := range []string{
		`INSERT INTO sub VALUES (3, 'n', 'c', 'd')`, `UPDATE sub SET a2 = 'changed'`, `DELETE FROM sub WHERE id = 2`,
		`INSERT INTO keyed VALUES ('y', 2, 'w')`, `UPDATE keyed SET v = 'u'`, `DELETE FROM keyed WHERE id = 1`,
		`INSERT INTO doc VALUES (3, 'z')`, `UPDATE doc SET a = 'aa'`, `DELETE FROM doc WHERE id = 2`,
		`TRUNCATE keyed`, `INSERT INTO keyed VALUES ('z', 3, 'again')`,
	} {
		b.Exec(t, q)
	}
	// The all-columns JSON table still fits, and stays exact meanwhile;
	// the worker keeps running.
	specs := b.Specs
	b.Specs, b.Outside = specs[:1], func(k string) bool { return !strings.HasPrefix(k, "doc:") }
	b.WaitMirror(t, converge)
	b.Specs, b.Outside = specs, nil
	if err := w.Err(); err != nil {
		t.Fatalf("worker stopped: %v", err)
	}

	// migrate up with a fitting spec (the worker restarts with it) repairs.
	_ = w.Stop(context.Background())
	b.Install(t, "doc; sub format=hash columns=id,a2; keyed key=k:{code2}")
	startListening(t, b)
	b.WaitMirror(t, converge)
	b.Exec(t, `UPDATE sub SET a2 = a2 || '!'; INSERT INTO keyed VALUES ('q', 4, NULL)`)
	b.WaitMirror(t, converge)
}
