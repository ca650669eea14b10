package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pgredis/pgredis/internal/testenv"
)

// Guarantee 8: every bad input fails with one line on stderr naming the
// problem, and changes nothing in PostgreSQL or Redis.
func TestBadInput(t *testing.T) {
	t.Parallel()
	const ddl = `
CREATE TABLE users (id int PRIMARY KEY, name text);
CREATE TABLE logs (at timestamptz, line text);
CREATE TABLE orders (id int PRIMARY KEY, total numeric);
INSERT INTO users VALUES (1, 'ann');
INSERT INTO orders VALUES (1, 2);`
	closedPort := testenv.FreePort(t)
	type bad struct {
		name string
		env  map[string]string
		// want is in the error of migrate up (or, for Redis problems, of
		// worker and resync); wantRun that of worker and resync on a
		// database where "users" was installed: a spec that does not fit
		// the catalog is named before any trigger the spec lacks.
		want, wantRun string
		// setup runs on the database where "users" was installed.
		setup string
	}
	cases := []bad{
		{"missing table", map[string]string{"PGREDIS_TABLES": "users; nosuch"}, "table public.nosuch does not exist", "table public.nosuch does not exist", ""},
		{"no primary key", map[string]string{"PGREDIS_TABLES": "logs"}, "table public.logs has no primary key", "table public.logs has no primary key", ""},
		{"key names unknown column", map[string]string{"PGREDIS_TABLES": "users key=u:{nope}"}, `no column "nope" named in key=`, `no column "nope" named in key=`, ""},
		{"columns names unknown column", map[string]string{"PGREDIS_TABLES": "users columns=id,nope"}, `no column "nope" named in columns=`, `no column "nope" named in columns=`, ""},
		{"exclude names unknown column", map[string]string{"PGREDIS_TABLES": "users exclude=nope"}, `no column "nope" named in exclude=`, `no column "nope" named in exclude=`, ""},
		{"columns with exclude", map[string]string{"PGREDIS_TABLES": "users columns=id exclude=name"}, "columns= and exclude= cannot be combined", "columns= and exclude= cannot be combined", ""},
		{"where unbalanced", map[string]string{"PGREDIS_TABLES": "users where=(name = 'x'"}, "where= has unbalanced parentheses", "where= has unbalanced parentheses", ""},
		{"where names unknown column", map[string]string{"PGREDIS_TABLES": "users where=(nope = 1)"}, `where=(nope = 1) is not a valid expression over the table's columns (name them unqualified): column "nope" does not exist`, `column "nope" does not exist`, ""},
		{"where not boolean", map[string]string{"PGREDIS_TABLES": "users where=(id + 1)"}, "where=(id + 1) is of type integer, not boolean", "not boolean", ""},
		{"where volatile", map[string]string{"PGREDIS_TABLES": "users where=(name < now()::text)"}, "can change without a write to the row (functions in index predicate must be marked IMMUTABLE), so triggers cannot keep the mirror exact", "triggers cannot keep the mirror exact", ""},
		{"where subquery", map[string]string{"PGREDIS_TABLES": "users where=(id IN (SELECT id FROM orders))"}, "can change without a write to the row (cannot use subquery in index predicate)", "triggers cannot keep the mirror exact", ""},
		{"expire_at on a non-time column", map[string]string{"PGREDIS_TABLES": "users expire_at=name"}, "expire_at=name names a column of type text: it must be timestamptz, timestamp (read as UTC) or date", "must be timestamptz", ""},
		{"expire_at names unknown column", map[string]string{"PGREDIS_TABLES": "users expire_at=nope"}, `no column "nope" named in expire_at=`, `no column "nope" named in expire_at=`, ""},
		{"ttl with expire_at", map[string]string{"PGREDIS_TABLES": "users ttl=1h expire_at=name"}, "ttl= and expire_at= cannot be combined", "ttl= and expire_at= cannot be combined", ""},
		{"index names unknown column", map[string]string{"PGREDIS_TABLES": "users index=by:{nope}"}, `no column "nope" named in index=by:{nope}`, `no column "nope" named in index=by:{nope}`, ""},
		{"index score not numeric or time", map[string]string{"PGREDIS_TABLES": "users index=by:{name}@name"}, "index=by:{name}@name scores by column name of type text: it must be numeric", "it must be numeric", ""},
		{"index score unknown column", map[string]string{"PGREDIS_TABLES": "users index=by:{name}@nope"}, `no column "nope" named in index=by:{name}@nope`, `no column "nope"`, ""},
		{"index overlaps a key template", map[string]string{"PGREDIS_TABLES": "users; orders index=users:{total}"}, "index=users:{total} could produce the same name as the key template", "could produce the same name", ""},
		{"index overlaps an index", map[string]string{"PGREDIS_TABLES": "users index=by:{name}; orders index=by:{total}:o"}, "could produce the same name", "could produce the same name", ""},
		{"index under the state prefix", map[string]string{"PGREDIS_TABLES": "users index=pgredis:{name}"}, "PGREDIS_STATE_PREFIX", "PGREDIS_STATE_PREFIX", ""},
		{"unknown option", map[string]string{"PGREDIS_TABLES": "users colour=red"}, `unknown option "colour"`, `unknown option "colour"`, ""},
		{"unknown format", map[string]string{"PGREDIS_TABLES": "users format=xml"}, `unknown format "xml"`, `unknown format "xml"`, ""},
		{"malformed ttl", map[string]string{"PGREDIS_TABLES": "users ttl=10parsecs"}, "ttl=10parsecs is not a Go duration", "ttl=10parsecs is not a Go duration", ""},
		{"colliding templates", map[string]string{"PGREDIS_TABLES": "users key=x:{id}; orders key=x:{id}:o"}, "could produce the same key", "could produce the same key", ""},
		{"template under the state prefix", map[string]string{"PGREDIS_TABLES": "users key=pgredis:{id}"}, "PGREDIS_STATE_PREFIX", "PGREDIS_STATE_PREFIX", ""},
		{"template under a custom state prefix", map[string]string{"PGREDIS_TABLES": "users", "PGREDIS_STATE_PREFIX": "users:"}, "PGREDIS_STATE_PREFIX", "", ""},
		{"table not installed", map[string]string{"PGREDIS_TABLES": "users; orders"}, "", "orders has no pgredis trigger installed", ""},
		{"trigger dropped by hand", map[string]string{"PGREDIS_TABLES": "users"}, "", "1 of its 4 pgredis triggers are missing", "DROP TRIGGER pgredis_upd ON users"},
		{"malformed DATABASE_URL", map[string]string{"PGREDIS_TABLES": "users", "DATABASE_URL": "postgres://root@127.0.0.1:notaport/db"}, "DATABASE_URL", "DATABASE_URL", ""},
		{"unreachable PostgreSQL", map[string]string{"PGREDIS_TABLES": "users", "DATABASE_URL": fmt.Sprintf("postgres://root@127.0.0.1:%d/db?sslmode=disable", closedPort)}, "PostgreSQL", "PostgreSQL", ""},
		{"malformed REDIS_URL", map[string]string{"PGREDIS_TABLES": "users", "REDIS_URL": "http://127.0.0.1:6379/0"}, "", "REDIS_URL", ""},
		{"malformed REDIS_URL database", map[string]string{"PGREDIS_TABLES": "users", "REDIS_URL": "redis://127.0.0.1:6379/notanumber"}, "", "REDIS_URL", ""},
		{"unreachable Redis", map[string]string{"PGREDIS_TABLES": "users", "REDIS_URL": fmt.Sprintf("redis://127.0.0.1:%d/0", closedPort)}, "", "cannot connect to Redis at 127.0.0.1:", ""},
		{"installed spec differs", map[string]string{"PGREDIS_TABLES": "users format=hash"}, "", "table public.users is installed as 'users key=users:{id} format=json' but PGREDIS_TABLES says 'users format=hash'", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			// A database without pgredis: migrate up must not create it.
			fresh := testenv.Database(t, "empty", nil)
			exec1(t, connect(t, fresh), ddl)
			// A database where "users" is installed: worker and resync
			// must not start, nor write anything.
			installed := testenv.Database(t, "empty", nil)
			exec1(t, connect(t, installed), ddl)
			redisURL := testenv.Redis(t)
			mustRun(t, map[string]string{"DATABASE_URL": installed, "PGREDIS_TABLES": "users"}, "migrate", "up")
			if c.setup != "" {
				exec1(t, connect(t, installed), c.setup)
			}
			rdb := redisClient(t, redisURL)

			env := func(db string) map[string]string {
				e := map[string]string{"DATABASE_URL": db, "REDIS_URL": redisURL}
				for k, v := range c.env {
					e[k] = v
				}
				return e
			}
			if c.want != "" {
				conn := connect(t, fresh)
				before := catalog(t, conn)
				requireOneLineError(t, pgredis(t, env(fresh), "migrate", "up"), c.want)
				if after := catalog(t, conn); after != before {
					t.Errorf("failed migrate up changed the database:\nbefore:\n%s\nafter:\n%s", before, after)
				}
			}
			if c.wantRun == "" {
				return
			}
			conn := connect(t, installed)
			before := catalog(t, conn)
			for _, args := range [][]string{{"worker"}, {"resync"}, {"resync", "--dry-run"}} {
				requireOneLineError(t, pgredis(t, env(installed), args...), c.wantRun)
				if keys := rdb.Keys(t.Context(), "*").Val(); len(keys) != 0 {
					t.Fatalf("failed %s wrote to Redis: %q", strings.Join(args, " "), keys)
				}
			}
			if after := catalog(t, conn); after != before {
				t.Errorf("failed worker/resync changed the database:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}
