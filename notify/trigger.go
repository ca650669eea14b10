package notify

import (
	"fmt"
	"strings"

	"github.com/pgredis/pgredis/internal/spec"
)

// Trigger names on a synced table; fixed so they can be found and dropped.
var triggerNames = map[string]string{
	"ins":   "pgredis_ins",
	"upd":   "pgredis_upd",
	"del":   "pgredis_del",
	"trunc": "pgredis_trunc",
}

// TriggerNames lists the triggers pgredis installs on every synced table.
func TriggerNames() []string {
	return []string{"pgredis_ins", "pgredis_upd", "pgredis_del", "pgredis_trunc"}
}

// header renders the payload's first line. nextval makes every
// notification distinct (PostgreSQL drops an identical repeat within a
// transaction), the stamp lets the worker measure lag.
func header(version string) string {
	return fmt.Sprintf(`'p1 %s ' || nextval('pgredis.seq')::text || ' ' || floor(extract(epoch FROM clock_timestamp()) * 1000000)::bigint::text || E'\n'`, version)
}

// setEntryExpr renders x.k/x.v as a set entry, or as a fetch (or reconcile)
// entry when the row is too large for a notification.
func (t Table) setEntryExpr() string {
	return fmt.Sprintf(`CASE WHEN octet_length(x.k) + octet_length(x.v) <= %[1]d THEN 'S' || octet_length(x.k)::text || ':' || x.k || octet_length(x.v)::text || ':' || x.v
	WHEN octet_length(x.f) <= %[1]d THEN x.f
	ELSE 'X0:' END`, maxEntry)
}

// setRows selects the set entries of rel's rows. OFFSET 0 keeps the
// planner from inlining x into the CASE, which would render every row's
// value up to three times.
func (t Table) setRows(alias, rel string) string {
	return fmt.Sprintf(`SELECT %s AS e FROM (SELECT %s AS k, %s AS v, %s AS f FROM %s %s OFFSET 0) x WHERE x.k IS NOT NULL`,
		t.setEntryExpr(), t.keyExpr(alias), t.valueExpr(alias), t.fetchEntryExpr(alias), rel, alias)
}

func deleteEntries(keys string) string {
	return fmt.Sprintf(`SELECT CASE WHEN octet_length(d.k) <= %d THEN 'D' || octet_length(d.k)::text || ':' || d.k ELSE 'X0:' END AS e FROM (%s) d(k) WHERE d.k IS NOT NULL`, maxEntry, keys)
}

// emit is a PL/pgSQL block that sends the entries query's rows (one text
// column) packed into as few notifications as fit under maxPayload. A
// loop that appends to a buffer costs the writer far less than packing in
// SQL (a running sum and a string_agg per chunk measured several times
// slower for bulk statements, and more for single rows); see BENCHMARKS.md.
// Every chunk of a statement holds other entries and the header carries
// a per-statement sequence number, so no two payloads of a transaction
// are equal and PostgreSQL drops none.
func (t Table) emit(entries string) string {
	send := fmt.Sprintf(`IF pgredis_hdr IS NULL THEN
			pgredis_hdr := %s;
		END IF;
		PERFORM pg_notify(%s, pgredis_hdr || pgredis_buf);`, header(t.Version()), spec.QuoteLiteral(Channel))
	return fmt.Sprintf(`FOR pgredis_e IN %s
	LOOP
		IF octet_length(pgredis_buf) + octet_length(pgredis_e) > %d THEN
		%s
			pgredis_buf := '';
		END IF;
		pgredis_buf := pgredis_buf || pgredis_e;
	END LOOP;
	IF pgredis_buf <> '' THEN
		%s
	END IF`, entries, maxEntry, send, send)
}

// function wraps a body in a trigger function. The SET clauses pin the
// rendering settings whatever the writer's session uses. The exception
// handler keeps pgredis from ever failing the application's write (a
// column dropped or renamed under the trigger, say): it asks the worker to
// reconcile the table and says why. variable_conflict keeps a column named
// like one of the variables from breaking the function.
func (t Table) function(op, body string) string {
	var set []string
	for _, s := range Settings {
		set = append(set, fmt.Sprintf("SET %s TO %s", s[0], spec.QuoteLiteral(s[1])))
	}
	return fmt.Sprintf(`CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql %s AS $pgredis$
#variable_conflict use_column
DECLARE
	pgredis_buf text := '';
	pgredis_e text;
	pgredis_hdr text;
BEGIN
	%s;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	PERFORM pg_notify(%s, %s || 'X' || octet_length(m)::text || ':' || m) FROM (SELECT left(%s || SQLERRM, 2000) AS m) e;
	RETURN NULL;
END
$pgredis$`, FuncName(t.Table, op), strings.Join(set, " "), body, spec.QuoteLiteral(Channel), header(t.Version()),
		spec.QuoteLiteral("trigger on "+t.Table.String()+" failed: "))
}

