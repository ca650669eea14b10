package worker_test

import (
	"testing"
	"time"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const typesDDL = `
CREATE TABLE items (
	id bigint PRIMARY KEY,
	name text,
	price numeric(12,3),
	ratio float8,
	at timestamptz,
	day date,
	span interval,
	doc jsonb,
	tags text[],
	uid uuid,
	blob bytea,
	ok boolean
)`

const typesInsert = `
INSERT INTO items VALUES
	(1, 'plain', 12.5, 0.1, '2024-01-02 03:04:05.123456+02', '2024-02-29', '1 day 02:00', '{"a": [1, 2, {"b": null}]}', '{x,"y z"}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\xdeadbeef', true),
	(2, E'quote '' " backslash \\ newline \n tab \t unicode é ✓ 🚀', -0.001, 1e300, 'infinity', '0001-01-01', '-3 mons', 'null', '{}', NULL, '', false),
	(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`

func TestMirrorTypesAndStatements(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, typesDDL, "items")
	b.StartWorker(t)
	b.Exec(t, typesInsert)
	b.WaitMirror(t, 10*time.Second)

	// Multi-row UPDATE with non-equality WHERE clauses, a key change, DELETE.
	b.Exec(t, `UPDATE items SET price = coalesce(price, 0) + 1, tags = tags || '{more}'::text[] WHERE id >= 1 AND name IS DISTINCT FROM 'zzz'`)
	b.Exec(t, `UPDATE items SET id = id + 100 WHERE id IN (SELECT id FROM items WHERE id % 2 = 1)`)
	b.Exec(t, `DELETE FROM items WHERE name LIKE 'quote%'`)
	b.WaitMirror(t, 10*time.Second)

	b.Exec(t, `TRUNCATE items`)
	b.WaitMirror(t, 10*time.Second)
}
