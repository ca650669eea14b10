package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/pgredis/pgredis/internal/spec"
)

// Action is what migrate up does to one table.
type Action string

const (
	ActionInstall   Action = "install"
	ActionUpdate    Action = "update"
	ActionUnchanged Action = "unchanged"
	ActionRemove    Action = "remove"
)

// Step is one table's part of the plan. Every step but an unchanged one
// runs in a transaction of its own (see Apply), so migrate up never holds
// two tables' locks at once.
type Step struct {
	Action Action
	// Spec is the entry in canonical form (its key resolved): the new one,
	// or for a removal the one installed.
	Spec spec.Table
	// Old is what was installed, for an update.
	Old *spec.Table
	// Why says what makes an update necessary.
	Why []string
	// Gone marks a removal whose table no longer exists: only its
	// functions and registry row are left to drop.
	Gone bool
	// SQL is the DDL the step runs (trigger functions and triggers, or
	// their removal), without the locking and registry bookkeeping
	// around it.
	SQL []string

	table *Table // install and update: what to install
}

// registryRow is a pgredis.tables row as Plan needs it. It is read as
// JSON so a database whose migrations are not yet applied (a dry run
// before an upgrade) reads too: its missing columns are empty.
type registryRow struct {
	Schema      string `json:"schema_name"`
	Name        string `json:"table_name"`
	Spec        string `json:"spec"`
	Key         string `json:"key_template"`
	Version     string `json:"version"`
	RenderSQL   string `json:"render_sql"`
	FetchSQL    string `json:"fetch_sql"`
	InstallHash string `json:"install_hash"`
	CatalogHash string `json:"catalog_hash"`
	Entry       string `json:"entry"`
}

