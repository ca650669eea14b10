package notify

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pgredis/pgredis/internal/spec"
)

// triggerOps are the operations a synced table has a trigger for.
var triggerOps = []string{"ins", "upd", "del", "trunc"}

// TriggerName is the name of the entry's trigger for op; fixed so it can
// be found and dropped. A later entry of a table listed more than once
// has its own triggers, suffixed with its Entry.
func TriggerName(t spec.Table, op string) string {
	if t.Entry != "" {
		return "pgredis_" + op + "_" + t.Entry
	}
	return "pgredis_" + op
}

// TriggerNames lists the triggers pgredis installs on every synced table
// (for the table's first entry; see EntryTriggerNames).
func TriggerNames() []string {
	return []string{"pgredis_ins", "pgredis_upd", "pgredis_del", "pgredis_trunc"}
}

// EntryTriggerNames lists the triggers pgredis installs for the entry.
func EntryTriggerNames(t spec.Table) []string {
	out := make([]string, 0, len(triggerOps))
	for _, op := range triggerOps {
		out = append(out, TriggerName(t, op))
	}
	return out
}

// header renders the payload's first line. nextval makes every
// notification distinct (PostgreSQL drops an identical repeat within a
// transaction), the stamp lets the worker measure lag. Calls are
// schema-qualified and the sequence's argument typed: the functions run as
// their owner, and an unqualified call with an unknown-typed argument
// could resolve to a better-matching function of another schema. The
// transaction id lets the worker apply each transaction in one atomic
// step (a write has assigned one already, so asking costs nothing).
func header(version string) string {
	return headerOf(version, nextSeq, currentTxid)
}

const (
	nextSeq     = "pg_catalog.nextval('pgredis.seq'::pg_catalog.regclass)"
	currentTxid = "pg_catalog.txid_current()"
)

// headerOf renders the header from SQL expressions for its sequence
// number and transaction id (bigints).
func headerOf(version, seq, txid string) string {
	return fmt.Sprintf(`'p2 %s ' || %s::text || ' ' || pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.clock_timestamp()) * 1000000)::bigint::text || ' ' || %s::text || E'\n'`, version, seq, txid)
}

// setEntryExpr renders x.k/x.v as a set entry, or as a fetch (or reconcile)
// entry when the row is too large for a notification.
func (t Table) setEntryExpr() string {
	return setEntry("x.k", "x.v", "x.f", "\t\t")
}

// setEntry renders the key k and value v (SQL expressions) as a set
// entry, or the fetch entry f when they are too large for a notification.
func setEntry(k, v, f, indent string) string {
	return strings.ReplaceAll(fmt.Sprintf(`CASE
	WHEN pg_catalog.octet_length(%[2]s) + pg_catalog.octet_length(%[3]s) <= %[1]d
		THEN 'S' || pg_catalog.octet_length(%[2]s)::text || ':' || %[2]s || pg_catalog.octet_length(%[3]s)::text || ':' || %[3]s
	WHEN pg_catalog.octet_length(%[4]s) <= %[1]d THEN %[4]s
	ELSE 'X0:'
END`, maxEntry, k, v, f), "\n", "\n"+indent)
}

// deleteEntry renders the key k (an SQL expression) as a delete entry.
func deleteEntry(k string) string {
	return fmt.Sprintf(`CASE WHEN pg_catalog.octet_length(%[2]s) <= %[1]d THEN 'D' || pg_catalog.octet_length(%[2]s)::text || ':' || %[2]s ELSE 'X0:' END`, maxEntry, k)
}

// setRows selects the set entries of rel's rows. OFFSET 0 keeps the
// planner from inlining x into the CASE, which would render every row's
// value up to three times.
func (t Table) setRows(alias, rel string) string {
	return fmt.Sprintf(`SELECT %s AS e
		FROM (
			SELECT
				%s AS k,
				%s AS v,
				%s AS f
			FROM %s %s%s
			OFFSET 0
		) x
		WHERE x.k IS NOT NULL`,
		t.setEntryExpr(), t.keyExpr(alias), t.bulkValueExpr(alias), t.fetchEntryExpr(alias), rel, alias, t.whereClause())
}

