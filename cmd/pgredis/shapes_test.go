package main

import (
	"strings"
	"testing"
)

// migrate up prints exclude=, where= and expire_at= in the canonical
// spec, leaves an equivalent spelling alone, and names a changed where=.
func TestMigrateUpShapeOptions(t *testing.T) {
	t.Parallel()
	needServers(t)
	url, env := appDB(t)
	exec1(t, connect(t, url), `ALTER TABLE orders ADD COLUMN due date`)
	env["PGREDIS_TABLES"] = "users exclude=name where=(name <> 'x; y=z'); orders key=o:{tenant}:{id} format=hash expire_at=due where=(total > 0)"
	r := mustRun(t, env, "migrate", "up")
	requireLines(t, r, "installed:",
		"installed: public.users key=users:{id} format=json exclude=name where=(name <> 'x; y=z')",
		"installed: public.orders key=o:{tenant}:{id} format=hash expire_at=due where=(total > 0)")
	if got := registrySpec(t, url, "users"); got != `"public"."users" key=users:{id} format=json exclude=name where=(name <> 'x; y=z')` {
		t.Fatalf("registry spec %q", got)
	}

	env["PGREDIS_TABLES"] = "orders where=(total > 0) expire_at=due format=hash key=o:{tenant}:{id}; public.users where=(name <> 'x; y=z') exclude=name"
	r = mustRun(t, env, "migrate", "up")
	requireLines(t, r, "unchanged:",
		"unchanged: public.orders key=o:{tenant}:{id} format=hash expire_at=due where=(total > 0)",
		"unchanged: public.users key=users:{id} format=json exclude=name where=(name <> 'x; y=z')")

	env["PGREDIS_TABLES"] = "users exclude=name where=(name <> 'x'); orders key=o:{tenant}:{id} format=hash expire_at=due where=(total > 0)"
	r = mustRun(t, env, "migrate", "up")
	if !strings.Contains(r.stdout, "updated: public.users key=users:{id} format=json exclude=name where=(name <> 'x') (") ||
		!strings.Contains(r.stdout, "where=(name <> 'x; y=z') -> (name <> 'x')") {
		t.Fatalf("the changed where= is not reported: %s", r)
	}
}
