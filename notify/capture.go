package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgredis/pgredis/internal/spec"
)

// This file keeps capture following a synced table's partitions,
// inheritance children, renames and column changes; the SQL functions it
// calls are in migration 3 (docs/architecture.md: "Partitions, replication and schema
// changes").

// MigrateLockKey is the transaction-level advisory lock migrate up holds
// while it installs; regenerating a table's functions takes it too.
const MigrateLockKey = LockKey + 1

// EventTrigger is the name of pgredis's event trigger on CREATE and ALTER
// TABLE; dropTrigger's follows DROP TABLE.
const (
	EventTrigger = "pgredis_ddl"
	dropTrigger  = "pgredis_drop"
)

// The event trigger skips DDL pgredis runs itself (the ALTER TABLE ...
// ENABLE ALWAYS TRIGGER of an install) for the rest of the transaction.
const (
	suspendEventTrigger = "SELECT set_config('pgredis.in_ddl', 'on', true)"
	resumeEventTrigger  = "SELECT set_config('pgredis.in_ddl', 'off', true)"
)

// recordShapeSQL records the columns the table's functions were generated
// for, which tells stale functions (a column retyped or added since) apart.
// The shape is the table's first entry's: a later entry installed alone
// must not hide that the first's functions are stale (they are all
// regenerated together, see Regenerate), so it records nothing ("").
func recordShapeSQL(t spec.Table) string {
	if t.Entry != "" {
		return ""
	}
	return fmt.Sprintf(`INSERT INTO pgredis.shapes (schema_name, table_name, shape) VALUES (%s, %s, pgredis.shape(%s))
ON CONFLICT (schema_name, table_name) DO UPDATE SET shape = EXCLUDED.shape`,
		spec.QuoteLiteral(t.Schema), spec.QuoteLiteral(t.Name), spec.QuoteLiteral(t.Ident()))
}

// familyUninstallSQL drops the triggers of the table that sit on its
// partitions and inheritance children, or on tables that left its family.
// A later entry of a table listed more than once has triggers on the
// table alone (see checkEntry): the refresh triggers and the shape are
// the first entry's.
func familyUninstallSQL(t spec.Table) string {
	var fns []string
	for _, op := range triggerOps {
		fns = append(fns, spec.QuoteLiteral(FuncName(t, op)+"()"))
	}
	refresh, shapes := "", ""
	if t.Entry == "" {
		refresh = fmt.Sprintf(`
	OR (g.tgfoid = to_regprocedure('pgredis.refresh_trigger()') AND g.tgargs = convert_to(%s, getdatabaseencoding()) || '\x00'::bytea)`, spec.QuoteLiteral(t.String()))
		shapes = fmt.Sprintf(`
IF to_regclass('pgredis.shapes') IS NOT NULL THEN
	DELETE FROM pgredis.shapes WHERE schema_name = %s AND table_name = %s;
END IF;`, spec.QuoteLiteral(t.Schema), spec.QuoteLiteral(t.Name))
	}
	return fmt.Sprintf(`DO $pgredis_uninstall$ DECLARE r record; BEGIN
FOR r IN SELECT g.tgname, g.tgrelid::regclass AS rel FROM pg_trigger g
	WHERE g.tgname LIKE 'pgredis\_%%' AND g.tgparentid = 0 AND (g.tgfoid IN (SELECT to_regprocedure(f) FROM unnest(ARRAY[%s]) f)%s)
LOOP EXECUTE format('DROP TRIGGER %%I ON %%s', r.tgname, r.rel); END LOOP;%s END $pgredis_uninstall$`,
		strings.Join(fns, ", "), refresh, shapes)
}

// FunctionsSQL is the part of InstallSQL that (re)creates the table's
// trigger functions, without the statements that lock the table.
func (t Table) FunctionsSQL() []string {
	var out []string
	for _, s := range t.InstallSQL() {
		switch {
		case strings.HasPrefix(s, "CREATE OR REPLACE TRIGGER"), strings.HasPrefix(s, "CREATE TRIGGER"),
			strings.HasPrefix(s, "ALTER TABLE"), strings.HasPrefix(s, "DROP TRIGGER"):
			continue
		}
		out = append(out, s)
	}
	return out
}

// SyncTriggers puts the table's triggers on every partition and
// inheritance child (firing ALWAYS) and takes them off tables that left
// its family; it returns what it changed. Nothing locks a table unless
// something changes.
func SyncTriggers(ctx context.Context, q Querier, t spec.Table) ([]string, error) {
	return syncTriggers(ctx, q, t, false)
}

// syncTriggers is SyncTriggers; enable also enables disabled triggers.
func syncTriggers(ctx context.Context, q Querier, t spec.Table, enable bool) ([]string, error) {
	var changes []string
	if t.Entry != "" {
		// Its triggers are on the table alone (checkEntry), put there
		// and enabled by its install.
		return nil, nil
	}
	if err := q.QueryRow(ctx, `SELECT pgredis.sync_triggers($1, $2, $3)`, t.Schema, t.Name, enable).Scan(&changes); err != nil {
		return nil, fmt.Errorf("error installing the triggers of %s on its partitions: %w", t, err)
	}
	return changes, nil
}