// bulkValueExpr is valueExpr as a bulk statement's trigger renders it: for
// format=json, column by column for the columns the table has now (the
// same bytes as to_jsonb, as SnapshotSQL renders them), which measured a
// third of a bulk UPDATE's trigger cost less than to_jsonb of the whole
// row. The functions are generated for those columns: a column change
// makes them stale (pgredis.shapes), and they are regenerated and the
// table reconciled. A single row keeps to_jsonb of the whole row, whose
// one call costs less to set up than the longer expression.
func (t Table) bulkValueExpr(alias string) string {
	if t.Format != spec.FormatJSON {
		return t.valueExpr(alias)
	}
	return t.withIndex(alias, t.withExpiry(alias, t.jsonExpr(alias)))
}

func deleteEntries(keys string) string {
	return fmt.Sprintf(`SELECT %s AS e
		FROM (
			%s
		) d(k)
		WHERE d.k IS NOT NULL`, deleteEntry("d.k"), keys)
}

// goneKeys selects, from the keys in rel (an SQL query selecting a key and
// then the EqColumns' values), those no row of the table renders now.
//
// The AFTER STATEMENT triggers of a writable CTE or a MERGE fire once all
// of its sub-statements ran, in the order the sub-statements finished
// (`WITH m AS (UPDATE t SET id = 100 WHERE id = 1) INSERT INTO t VALUES
// (1)` fires the INSERT's first), and the queries inside them see the
// statement's final state. A key one sub-statement deleted (or moved a row
// away from) and another re-inserted must therefore not be deleted after
// the other's set reached the worker: the lookup leaves it out.
//
// The lookup costs an index probe per deleted key, so it runs only when a
// trigger that sets keys of this table already fired for the same
// statement (pgredis_seen, see marker); a plain DELETE never pays it.
// Without an index on a key column it would scan the table for every
// deleted row, so the delete is then emitted as before (see EqColumns).
func (t Table) goneKeys(rel string) string {
	names := []string{"k"}
	conds := make([]string, 0, len(t.EqColumns)+1)
	for i, c := range t.EqColumns {
		names = append(names, fmt.Sprintf("c%d", i+1))
		conds = append(conds, fmt.Sprintf("c.%s %s g.c%d", spec.QuoteIdent(c.Name), c.Op, i+1))
	}
	if len(t.EqColumns) == 0 {
		return fmt.Sprintf(`SELECT g.k
			FROM (
				%s
			) g(k)`, rel)
	}
	conds = append(conds, t.keyExpr("c")+" = g.k")
	if t.Where != "" {
		// A row that renders the key but does not match is not in the
		// mirror: it keeps no key alive.
		conds = append(conds, t.Where)
	}
	return fmt.Sprintf(`SELECT g.k
			FROM (
				%s
			) g(%s)
			WHERE CASE WHEN pgredis_seen THEN NOT EXISTS (
				SELECT FROM %s c
				WHERE %s
			) ELSE true END`, rel, strings.Join(names, ", "), t.Ident(), strings.Join(conds, "\n\t\t\t\t\tAND "))
}

// marker names the transaction-local setting in which a trigger that sets
// keys of the table records the statement it fired for (its
// statement_timestamp, the same for every sub-statement of a statement).
// A later trigger of the same statement that deletes keys then looks them
// up (goneKeys). Statements sent in one message share the timestamp too:
// they only pay the lookup, the result is the same.
func (t Table) marker() (seen, mark string) {
	name := spec.QuoteLiteral(strings.Replace(FuncName(t.Table, "seen"), "pgredis.t_", "pgredis.s_", 1))
	ts := "pg_catalog.statement_timestamp()::text"
	return fmt.Sprintf("pgredis_seen := coalesce(pg_catalog.current_setting(%s, true) = %s, false)", name, ts),
		// An assignment rather than PERFORM: evaluated as a plain
		// expression, without a query's executor startup (pgredis_e is
		// overwritten before it is read).
		fmt.Sprintf("pgredis_e := pg_catalog.set_config(%s, %s, true)", name, ts)
}

// keyRows selects the key of rel's rows, then their EqColumns.
func (t Table) keyRows(alias, rel string) string {
	terms := []string{t.keyExpr(alias)}
	for _, c := range t.EqColumns {
		terms = append(terms, alias+"."+spec.QuoteIdent(c.Name))
	}
	return fmt.Sprintf("SELECT %s FROM %s %s%s", strings.Join(terms, ", "), rel, alias, t.whereClause())
}

// whereClause filters a query's rows by where=: only matching rows are in
// the mirror. An old row that did not match had no key to delete, and a
// new one that does not match sets none, so an update that moves a row
// out of the filter deletes its key (old keys less new ones) and one
// that moves it in writes it. The expression names columns unqualified,
// so it reads the row of whichever alias the query gives the table.
func (t Table) whereClause() string {
	if t.Where == "" {
		return ""
	}
	return " WHERE " + t.Where
}

