package worker_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
)

// Rows a logical replication subscription applies are mirrored: the apply
// worker runs in replica mode and fires row triggers only, never the
// statement triggers that capture ordinary writes. A private server,
// because the shared one has wal_level = replica.
func TestLogicalReplicationApply(t *testing.T) {
	t.Parallel()
	pg := testenv.StartPostgres(t)
	ctx := context.Background()
	admin := pgAdmin(t, pg)
	admin("postgres", "ALTER SYSTEM SET wal_level = logical")
	pg.Restart(t)
	admin("postgres", "CREATE DATABASE pub")
	admin("postgres", "CREATE DATABASE sub")
	const ddl = `CREATE TABLE kv (id int PRIMARY KEY, v text);
CREATE TABLE parts (id int, region text, v text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE parts_eu PARTITION OF parts FOR VALUES IN ('eu');
CREATE TABLE parts_us PARTITION OF parts FOR VALUES IN ('us')`
	admin("pub", ddl+`; INSERT INTO kv VALUES (1, 'before the subscription');
CREATE PUBLICATION p FOR TABLE kv, parts`)
	admin("pub", `SELECT pg_create_logical_replication_slot('s', 'pgoutput')`)
	admin("sub", ddl)
	if err := pgredistest.Migrate(ctx, pg.URL("sub")); err != nil {
		t.Fatal(err)
	}
	b := pgredistest.Open(t, pg.URL("sub"), testenv.Redis(t), "")
	b.Install(t, "kv; parts format=hash")
	startListening(t, b)
	pubURL, err := url.Parse(pg.URL("pub"))
	if err != nil {
		t.Fatal(err)
	}
	admin("sub", fmt.Sprintf(`CREATE SUBSCRIPTION s CONNECTION 'host=127.0.0.1 port=%s dbname=pub user=root' PUBLICATION p
		WITH (create_slot = false, slot_name = 's')`, pubURL.Port()))
	t.Cleanup(func() {
		admin("sub", "ALTER SUBSCRIPTION s DISABLE; ALTER SUBSCRIPTION s SET (slot_name = NONE); DROP SUBSCRIPTION s")
	})
	// The row trigger that captures applied rows is installed once the
	// database has a subscription: by the worker's periodic check here,
	// which then reconciles what was applied before.
	testenv.Eventually(t, converge, func() error {
		var n int
		err := b.PG.QueryRow(ctx, `SELECT count(*) FROM pg_trigger WHERE tgname = 'pgredis_repl' AND tgenabled = 'A'
			AND tgrelid IN ('kv'::regclass, 'parts'::regclass, 'parts_eu'::regclass, 'parts_us'::regclass)`).Scan(&n)
		if err == nil && n != 4 {
			err = fmt.Errorf("%d of 4 pgredis_repl triggers installed", n)
		}
		return err
	})
	pubConn, err := pgx.Connect(ctx, pg.URL("pub"))
	if err != nil {
		t.Fatal(err)
	}
	defer pubConn.Close(ctx)
	// replicated waits until the subscriber holds what the publisher does,
	// then for the mirror of the subscriber.
	replicated := func() {
		t.Helper()
		const q = `SELECT coalesce(string_agg(format('%s', r), ',' ORDER BY r::text), '') FROM (SELECT kv::text AS r FROM kv UNION ALL SELECT parts::text FROM parts) x`
		var want string
		if err := pubConn.QueryRow(ctx, q).Scan(&want); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, converge, func() error {
			var got string
			if err := b.PG.QueryRow(ctx, q).Scan(&got); err != nil {
				return err
			}
			if got != want {
				return fmt.Errorf("subscriber has %q, publisher %q", got, want)
			}
			return nil
		})
		b.WaitMirror(t, converge)
	}
	replicated()
	for _, s := range []string{
		`INSERT INTO kv SELECT g, 'v' || g FROM generate_series(2, 50) g; INSERT INTO parts VALUES (1, 'eu', 'a'), (2, 'us', 'b')`,
		`UPDATE kv SET v = v || '!' WHERE id % 3 = 0; UPDATE parts SET region = 'us' WHERE id = 1`,
		`DELETE FROM kv WHERE id > 40; UPDATE parts_us SET v = 'direct'`,
		`TRUNCATE kv; INSERT INTO kv VALUES (7, 'after truncate')`,
		`TRUNCATE parts`,
	} {
		if _, err := pubConn.Exec(ctx, s); err != nil {
			t.Fatal(err)
		}
		replicated()
	}
}

// pgAdmin runs one statement in a database of a private server.
func pgAdmin(t *testing.T, pg *testenv.PostgresServer) func(db, sql string) {
	return func(db, sql string) {
		t.Helper()
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, pg.URL(db))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
}
