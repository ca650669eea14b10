package main

import (
	"strings"
	"testing"
)

// migrate up puts the triggers on every partition, firing ALWAYS; status
// names a disabled trigger of a partition and a table swapped in by
// renames; migrate down removes every pgredis trigger, the partitions'
// and the event trigger included.
func TestMigratePartitionsStatusDown(t *testing.T) {
	t.Parallel()
	url, env := appDB(t)
	exec1(t, connect(t, url), `
CREATE TABLE parts (id int, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE parts_eu PARTITION OF parts FOR VALUES IN ('eu') PARTITION BY RANGE (id);
CREATE TABLE parts_eu_lo PARTITION OF parts_eu FOR VALUES FROM (MINVALUE) TO (100);
CREATE TABLE swapped (id int PRIMARY KEY);
CREATE TABLE swapped_new (id int PRIMARY KEY)`)
	// A partition alone is refused: statements on its parent would
	// change its rows unseen.
	env["PGREDIS_TABLES"] = "parts_eu_lo"
	if r := pgredis(t, env, "migrate", "up"); r.code == 0 || !strings.Contains(r.stderr, "table public.parts_eu_lo is a partition or inheritance child of parts_eu") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Fatalf("migrate up of a partition: %s", r)
	}
	env["PGREDIS_TABLES"] = "parts; swapped"
	mustRun(t, env, "migrate", "up")
	for _, rel := range []string{"parts", "parts_eu", "parts_eu_lo", "swapped"} {
		if n := countQuery(t, url, `SELECT count(*) FROM pg_trigger WHERE tgrelid = $1::regclass AND tgname LIKE 'pgredis%' AND tgenabled = 'A'`, rel); n != 4 {
			t.Fatalf("%s has %d pgredis triggers firing always, want 4", rel, n)
		}
	}
	if n := countQuery(t, url, `SELECT count(*) FROM pg_event_trigger WHERE evtname = 'pgredis_ddl' AND evtenabled = 'A'`); n != 1 {
		t.Fatal("no event trigger pgredis_ddl firing always")
	}
	r := mustRun(t, env, "status")
	if strings.Contains(r.stdout, "NO LONGER FITS") {
		t.Fatalf("status reports a problem after migrate up:\n%s", r.stdout)
	}
	// Without the event trigger (as for a role that is no superuser), the
	// swap is left as it is and status names it.
	exec1(t, connect(t, url), `DROP EVENT TRIGGER pgredis_ddl;
ALTER TABLE parts_eu_lo DISABLE TRIGGER pgredis_upd;
ALTER TABLE swapped RENAME TO swapped_old; ALTER TABLE swapped_new RENAME TO swapped`)
	r = mustRun(t, env, "status")
	for _, want := range []string{"trigger pgredis_upd on parts_eu_lo is disabled", "swapped_old carries its trigger", "swapped has no trigger pgredis_ins"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("status does not say %q:\n%s", want, r.stdout)
		}
	}
	// migrate up repairs both (the disabled trigger is re-created enabled).
	mustRun(t, env, "migrate", "up")
	if r = mustRun(t, env, "status"); strings.Contains(r.stdout, "NO LONGER FITS") {
		t.Fatalf("status reports a problem after migrate up:\n%s", r.stdout)
	}
	if n := triggers(t, url, "swapped_old"); n != 0 {
		t.Fatalf("swapped_old kept %d pgredis triggers", n)
	}
	mustRun(t, env, "migrate", "down")
	if n := pgredisObjects(t, url); n != 0 {
		t.Fatalf("%d pgredis objects left after migrate down", n)
	}
}