// queueing decides, once per statement, whether its payloads go to the
// capture queue or out by pg_notify (pgredis.queueing, migration 5, and
// docs/architecture.md "Capture modes: notify and queue").
const queueing = "pgredis_q := pgredis.queueing()"

// startHeader draws the statement's sequence number and transaction id
// once into pgredis_s and pgredis_x, renders the header from them and
// decides the capture mode: enqueue then needs no second function call
// that parses them back out of the header (BENCHMARKS.md, "The queue-mode
// trigger, piece by piece").
func (t Table) startHeader() string {
	return fmt.Sprintf("pgredis_s := %s;\npgredis_x := %s;\npgredis_hdr := %s;\n%s",
		nextSeq, currentTxid, headerOf(t.Version(), "pgredis_s", "pgredis_x"), queueing)
}

// queueTooLarge is the entry a transaction's 65th payload for a table
// becomes (see enqueue).
const queueTooLarge = "a transaction too large for the capture queue"

// sendPayload sends a finished payload by the statement's capture mode.
// The queue branch is pgredis.enqueue (migration 5) inlined over
// startHeader's variables, with the same bounds: past a million payloads
// beyond what the worker last drained the worker is told to rebuild
// instead, and a transaction queues at most 64 payloads per table, then
// one request to reconcile it. pgredis.enqueue stays for triggers an
// older pgredis installed.
func (t Table) sendPayload(payload string) string {
	counter := spec.QuoteLiteral("pgredis.q_" + t.Version())
	return fmt.Sprintf(`IF NOT pgredis_q THEN
	PERFORM pg_catalog.pg_notify(%[2]s, %[1]s);
ELSIF pgredis_s - coalesce(pg_catalog.pg_sequence_last_value('pgredis.queue_drained'::pg_catalog.regclass), 1) > 1000000 THEN
	PERFORM pg_catalog.pg_notify(%[2]s, 'c1 overflow - 0');
ELSE
	pgredis_k := coalesce(NULLIF(pg_catalog.current_setting(%[3]s, true), '')::integer, 0) + 1;
	pgredis_cfg := pg_catalog.set_config(%[3]s, pgredis_k::text, true);
	IF pgredis_k <= 64 THEN
		INSERT INTO pgredis.queue (seq, txid, payload) VALUES (pgredis_s, pgredis_x, %[1]s);
	ELSIF pgredis_k = 65 THEN
		INSERT INTO pgredis.queue (seq, txid, payload) VALUES (pgredis_s, pgredis_x, pgredis_hdr || %[4]s);
	END IF;
END IF`, payload, spec.QuoteLiteral(Channel), counter, spec.QuoteLiteral(fmt.Sprintf("X%d:%s", len(queueTooLarge), queueTooLarge)))
}

// emitOne is a PL/pgSQL block that sends a statement's entries (text)
// packed into as few notifications as fit under maxPayload. When fast (a
// PL/pgSQL condition: the statement changed one row) holds, the entries
// are the non-NULL elements of the array one (plain expressions over
// variables, evaluated without starting an executor for a query), else
// the rows of the query entries. A loop that appends to a buffer costs the
// writer far less than packing in SQL (a running sum and a string_agg per
// chunk measured several times slower for bulk statements, and more for
// single rows); see BENCHMARKS.md. Every chunk of a statement holds other
// entries and the header carries a per-statement sequence number, so no
// two payloads of a transaction are equal and PostgreSQL drops none.
func (t Table) emitOne(fast, one, entries string) string {
	return fmt.Sprintf(`IF %s THEN
		%s;
	ELSE
		%s;
	END IF;
	%s`, fast,
		t.pack("FOREACH pgredis_e IN ARRAY pg_catalog.array_remove(ARRAY[\n\t\t"+one+"\n\t], NULL)", "\t\t"),
		t.pack("FOR pgredis_e IN\n\t"+entries, "\t\t"), t.flush())
}

// send is the PL/pgSQL that sends pgredis_buf, the header first.
func (t Table) send(indent string) string {
	return strings.ReplaceAll(fmt.Sprintf(`IF pgredis_hdr IS NULL THEN
	%s;
END IF;
%s;`, strings.ReplaceAll(t.startHeader(), "\n", "\n\t"), t.sendPayload("pgredis_hdr || pgredis_buf")), "\n", "\n"+indent)
}

