package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/pgredis/pgredis/migrations"
)

// A table listed twice: migrate up installs the second entry next to the
// first (left alone), status and migrate up name each entry, a rerun
// changes nothing, and listing the table once again removes the second
// entry's triggers and functions, the first untouched. Overlapping
// templates, the same entry twice and a second entry of a partitioned
// table are refused.
func TestMigrateUpTableListedTwice(t *testing.T) {
	t.Parallel()
	needServers(t)
	url, env := appDB(t)
	conn := connect(t, url)
	exec1(t, conn, `ALTER TABLE users ADD COLUMN email text UNIQUE; UPDATE users SET email = name || '@x';
CREATE TABLE ev (id int, d int, email text) PARTITION BY RANGE (d); CREATE TABLE ev1 PARTITION OF ev FOR VALUES FROM (0) TO (10)`)
	// The first entry's functions and triggers, as the catalog holds them.
	first := func() string {
		var s string
		if err := conn.QueryRow(t.Context(), `SELECT
			(SELECT string_agg(p.oid || ' ' || p.xmin || ' ' || md5(p.prosrc), ',' ORDER BY p.oid) FROM pg_proc p
				WHERE p.pronamespace = 'pgredis'::regnamespace AND p.proname LIKE 't\_%') || ' / ' ||
			(SELECT string_agg(g.oid || ' ' || g.xmin || ' ' || g.tgname || ' ' || g.tgenabled::text, ',' ORDER BY g.oid) FROM pg_trigger g
				WHERE g.tgrelid = 'users'::regclass AND g.tgname IN ('pgredis_ins', 'pgredis_upd', 'pgredis_del', 'pgredis_trunc'))`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	later := func() int {
		return countQuery(t, url, `SELECT count(*) FROM pg_proc WHERE pronamespace = 'pgredis'::regnamespace AND proname LIKE 'e\_%'`)
	}

	env["PGREDIS_TABLES"] = "users"
	r := mustRun(t, env, "migrate", "up")
	requireLines(t, r, "installed:", "installed: public.users key=users:{id} format=json")
	before := first()

	two := "users; users key=user_by_email:{email} format=hash columns=id,name"
	env["PGREDIS_TABLES"] = two
	r = mustRun(t, env, "migrate", "up")
	requireLines(t, r, "installed:", "installed: public.users key=user_by_email:{email} format=hash columns=id,name")
	requireLines(t, r, "unchanged:", "unchanged: public.users key=users:{id} format=json")
	if n := triggers(t, url, "users"); n != 8 {
		t.Fatalf("users has %d pgredis triggers, want 8 (4 per entry)", n)
	}
	if n := later(); n != 4 {
		t.Fatalf("%d trigger functions of the second entry, want 4", n)
	}
	if got := first(); got != before {
		t.Fatalf("installing the second entry changed the first's functions or triggers:\n%s\n%s", before, got)
	}
	r = mustRun(t, env, "migrate", "up")
	requireLines(t, r, "unchanged:", "unchanged: public.users key=users:{id} format=json",
		"unchanged: public.users key=user_by_email:{email} format=hash columns=id,name")
	r = mustRun(t, env, "status")
	for _, want := range []string{
		"table public.users: trigger installed (key=users:{id} format=json), 0 keys in Redis",
		"table public.users: trigger installed (key=user_by_email:{email} format=hash columns=id,name), 0 keys in Redis",
	} {
		if !strings.Contains(r.stdout, want+"\n") {
			t.Errorf("status lacks %q:\n%s", want, r)
		}
	}

	// resync TABLE reconciles each entry, a line each.
	r = mustRun(t, env, "resync", "USERS")
	for _, want := range []string{
		"public.users: rows scanned 2, keys written 2, keys deleted 0, keys already correct 0 (",
		"public.users (key=user_by_email:{email}): rows scanned 2, keys written 2, keys deleted 0, keys already correct 0 (",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("resync output lacks %q:\n%s", want, r)
		}
	}

	env["PGREDIS_TABLES"] = "users"
	r = mustRun(t, env, "migrate", "up")
	requireLines(t, r, "removed:", "removed: public.users key=user_by_email:{email} format=hash columns=id,name (not in PGREDIS_TABLES: its triggers and functions are dropped; its keys in Redis are left as they are)")
	requireLines(t, r, "unchanged:", "unchanged: public.users key=users:{id} format=json")
	if n := triggers(t, url, "users"); n != 4 {
		t.Fatalf("users has %d pgredis triggers after the second entry was removed, want 4", n)
	}
	if n := later(); n != 0 {
		t.Fatalf("%d trigger functions of the removed entry are left", n)
	}
	if got := first(); got != before {
		t.Fatalf("removing the second entry changed the first's functions or triggers:\n%s\n%s", before, got)
	}
	if n := countQuery(t, url, `SELECT count(*) FROM pgredis.tables`); n != 1 {
		t.Fatalf("%d registry rows, want 1", n)
	}

	for _, c := range []struct{ tables, want string }{
		{"users; users key=users:{email}", "could produce the same key"},
		{"users; users", "lists table public.users twice without key="},
		{"users key=u:{email}; orders; users key=u:{email}", "lists table public.users twice with key=u:{email}"},
		{"ev key=ev:{id}; ev key=evm:{email}", "has partitions or inheritance children"},
	} {
		env["PGREDIS_TABLES"] = c.tables
		r := pgredis(t, env, "migrate", "up")
		if r.code == 0 || !strings.Contains(r.stderr, c.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("PGREDIS_TABLES=%q: want a one-line error with %q, got %s", c.tables, c.want, r)
		}
	}
}

// An upgrade from the version before migration 6 (one registry row per
// table) reinstalls nothing: every installed table is its first entry.
// A dry run reads the older registry too.
func TestMigrateUpFromVersion5(t *testing.T) {
	t.Parallel()
	needServers(t)
	url, env := appDB(t)
	conn := connect(t, url)
	env["PGREDIS_TABLES"] = "users; orders key=order:{tenant}:{id} format=hash"
	mustRun(t, env, "migrate", "up")
	sql, err := os.ReadFile("../../migrations/6_entries.down.sql")
	if err != nil {
		t.Fatal(err)
	}
	latest, err := migrations.Latest()
	if err != nil {
		t.Fatal(err)
	}
	// The version before 6 (the registry's entry column) is 5.
	exec1(t, conn, string(sql))
	exec1(t, conn, `UPDATE pgredis.schema_migrations SET version = 5`)
	r := mustRun(t, env, "migrate", "up", "--dry-run")
	requireLines(t, r, "would",
		fmt.Sprintf("would apply pgredis's migrations from version 5 to %d", latest),
		"would install 0, update 0, remove 0; 2 unchanged")
	r = mustRun(t, env, "migrate", "up")
	requireLines(t, r, "unchanged:", "unchanged: public.users key=users:{id} format=json",
		"unchanged: public.orders key=order:{tenant}:{id} format=hash")
	if n := countQuery(t, url, `SELECT count(*) FROM pgredis.tables WHERE entry = ''`); n != 2 {
		t.Fatalf("%d first entries in the registry, want 2", n)
	}
}
