package main

import (
	"context"
	"strings"
	"testing"
)

// pgredis.barrier() names its list under the state prefix migrate up ran
// with, and any role may call it.
func TestMigrateUpRecordsBarrierPrefix(t *testing.T) {
	t.Parallel()
	url, env := appDB(t)
	env["PGREDIS_TABLES"] = "users"
	env["PGREDIS_STATE_PREFIX"] = "shop:pgredis:"
	mustRun(t, env, "migrate", "up")
	conn := connect(t, url)
	ctx := context.Background()
	var name string
	if err := conn.QueryRow(ctx, "SELECT pgredis.barrier()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(name, "shop:pgredis:barrier:") {
		t.Fatalf("pgredis.barrier() returned %q, want a name under shop:pgredis:", name)
	}
	if n := countQuery(t, url, "SELECT count(*) FROM pgredis.barriers"); n != 1 {
		t.Fatalf("%d barriers recorded, want 1", n)
	}
	if n := countQuery(t, url, "SELECT count(*) FROM pg_proc p WHERE p.oid = 'pgredis.barrier()'::regprocedure AND p.prosecdef AND has_function_privilege('public', p.oid, 'EXECUTE')"); n != 1 {
		t.Fatal("pgredis.barrier() is not SECURITY DEFINER with EXECUTE granted to PUBLIC")
	}
}