// syncInstalled runs at the end of an install: every installed table's
// family gets its triggers, enabled.
func syncInstalled(ctx context.Context, q Querier, tables []Table) error {
	_, err := SyncInstalled(ctx, q, tables)
	return err
}

// SyncInstalled gives every installed table's partitions and inheritance
// children its triggers, enabled, and returns what it changed. Each table
// is one statement (one transaction outside a tx), so migrate up holds no
// two tables' locks at once.
func SyncInstalled(ctx context.Context, q Querier, tables []Table) ([]string, error) {
	var all []string
	for _, t := range tables {
		changes, err := syncTriggers(ctx, q, t.Table, true)
		if err != nil {
			return all, err
		}
		all = append(all, changes...)
	}
	return all, nil
}

// Problem is something that keeps writes to a synced table from being
// captured, or captured right.
type Problem struct {
	// Kind is missing, disabled, not_always, elsewhere or stale.
	Kind    string
	Rel     string // the table the trigger is (or should be) on
	Trigger string
}

func (p Problem) String() string {
	switch p.Kind {
	case "missing":
		return fmt.Sprintf("%s has no trigger %s, so its writes are not mirrored (run pgredis migrate up as the table's owner)", p.Rel, p.Trigger)
	case "disabled":
		return fmt.Sprintf("trigger %s on %s is disabled, so its writes are not mirrored (ALTER TABLE %s ENABLE ALWAYS TRIGGER %s; the table is reconciled then)", p.Trigger, p.Rel, p.Rel, p.Trigger)
	case "not_always":
		return fmt.Sprintf("trigger %s on %s does not fire for logical replication or session_replication_role = replica (ALTER TABLE %s ENABLE ALWAYS TRIGGER %s, or run pgredis migrate up)", p.Trigger, p.Rel, p.Rel, p.Trigger)
	case "elsewhere":
		return fmt.Sprintf("table %s carries its trigger %s and drives its keys (renamed away, or a table swapped in by renames?): run pgredis migrate up", p.Rel, p.Trigger)
	case "stale":
		return "its columns changed since its trigger functions were generated, and they were not regenerated yet (run pgredis migrate up)"
	}
	return p.Kind + " " + p.Rel + " " + p.Trigger
}

const problemsSQL = `
WITH root AS (SELECT to_regclass(format('%I.%I', $1::text, $2::text)) AS rel),
fam AS (SELECT pgredis.family(rel)::oid AS rel FROM root WHERE rel IS NOT NULL),
fns AS (SELECT to_regprocedure(pgredis.func_prefix($1, $2) || op || '()')::oid AS fn FROM unnest(ARRAY['ins', 'upd', 'del', 'trunc']) op)
SELECT 'missing', f.rel::regclass::text, n FROM fam f CROSS JOIN unnest($3::text[]) n
	WHERE NOT EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = f.rel AND g.tgname = n)
UNION ALL
SELECT CASE g.tgenabled WHEN 'D' THEN 'disabled' ELSE 'not_always' END, g.tgrelid::regclass::text, g.tgname::text
	FROM pg_trigger g JOIN fam f ON g.tgrelid = f.rel WHERE g.tgname = ANY ($3) AND g.tgenabled <> 'A'
UNION ALL
SELECT 'elsewhere', g.tgrelid::regclass::text, g.tgname::text FROM pg_trigger g
	WHERE g.tgname = ANY ($3) AND g.tgfoid IN (SELECT fn FROM fns) AND g.tgrelid NOT IN (SELECT rel FROM fam)
UNION ALL
SELECT 'stale', '', '' FROM pgredis.shapes s, root
	WHERE root.rel IS NOT NULL AND s.schema_name = $1 AND s.table_name = $2 AND s.shape <> pgredis.shape(root.rel)
ORDER BY 1, 2, 3`

