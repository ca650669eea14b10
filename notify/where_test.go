package notify_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgredis/pgredis/internal/spec"
	"github.com/pgredis/pgredis/internal/testenv"
	"github.com/pgredis/pgredis/notify"
)

// where= is checked against the catalog: a boolean over the table's
// columns whose result only a write to the row can change. A refusal
// inside the caller's transaction leaves that transaction usable.
func TestResolveWhere(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testenv.Database(t, "empty", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `
CREATE TABLE t (id int PRIMARY KEY, name text, at timestamptz, d date, tags text[], doc jsonb);
CREATE TABLE other (id int);
CREATE FUNCTION stable_fn(int) RETURNS boolean STABLE LANGUAGE plpgsql AS 'BEGIN RETURN $1 > 0; END';
CREATE FUNCTION immutable_fn(int) RETURNS boolean IMMUTABLE LANGUAGE sql AS 'SELECT $1 > 0';`); err != nil {
		t.Fatal(err)
	}
	for _, ok := range []string{
		"(name = 'x; y=z')",
		"(lower(name) LIKE 'a%' AND id % 2 = 0)",
		"(at > '2024-01-01 00:00:00+00')",
		"(d < '2030-01-01'::date AND 'x' = ANY (tags))",
		"(doc ->> 'kind' = 'a' OR doc @> '{\"b\": 1}')",
		"(public.immutable_fn(id))",
		"(id IS NOT NULL)",
	} {
		if _, err := notify.Resolve(ctx, conn, parse(t, "t where="+ok), ""); err != nil {
			t.Errorf("where=%s refused: %v", ok, err)
		}
	}
	for _, c := range []struct{ where, want string }{
		{"(name)", "is of type text, not boolean"},
		{"(nope = 1)", `column "nope" does not exist`},
		{"(r.name = 'x')", `missing FROM-clause entry for table "r"`},
		{"(at > now())", "can change without a write"},
		{"(random() < 0.5)", "can change without a write"},
		{"(at::text > '2024')", "can change without a write"},
		{"(public.stable_fn(id))", "can change without a write"},
		{"(id IN (SELECT id FROM other))", "can change without a write"},
		{"(EXISTS (SELECT FROM other o WHERE o.id > 0))", "can change without a write"},
		{"(count(*) > 1)", "aggregate functions are not allowed"},
	} {
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, err = notify.Resolve(ctx, tx, parse(t, "t where="+c.where), "")
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("where=%s: %v, want one line containing %q", c.where, err, c.want)
		}
		var one int
		if err := tx.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
			t.Errorf("where=%s: the caller's transaction is broken after the check: %v", c.where, err)
		}
		_ = tx.Rollback(ctx)
	}
	var temps int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_class WHERE relname = 'pgredis_where_check'").Scan(&temps); err != nil || temps != 0 {
		t.Errorf("the check left %d temporary tables behind (%v)", temps, err)
	}
}

func parse(t *testing.T, s string) []spec.Table {
	t.Helper()
	tables, err := spec.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return tables
}