// pack appends the loop's entries to pgredis_buf, sending it whenever the
// next entry would not fit; loop is the loop's head, without LOOP.
func (t Table) pack(loop, indent string) string {
	return strings.ReplaceAll(fmt.Sprintf(`%s
LOOP
	IF pg_catalog.octet_length(pgredis_buf) + pg_catalog.octet_length(pgredis_e) > %d THEN
		%s
		pgredis_buf := '';
	END IF;
	pgredis_buf := pgredis_buf || pgredis_e;
END LOOP`, loop, maxEntry, t.send("\t\t")), "\n", "\n"+indent)
}

// flush sends what is left in pgredis_buf.
func (t Table) flush() string {
	return fmt.Sprintf(`IF pgredis_buf <> '' THEN
		%s
	END IF`, t.send("\t\t"))
}

// join joins PL/pgSQL statements, leaving out empty ones.
func join(stmts ...string) string {
	var out []string
	for _, s := range stmts {
		if s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, ";\n\t")
}

// dollarTag returns a dollar-quote tag that body does not contain: a
// column name or key literal may hold any fixed tag.
func dollarTag(body string) string {
	tag := "$pgredis$"
	for i := 1; strings.Contains(body, tag); i++ {
		tag = fmt.Sprintf("$pgredis%d$", i)
	}
	return tag
}

// setClauses pins Settings for the function's call. A list setting
// (search_path, DateStyle) is given element by element: one quoted
// string would be taken as a single schema name.
func setClauses() string {
	var set []string
	for _, s := range Settings {
		var vals []string
		for _, v := range strings.Split(s[1], ",") {
			vals = append(vals, spec.QuoteLiteral(strings.TrimSpace(v)))
		}
		set = append(set, fmt.Sprintf("SET %s TO %s", s[0], strings.Join(vals, ", ")))
	}
	return strings.Join(set, "\n")
}

// function wraps a body in a trigger function.
//
// SECURITY DEFINER: the function runs as the role that ran migrate up, so
// a writer needs no privilege beyond its own on the table (not on the
// pgredis schema or its sequence, nor SELECT for the lookup of goneKeys).
// What it can do is fixed here: read the table, take a pgredis.seq value
// and pg_notify; it runs no dynamic SQL, and row data only ever travels
// as values. search_path is pinned (pg_catalog first, pg_temp last, see
// Settings) and the calls that could resolve elsewhere are qualified.
//
// The SET clauses also pin the rendering settings whatever the writer's
// session uses. The exception handler keeps pgredis from ever failing the
// application's write (a column dropped or renamed under the trigger, say):
// it logs a warning and asks the worker to reconcile the table, saying why.
// variable_conflict keeps a column named like one of the variables from
// breaking the function.
func (t Table) function(op, body string) string {
	table := spec.QuoteLiteral(t.Table.String())
	code := fmt.Sprintf(`
#variable_conflict use_column
DECLARE
	pgredis_buf text := '';
	pgredis_e text;
	pgredis_hdr text;
	pgredis_seen boolean;
	pgredis_rows bigint;
	pgredis_nk text;
	pgredis_nv text;
	pgredis_ok text;
	pgredis_q boolean;
	pgredis_s bigint;
	pgredis_x bigint;
	pgredis_k integer;
	pgredis_cfg text;
BEGIN
	%s;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	RAISE WARNING 'pgredis: the %% trigger on %% failed, so the worker will reconcile the table: %%', %s, %s, SQLERRM;
	PERFORM pg_catalog.pg_notify(%s, %s || 'X' || pg_catalog.octet_length(m)::text || ':' || m)
		FROM (SELECT pg_catalog.left(%s || SQLERRM, 2000) AS m) e;
	RETURN NULL;
END
`, body, spec.QuoteLiteral(op), table, spec.QuoteLiteral(Channel), header(t.Version()),
		spec.QuoteLiteral("trigger on "+t.Table.String()+" failed: "))
	tag := dollarTag(code)
	return fmt.Sprintf("CREATE OR REPLACE FUNCTION %s() RETURNS trigger\nLANGUAGE plpgsql SECURITY DEFINER\n%s\nAS %s%s%s",
		FuncName(t.Table, op), setClauses(), tag, code, tag)
}