// CaptureProblems lists what keeps the table's writes from being captured
// as installed: a trigger missing on the table or one of its partitions,
// disabled, not firing ALWAYS, left on a table renamed away, or trigger
// functions generated for columns the table no longer has.
func CaptureProblems(ctx context.Context, q Querier, t spec.Table) ([]Problem, error) {
	rows, err := q.Query(ctx, problemsSQL, t.Schema, t.Name, EntryTriggerNames(t))
	if err != nil {
		return nil, fmt.Errorf("error checking the triggers of %s: %w", t, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Problem, error) {
		var p Problem
		err := r.Scan(&p.Kind, &p.Rel, &p.Trigger)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("error checking the triggers of %s: %w", t, err)
	}
	return out, nil
}

// Beginner starts transactions: a *pgx.Conn or pgxpool.Pool.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// ErrUnfit says the table no longer fits its spec (a column it names is
// gone), so its functions cannot be regenerated: migrate up's business.
var ErrUnfit = errors.New("the table no longer fits its spec")

// Regenerate rewrites the table's trigger functions for its current
// columns when they were generated for others (a column retyped or added,
// or the functions swapped for the fallback by the event trigger), and
// records the new rendering in the registry. It does nothing when the
// registry holds another spec for the table than st (migrate up installed
// a new one). It reports whether it regenerated.
func Regenerate(ctx context.Context, db Beginner, st spec.Table) (bool, error) {
	done := false
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		// A migrate up under way installs the table anyway: never wait
		// for it (the apply loop runs this); the periodic check asks again.
		var locked bool
		if err := tx.QueryRow(ctx, "SELECT pg_try_advisory_xact_lock($1)", MigrateLockKey).Scan(&locked); err != nil || !locked {
			return err
		}
		// Replacing a function takes no table lock; this only bounds a wait
		// on catalog rows another DDL holds.
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '5s'"); err != nil {
			return err
		}
		var specText string
		var stale bool
		err := tx.QueryRow(ctx, `SELECT t.spec, s.shape IS DISTINCT FROM pgredis.shape(to_regclass($3))
FROM pgredis.tables t LEFT JOIN pgredis.shapes s USING (schema_name, table_name)
WHERE t.schema_name = $1 AND t.table_name = $2 AND t.entry = $4`, st.Schema, st.Name, st.Ident(), st.Entry).Scan(&specText, &stale)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if specText != st.Canonical() || !stale {
			return nil
		}
		// The shape is the table's: every entry of a table listed more
		// than once is regenerated with it.
		entries, err := LoadInstalled(ctx, tx)
		if err != nil {
			return err
		}
		for _, in := range entries {
			if in.Schema != st.Schema || in.Name != st.Name {
				continue
			}
			resolved, err := Resolve(ctx, tx, []spec.Table{in.Table}, "")
			if err != nil {
				return fmt.Errorf("%w: %w", ErrUnfit, err)
			}
			t := resolved[0]
			for _, s := range t.FunctionsSQL() {
				if _, err := tx.Exec(ctx, s); err != nil {
					return err
				}
			}
			if _, err = tx.Exec(ctx, `UPDATE pgredis.tables SET key_template = $3, version = $4, render_sql = $5, fetch_sql = $6, installed_at = now()
WHERE schema_name = $1 AND table_name = $2 AND entry = $7`, t.Schema, t.Name, t.Key.String(), t.Version(), t.RenderSQL(), t.FetchSQL(), t.Entry); err != nil {
				return err
			}
		}
		done = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("error regenerating the trigger functions of %s: %w", st, err)
	}
	return done, nil
}

// Execer runs a statement: a *pgx.Conn, pgxpool.Pool or pgx.Tx.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// EnsureEventTrigger creates the event triggers when one is missing and
// the role may (a superuser), as migration 3 does when it runs as one. It
// returns a note for the operator when they are missing.
func EnsureEventTrigger(ctx context.Context, db Execer) (string, error) {
	var exists, super, fn bool
	err := db.QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_event_trigger WHERE evtname IN ($1, $2)) = 2,
	coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false),
	to_regprocedure('pgredis.on_drop()') IS NOT NULL`, EventTrigger, dropTrigger).Scan(&exists, &super, &fn)
	switch {
	case err != nil:
		return "", fmt.Errorf("error checking for the event trigger %s: %w", EventTrigger, err)
	case exists || !fn:
		return "", nil
	case !super:
		return "event triggers " + EventTrigger + " and " + dropTrigger + " not installed (they need a superuser): the worker picks up new partitions, column changes and re-enabled triggers within ten heartbeats instead of at once, and a dropped partition's keys at the next resync", nil
	}
	for _, s := range []string{
		"DROP EVENT TRIGGER IF EXISTS " + EventTrigger,
		"DROP EVENT TRIGGER IF EXISTS " + dropTrigger,
		"CREATE EVENT TRIGGER " + EventTrigger + " ON ddl_command_end WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE') EXECUTE FUNCTION pgredis.on_ddl()",
		"ALTER EVENT TRIGGER " + EventTrigger + " ENABLE ALWAYS",
		"CREATE EVENT TRIGGER " + dropTrigger + " ON sql_drop WHEN TAG IN ('DROP TABLE') EXECUTE FUNCTION pgredis.on_drop()",
		"ALTER EVENT TRIGGER " + dropTrigger + " ENABLE ALWAYS",
	} {
		if _, err := db.Exec(ctx, s); err != nil {
			return "", fmt.Errorf("error creating the event trigger %s: %w", EventTrigger, err)
		}
	}
	return "", nil
}

// checkNotPart refuses a partition or inheritance child: a statement on
// its parent that changes its rows fires only the parent's statement
// triggers, so syncing the part alone would miss them.
func checkNotPart(ctx context.Context, q Querier, st spec.Table, oid uint32) error {
	var parent string
	err := q.QueryRow(ctx, `SELECT i.inhparent::regclass::text FROM pg_catalog.pg_inherits i WHERE i.inhrelid = $1 LIMIT 1`, oid).Scan(&parent)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("error looking up the parents of %s: %w", st, err)
	}
	return fmt.Errorf("table %s is a partition or inheritance child of %s, whose statements would change its rows unseen; sync %s instead (a synced parent is synced whole)", st, parent, parent)
}
