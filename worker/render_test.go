package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
	"github.com/pgredis/pgredis/worker"
)

// renderDDL covers the types pgredis renders itself for format=json (with
// typmods, specials and NULLs), types it leaves to to_jsonb, and column
// names that need care.
const renderDDL = `
CREATE TABLE r (
	id int PRIMARY KEY,
	s smallint, b bigint, n numeric, n2 numeric(12,3),
	t text, vc varchar(10), ch char(4), ok boolean, u uuid,
	d date, ts timestamp(3), tz timestamptz, tz0 timestamp(0) with time zone,
	f float8, r4 real, iv interval, js json, jb jsonb, arr int[], by bytea,
	"Upper" int, "with space" text, "é" text, "x" int
);
CREATE TABLE q (id int PRIMARY KEY, "quo""te" text);
CREATE TABLE r2 (LIKE r INCLUDING ALL);`

const renderRows = `
INSERT INTO r VALUES
	(1, 1, 9223372036854775807, 'NaN', 1.5, E'a"b\\c\n\t\x01 é ✓ 🚀', 'v', 'ab', true, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
	 '2024-02-29', '2024-01-02 03:04:05.123', '2024-01-02 03:04:05.123456+02', '0044-03-15 12:00 BC',
	 1e300, 0.1, '1 day 02:00', '{"z": 1,  "a": [ 2 ]}', '{"z": 1, "a": [2]}', '{1,2}', '\xdead', -1, 'sp', 'é', 7),
	(2, -32768, -1, 'Infinity', -0.001, '', '', '', false, NULL, 'infinity', '-infinity', 'infinity', NULL,
	 'NaN', '-Infinity', '-3 mons', 'null', 'null', '{}', '', NULL, NULL, NULL, NULL),
	(3, NULL, NULL, '-Infinity', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO q VALUES (1, 'x'), (2, NULL);
INSERT INTO r2 SELECT * FROM r;`

// TestJSONValuesAreToJSONBBytes checks every format=json value in Redis is
// byte for byte what to_jsonb renders in a UTC, ISO session, for rows
// written by a session with other settings (the trigger's path) and for
// rows put there by a reconcile.
func TestJSONValuesAreToJSONBBytes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := pgredistest.New(t, renderDDL, "r; q; r2 key=r2:{id} columns=x,tz,t,id,n2")
	want := func(t *testing.T) map[string]string {
		cfg, err := pgx.ParseConfig(b.DatabaseURL)
		must(t, err)
		for k, v := range map[string]string{"TimeZone": "UTC", "DateStyle": "ISO", "IntervalStyle": "postgres", "extra_float_digits": "1"} {
			cfg.RuntimeParams[k] = v
		}
		conn, err := pgx.ConnectConfig(ctx, cfg)
		must(t, err)
		defer conn.Close(ctx)
		out := map[string]string{}
		rows, err := conn.Query(ctx, `SELECT 'r:' || id, to_jsonb(r.*)::text FROM r
			UNION ALL SELECT 'q:' || id, to_jsonb(q.*)::text FROM q
			UNION ALL SELECT 'r2:' || id, jsonb_build_object('x', x, 'tz', tz, 't', t, 'id', id, 'n2', n2)::text FROM r2`)
		must(t, err)
		for rows.Next() {
			var k, v string
			must(t, rows.Scan(&k, &v))
			out[k] = v
		}
		must(t, rows.Err())
		return out
	}
	check := func(t *testing.T) {
		exp := want(t)
		if len(exp) != 8 {
			t.Fatalf("want 8 expected values, have %d", len(exp))
		}
		testenv.Eventually(t, 20*time.Second, func() error {
			for k, v := range exp {
				got, err := b.Redis.Get(ctx, k).Result()
				if err != nil {
					return err
				}
				if got != v {
					return &mismatch{k, got, v}
				}
			}
			return nil
		})
	}
	b.StartWorker(t)
	writer, err := pgx.Connect(ctx, b.DatabaseURL)
	must(t, err)
	defer writer.Close(ctx)
	_, err = writer.Exec(ctx, "SET TimeZone = 'America/New_York'; SET DateStyle = 'SQL, DMY'; SET IntervalStyle = 'sql_standard'; SET extra_float_digits = 0")
	must(t, err)
	_, err = writer.Exec(ctx, renderRows)
	must(t, err)
	check(t)

	// The reconcile's path: drop the values and resync.
	for _, k := range []string{"r:1", "r:2", "r:3", "q:1", "q:2", "r2:1", "r2:2", "r2:3"} {
		must(t, b.Redis.Del(ctx, k).Err())
	}
	_, err = worker.Resync(ctx, b.Config(t), nil, false, nil)
	must(t, err)
	check(t)
}

type mismatch struct{ key, got, want string }

func (m *mismatch) Error() string {
	return "key " + m.key + " holds\n  " + m.got + "\nwant (to_jsonb)\n  " + m.want
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