// comment describes a trigger function in the catalog, so whoever finds
// it (\df+, a permissions audit) knows what installed it and for what.
func (t Table) comment(op string) string {
	return fmt.Sprintf("COMMENT ON FUNCTION %s() IS %s", FuncName(t.Table, op),
		spec.QuoteLiteral(fmt.Sprintf("pgredis: %s trigger function of %s, installed by pgredis migrate up for the spec %s (version %s)", op, t.Table.String(), t.Canonical(), t.Version())))
}

// oneRow is the query that tells a statement that changed one row from
// others and, for one row, reads what its entries need into variables:
// pgredis_rows (the rows of rel, counted up to 2), the new row's key and
// value (pgredis_nk, pgredis_nv; NULL when it has no key or does not
// match where=) and the old row's key (pgredis_ok). OFFSET 0 keeps each
// LATERAL subquery from being pulled up into a join whose filter would
// scan every row of a bulk statement: it stays a subquery whose condition
// on the count is a one-time filter, so a bulk statement's rows are not
// read at all here.
func (t Table) oneRow(newRows, oldRows bool) string {
	rel := "pgredis_old"
	if newRows {
		rel = "pgredis_new"
	}
	cols, vars := []string{"one.c"}, []string{"pgredis_rows"}
	from := fmt.Sprintf("(SELECT pg_catalog.count(*) AS c FROM (SELECT FROM %s LIMIT 2) l) one", rel)
	if newRows {
		cols = append(cols, "n.k", "n.v")
		vars = append(vars, "pgredis_nk", "pgredis_nv")
		from += fmt.Sprintf(`
		LEFT JOIN LATERAL (SELECT %s AS k, %s AS v FROM pgredis_new n WHERE one.c = 1%s OFFSET 0) n ON true`,
			t.keyExpr("n"), t.valueExpr("n"), t.andWhere())
	}
	if oldRows {
		cols = append(cols, "o.k")
		vars = append(vars, "pgredis_ok")
		from += fmt.Sprintf(`
		LEFT JOIN LATERAL (SELECT %s AS k FROM pgredis_old o WHERE one.c = 1%s OFFSET 0) o ON true`, t.keyExpr("o"), t.andWhere())
	}
	return fmt.Sprintf("SELECT %s INTO %s\n\tFROM %s", strings.Join(cols, ", "), strings.Join(vars, ", "), from)
}

// andWhere is whereClause as an extra condition.
func (t Table) andWhere() string {
	if t.Where == "" {
		return ""
	}
	return " AND (" + t.Where + ")"
}