func loadRegistry(ctx context.Context, q Querier) ([]registryRow, error) {
	var exists bool
	if err := q.QueryRow(ctx, `SELECT to_regclass('pgredis.tables') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, fmt.Errorf("error reading pgredis.tables: %w", err)
	}
	if !exists {
		return nil, nil
	}
	rows, err := q.Query(ctx, `SELECT to_jsonb(t)::text FROM pgredis.tables t ORDER BY schema_name, table_name, to_jsonb(t)->>'entry' NULLS FIRST`)
	if err != nil {
		return nil, fmt.Errorf("error reading pgredis.tables: %w", err)
	}
	defer rows.Close()
	var out []registryRow
	for rows.Next() {
		var text string
		if err := rows.Scan(&text); err != nil {
			return nil, fmt.Errorf("error reading pgredis.tables: %w", err)
		}
		var r registryRow
		if err := json.Unmarshal([]byte(text), &r); err != nil {
			return nil, fmt.Errorf("error reading pgredis.tables: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// spec is the row's entry with its resolved key.
func (r registryRow) spec() (spec.Table, error) {
	parsed, err := spec.Parse(r.Spec)
	if err != nil {
		return spec.Table{}, fmt.Errorf("pgredis.tables holds a spec this pgredis cannot parse (%s): %w; use the pgredis that installed it (a newer one?), or run pgredis migrate down, then up", r.Spec, err)
	}
	key, err := spec.ParseTemplate(r.Key)
	if err != nil {
		return spec.Table{}, fmt.Errorf("pgredis.tables holds a key template this pgredis cannot parse (%s): %w; use the pgredis that installed it (a newer one?), or run pgredis migrate down, then up", r.Key, err)
	}
	st := parsed[0]
	st.Key = &key
	st.Entry = r.Entry
	return st, nil
}

// normalized is t in canonical form: the resolved key written into the
// spec, columns= sorted and the value columns in that order. Every
// spelling of one meaning so installs the same SQL, version and
// registry row (the value's bytes do not depend on the order: JSON keys
// come in jsonb's order, hash fields have none).
func (t Table) normalized() Table {
	key := t.Key
	t.Table.Key = &key
	t.Table = t.Table.Normalized()
	if t.Table.Columns != nil {
		t.Value = slices.Clone(t.Value)
		slices.SortFunc(t.Value, func(a, b Column) int { return strings.Compare(a.Name, b.Name) })
	}
	return t
}

// installHash identifies the statements that install t: a pgredis that
// generates different trigger SQL for the same spec reinstalls.
func installHash(stmts []string) string {
	h := sha256.New()
	for _, s := range stmts {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// catalogHashSQL fingerprints what the catalog holds of one table's
// install: its pgredis triggers (name, enabled state, events, function,
// transition tables) and its trigger functions (body, settings, security,
// owner, privileges). Raw catalog columns rather than pg_get_*def, whose
// output depends on the session's search_path. $1 is the table, $2 the
// LIKE pattern of its function names, $3 whether it is the table's first
// entry: the triggers of a table listed more than once are told apart by
// their functions (a later entry's are named e_..., see FuncName).
const catalogHashSQL = `
SELECT coalesce(md5(string_agg(x, E'\n' ORDER BY x)), '') FROM (
	SELECT concat_ws(' ', 'trigger', g.tgname, g.tgenabled, g.tgtype, fn.nspname || '.' || f.proname,
		g.tgoldtable, g.tgnewtable, g.tgattr::text, md5(g.tgargs::text), g.tgqual IS NOT NULL) AS x
	FROM pg_catalog.pg_trigger g
	JOIN pg_catalog.pg_proc f ON f.oid = g.tgfoid
	JOIN pg_catalog.pg_namespace fn ON fn.oid = f.pronamespace
	WHERE g.tgrelid = to_regclass($1) AND NOT g.tgisinternal AND (g.tgname LIKE 'pgredis%' OR fn.nspname = 'pgredis')
		AND CASE WHEN $3 THEN f.proname NOT LIKE 'e\_%' ELSE f.proname LIKE $2 END
	UNION ALL
	SELECT concat_ws(' ', 'function', p.proname, md5(p.prosrc), p.proconfig::text, p.prosecdef, p.provolatile,
		p.proowner, p.proacl::text, p.prolang, p.prorettype, p.proargtypes::text)
	FROM pg_catalog.pg_proc p
	WHERE p.pronamespace = to_regnamespace('pgredis') AND p.proname LIKE $2
) f`

// catalogHash is the catalog's fingerprint of t's install ("" when the
// table and its functions are gone).
func catalogHash(ctx context.Context, q Querier, t spec.Table) (string, error) {
	prefix := strings.TrimPrefix(FuncName(t, ""), "pgredis.")
	pattern := strings.NewReplacer(`\`, `\\`, `_`, `\_`, `%`, `\%`).Replace(prefix) + "%"
	var h string
	if err := q.QueryRow(ctx, catalogHashSQL, t.Ident(), pattern, t.Entry == "").Scan(&h); err != nil {
		return "", fmt.Errorf("error reading the triggers of %s: %w", t, err)
	}
	return h, nil
}

// triggerProblems says which of the table's pgredis triggers are missing
// or do not fire ALWAYS: each is a change to repair.
func triggerProblems(ctx context.Context, q Querier, t spec.Table) ([]string, error) {
	rows, err := q.Query(ctx, `
SELECT n.name, coalesce(g.tgenabled::text, '')
FROM unnest($2::text[]) WITH ORDINALITY AS n(name, ord)
LEFT JOIN pg_catalog.pg_trigger g ON g.tgrelid = to_regclass($1) AND g.tgname = n.name
ORDER BY n.ord`, t.Ident(), EntryTriggerNames(t))
	if err != nil {
		return nil, fmt.Errorf("error reading the triggers of %s: %w", t, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name, enabled string
		if err := rows.Scan(&name, &enabled); err != nil {
			return nil, fmt.Errorf("error reading the triggers of %s: %w", t, err)
		}
		switch enabled {
		case "A":
		case "O": // skipped by logical replication and replica sessions
			out = append(out, "trigger "+name+" does not fire for session_replication_role = replica")
		case "":
			out = append(out, "trigger "+name+" is missing")
		case "D":
			out = append(out, "trigger "+name+" is disabled")
		default: // R: fires in replica sessions only
			out = append(out, "trigger "+name+" fires in replica sessions only")
		}
	}
	return out, rows.Err()
}

// Plan compares tables (resolved, checked) with what is installed and
// says, per table, what migrate up must do. It changes nothing. A table
// is unchanged only when its spec means the same, it renders the same
// (version and the registry's rendering SQL, which casts to the key
// columns' types), this pgredis would run the same statements, and the catalog
// still holds the triggers and functions as they were left (none missing,
// disabled or replaced). Tables installed but no longer listed are
// removed; removals come first.
func Plan(ctx context.Context, q Querier, tables []Table) ([]Step, error) {
	rows, err := loadRegistry(ctx, q)
	if err != nil {
		return nil, err
	}
	old := map[string]registryRow{}
	var steps []Step
	listed := map[string]bool{}
	for _, t := range tables {
		listed[t.Table.ID()] = true
	}
	for _, r := range rows {
		st, err := r.spec()
		if err != nil {
			return nil, err
		}
		old[st.ID()] = r
		if !listed[st.ID()] {
			var exists bool
			if err := q.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, st.Ident()).Scan(&exists); err != nil {
				return nil, fmt.Errorf("error looking up table %s: %w", st, err)
			}
			steps = append(steps, Step{Action: ActionRemove, Spec: st, SQL: UninstallSQL(st), Gone: !exists})
		}
	}
	for _, t := range tables {
		n := t.normalized()
		stmts := n.InstallSQL()
		step := Step{Action: ActionInstall, Spec: n.Table, SQL: stmts, table: &n}
		if r, ok := old[n.Table.ID()]; ok {
			if step.Why, err = whyUpdate(ctx, q, r, n, stmts); err != nil {
				return nil, err
			}
			was, _ := r.spec()
			step.Old = &was
			step.Action = ActionUpdate
			if len(step.Why) == 0 {
				step.Action, step.SQL = ActionUnchanged, nil
			}
		}
		steps = append(steps, step)
	}
	return steps, nil
}

func whyUpdate(ctx context.Context, q Querier, r registryRow, n Table, stmts []string) ([]string, error) {
	was, err := r.spec()
	if err != nil {
		return nil, err
	}
	// The first of: the spec, an install of unknown make, the table's
	// shape, the generated SQL (each implies the next).
	why := spec.Changes(was, n.Table)
	switch {
	case len(why) > 0:
	case r.InstallHash == "":
		why = append(why, "installed by an older pgredis")
	case r.Version != n.Version() || r.RenderSQL != n.RenderSQL() || r.FetchSQL != n.FetchSQL():
		why = append(why, "the table's columns changed since it was installed")
	case r.InstallHash != installHash(stmts):
		why = append(why, "this pgredis generates different trigger SQL")
	}
	problems, err := triggerProblems(ctx, q, n.Table)
	if err != nil {
		return nil, err
	}
	why = append(why, problems...)
	if len(problems) == 0 && r.CatalogHash != "" {
		h, err := catalogHash(ctx, q, n.Table)
		if err != nil {
			return nil, err
		}
		if h != r.CatalogHash {
			why = append(why, "its pgredis triggers or trigger functions were changed since they were installed")
		}
	}
	return why, nil
}