// InstallSQL returns the statements that (re)install the table's trigger
// functions and triggers. They are idempotent.
func (t Table) InstallSQL() []string {
	ins := t.emit(t.setRows("n", "pgredis_new"))
	// EXCEPT rather than NOT EXISTS: the plan is cached from the first
	// call, and a hashed set operation stays linear whatever the row
	// counts, where an anti-join planned for one row would not.
	upd := t.emit(t.setRows("n", "pgredis_new") + "\n\tUNION ALL\n\t" +
		deleteEntries(fmt.Sprintf("SELECT %s FROM pgredis_old o EXCEPT SELECT %s FROM pgredis_new n", t.keyExpr("o"), t.keyExpr("n"))))
	del := t.emit(deleteEntries(fmt.Sprintf("SELECT %s FROM pgredis_old o", t.keyExpr("o"))))
	trunc := fmt.Sprintf("PERFORM pg_notify(%s, %s || 'T')", spec.QuoteLiteral(Channel), header(t.Version()))
	tbl := t.Ident()
	return []string{
		t.function("ins", ins),
		t.function("upd", upd),
		t.function("del", del),
		t.function("trunc", trunc),
		// The functions are generated for the table's columns as they are
		// now; recorded before the ALTER below, which the event trigger sees.
		recordShapeSQL(t.Table),
		suspendEventTrigger,
		fmt.Sprintf("CREATE OR REPLACE TRIGGER %s AFTER INSERT ON %s REFERENCING NEW TABLE AS pgredis_new FOR EACH STATEMENT EXECUTE FUNCTION %s()", triggerNames["ins"], tbl, FuncName(t.Table, "ins")),
		fmt.Sprintf("CREATE OR REPLACE TRIGGER %s AFTER UPDATE ON %s REFERENCING OLD TABLE AS pgredis_old NEW TABLE AS pgredis_new FOR EACH STATEMENT EXECUTE FUNCTION %s()", triggerNames["upd"], tbl, FuncName(t.Table, "upd")),
		fmt.Sprintf("CREATE OR REPLACE TRIGGER %s AFTER DELETE ON %s REFERENCING OLD TABLE AS pgredis_old FOR EACH STATEMENT EXECUTE FUNCTION %s()", triggerNames["del"], tbl, FuncName(t.Table, "del")),
		fmt.Sprintf("CREATE OR REPLACE TRIGGER %s AFTER TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION %s()", triggerNames["trunc"], tbl, FuncName(t.Table, "trunc")),
		// ALWAYS: logical replication apply and sessions with
		// session_replication_role = replica skip ordinary triggers.
		fmt.Sprintf("ALTER TABLE %s ENABLE ALWAYS TRIGGER %s, ENABLE ALWAYS TRIGGER %s, ENABLE ALWAYS TRIGGER %s, ENABLE ALWAYS TRIGGER %s",
			tbl, triggerNames["ins"], triggerNames["upd"], triggerNames["del"], triggerNames["trunc"]),
		resumeEventTrigger,
	}
}

// UninstallSQL drops the table's triggers (when the table still exists)
// and its trigger functions.
func UninstallSQL(t spec.Table) []string {
	// The triggers pgredis.sync_triggers put on the table's partitions,
	// inheritance children (and tables they left) depend on its functions.
	stmts := []string{familyUninstallSQL(t)}
	for _, trg := range TriggerNames() {
		stmts = append(stmts, fmt.Sprintf(`DO $$ BEGIN IF to_regclass(%s) IS NOT NULL THEN DROP TRIGGER IF EXISTS %s ON %s; END IF; END $$`,
			spec.QuoteLiteral(t.Ident()), trg, t.Ident()))
	}
	for _, op := range []string{"ins", "upd", "del", "trunc"} {
		stmts = append(stmts, "DROP FUNCTION IF EXISTS "+FuncName(t, op)+"()")
	}
	return stmts
}