// InstallSQL returns the statements that (re)install the table's trigger
// functions and triggers. They are idempotent.
//
// The functions stay statement-level (a bulk statement's rows go through
// one query and are packed into few notifications), but a statement that
// changed one row, the common case, takes a short path: one small query
// reads its key and value into variables and the entries are plain
// expressions over them, without starting the executor for the bulk
// query, whose plan startup was most of a single-row statement's trigger
// cost (BENCHMARKS.md, "Where a single-row UPDATE's trigger time goes").
// The short path sends exactly what the bulk one would for that row; a
// key the row moved away from is deleted only when the key changed, and a
// statement that needs goneKeys's lookup (a writable CTE or MERGE whose
// other part set keys of the table) takes the bulk path.
func (t Table) InstallSQL() []string {
	seen, mark := t.marker()
	// fastDelete: the short path may delete the old key unlooked-up.
	fastDelete := "true"
	if len(t.EqColumns) == 0 {
		seen, mark = "", ""
	} else {
		fastDelete = "NOT pgredis_seen"
	}
	// NULL (left out) for no key: the bulk path's WHERE x.k IS NOT NULL.
	// A row too large for a notification takes the bulk path, which
	// sends its fetch entry.
	fits := fmt.Sprintf("(pgredis_nk IS NULL OR pg_catalog.octet_length(pgredis_nk) + pg_catalog.octet_length(pgredis_nv) <= %d)", maxEntry)
	set := "CASE WHEN pgredis_nk IS NOT NULL THEN 'S' || pg_catalog.octet_length(pgredis_nk)::text || ':' || pgredis_nk || pg_catalog.octet_length(pgredis_nv)::text || ':' || pgredis_nv END"
	gone := "CASE WHEN pgredis_ok IS NOT NULL THEN " + deleteEntry("pgredis_ok") + " END"
	ins := join(mark, t.oneRow(true, false), t.emitOne("pgredis_rows = 1 AND "+fits, set, t.setRows("n", "pgredis_new")))
	// EXCEPT rather than NOT EXISTS: the plan is cached from the first
	// call, and a hashed set operation stays linear whatever the row
	// counts, where an anti-join planned for one row would not.
	moved := "CASE WHEN pgredis_ok IS DISTINCT FROM pgredis_nk THEN " + gone + " END"
	upd := join(seen, mark, t.oneRow(true, true), t.emitOne(
		fmt.Sprintf("pgredis_rows = 1 AND %s AND (pgredis_ok IS NULL OR pgredis_ok IS NOT DISTINCT FROM pgredis_nk OR %s)", fits, fastDelete),
		set+",\n\t\t"+moved,
		t.setRows("n", "pgredis_new")+"\n\t\tUNION ALL\n\t\t"+
			deleteEntries(t.goneKeys(t.keyRows("o", "pgredis_old")+"\n\t\t\t\tEXCEPT\n\t\t\t\t"+t.keyRows("n", "pgredis_new")))))
	del := join(seen, t.oneRow(false, true), t.emitOne(
		fmt.Sprintf("pgredis_rows = 1 AND (pgredis_ok IS NULL OR %s)", fastDelete),
		gone,
		deleteEntries(t.goneKeys(t.keyRows("o", "pgredis_old")))))
	trunc := join(t.startHeader(), t.sendPayload("pgredis_hdr || 'T'"))
	tbl := t.Ident()
	stmts := []string{
		t.function("ins", ins), t.comment("ins"),
		t.function("upd", upd), t.comment("upd"),
		t.function("del", del), t.comment("del"),
		t.function("trunc", trunc), t.comment("trunc"),
		// The functions are generated for the table's columns as they are
		// now; recorded before the ALTER below, which the event trigger sees.
		recordShapeSQL(t.Table),
		suspendEventTrigger,
		fmt.Sprintf("CREATE OR REPLACE TRIGGER %s AFTER INSERT ON %s REFERENCING NEW TABLE AS pgredis_new FOR EACH STATEMENT EXECUTE FUNCTION %s()", TriggerName(t.Table, "ins"), tbl, FuncName(t.Table, "ins")),
		fmt.Sprintf("CREATE OR REPLACE TRIGGER %s AFTER UPDATE ON %s REFERENCING OLD TABLE AS pgredis_old NEW TABLE AS pgredis_new FOR EACH STATEMENT EXECUTE FUNCTION %s()", TriggerName(t.Table, "upd"), tbl, FuncName(t.Table, "upd")),
		fmt.Sprintf("CREATE OR REPLACE TRIGGER %s AFTER DELETE ON %s REFERENCING OLD TABLE AS pgredis_old FOR EACH STATEMENT EXECUTE FUNCTION %s()", TriggerName(t.Table, "del"), tbl, FuncName(t.Table, "del")),
		fmt.Sprintf("CREATE OR REPLACE TRIGGER %s AFTER TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION %s()", TriggerName(t.Table, "trunc"), tbl, FuncName(t.Table, "trunc")),
		// ALWAYS: logical replication apply and sessions with
		// session_replication_role = replica skip ordinary triggers.
		fmt.Sprintf("ALTER TABLE %s ENABLE ALWAYS TRIGGER %s, ENABLE ALWAYS TRIGGER %s, ENABLE ALWAYS TRIGGER %s, ENABLE ALWAYS TRIGGER %s",
			tbl, TriggerName(t.Table, "ins"), TriggerName(t.Table, "upd"), TriggerName(t.Table, "del"), TriggerName(t.Table, "trunc")),
		resumeEventTrigger,
	}
	// A later entry records no shape (recordShapeSQL).
	return slices.DeleteFunc(stmts, func(s string) bool { return s == "" })
}

// UninstallSQL drops the table's triggers (when the table still exists)
// and its trigger functions.
func UninstallSQL(t spec.Table) []string {
	// The triggers pgredis.sync_triggers put on the table's partitions,
	// inheritance children (and tables they left) depend on its functions.
	stmts := []string{familyUninstallSQL(t)}
	for _, trg := range EntryTriggerNames(t) {
		stmts = append(stmts, fmt.Sprintf(`DO $$ BEGIN IF to_regclass(%s) IS NOT NULL THEN DROP TRIGGER IF EXISTS %s ON %s; END IF; END $$`,
			spec.QuoteLiteral(t.Ident()), trg, t.Ident()))
	}
	for _, op := range []string{"ins", "upd", "del", "trunc"} {
		stmts = append(stmts, "DROP FUNCTION IF EXISTS "+FuncName(t, op)+"()")
	}
	return stmts
}
