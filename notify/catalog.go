package notify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgredis/pgredis/internal/spec"
)

// Querier is what catalog lookups need: a *pgx.Conn, pgxpool.Pool or pgx.Tx.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Column is a table column as the catalog describes it.
type Column struct {
	Name string
	Type string // format_type(), usable in a cast
}

// Table is a spec checked against the catalog, with everything needed to
// render its rows.
type Table struct {
	spec.Table
	// Key is the resolved key template (spec's, or the primary-key default).
	Key spec.Template
	// AllColumns are the table's columns in attnum order.
	AllColumns []Column
	// Value are the columns that go into the value.
	Value []Column
	// KeyColumns are the template's distinct placeholder columns.
	KeyColumns []Column
	// expireType is the expire_at= column's type.
	expireType string
	// indexScoreTypes are the index= score columns' types, "" for a set.
	indexScoreTypes []string
	// EqColumns are the key columns a btree index leads with (see
	// eqColumns); the trigger looks current rows up by them.
	EqColumns []EqColumn
}

// Resolve checks every spec against the catalog and fills in the defaults
// that depend on it. It also rejects key templates that could collide with
// each other or with the state prefix, so nothing is installed or written
// for a configuration that could corrupt another table's keys.
func Resolve(ctx context.Context, q Querier, tables []spec.Table, statePrefix string) ([]Table, error) {
	if err := CheckEncoding(ctx, q); err != nil {
		return nil, err
	}
	var out []Table
	for _, st := range tables {
		t, err := resolveOne(ctx, q, st)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	if err := CheckOverlaps(out, statePrefix); err != nil {
		return nil, err
	}
	return out, nil
}

// CheckOverlaps rejects templates that could produce the same key, or a key
// under the state prefix.
func CheckOverlaps(tables []Table, statePrefix string) error {
	for i, a := range tables {
		if statePrefix != "" && a.Key.OverlapsPrefix(statePrefix) {
			return fmt.Errorf("table %s: key template %q could produce keys under PGREDIS_STATE_PREFIX %q; give it a key= that starts differently", a, a.Key.String(), statePrefix)
		}
		for _, b := range tables[i+1:] {
			if a.Key.Overlaps(b.Key) {
				return fmt.Errorf("tables %s and %s: key templates %q and %q could produce the same key; give one a distinct literal prefix with key=", a, b, a.Key.String(), b.Key.String())
			}
		}
	}
	return checkIndexOverlaps(tables, statePrefix)
}

// columnsSQL names each column's type so that it resolves under the
// worker's pinned search_path (Settings) whatever this session's path is:
// format_type leaves a type visible here unqualified, so one outside
// pg_catalog gets its schema.
const columnsSQL = `
SELECT a.attname, CASE
	WHEN pg_catalog.pg_type_is_visible(a.atttypid) AND t.typnamespace <> 'pg_catalog'::pg_catalog.regnamespace
		THEN pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.format_type(a.atttypid, a.atttypmod)
	ELSE pg_catalog.format_type(a.atttypid, a.atttypmod)
END
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum`

const primaryKeySQL = `
SELECT a.attname
FROM pg_catalog.pg_index i
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = $1 AND i.indisprimary
ORDER BY k.ord`

func resolveOne(ctx context.Context, q Querier, st spec.Table) (Table, error) {
	var oid uint32
	var kind string
	err := q.QueryRow(ctx, `
SELECT c.oid, c.relkind::text FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2`, st.Schema, st.Name).Scan(&oid, &kind)
	if errors.Is(err, pgx.ErrNoRows) {
		return Table{}, fmt.Errorf("table %s does not exist (check the name in PGREDIS_TABLES; unquoted names are folded to lower case)", st)
	}
	if err != nil {
		return Table{}, fmt.Errorf("error looking up table %s: %w", st, err)
	}
	if kind != "r" && kind != "p" {
		return Table{}, fmt.Errorf("%s is not a table (relkind %s); only tables can be synced", st, kind)
	}
	if err := checkNotPart(ctx, q, st, oid); err != nil {
		return Table{}, err
	}
	if err := checkEntry(ctx, q, st, oid, kind); err != nil {
		return Table{}, err
	}
	t := Table{Table: st}
	rows, err := q.Query(ctx, columnsSQL, oid)
	if err != nil {
		return Table{}, fmt.Errorf("error reading columns of %s: %w", st, err)
	}
	for rows.Next() {
		var c Column
		if err := rows.Scan(&c.Name, &c.Type); err != nil {
			return Table{}, err
		}
		t.AllColumns = append(t.AllColumns, c)
	}
	if err := rows.Err(); err != nil {
		return Table{}, fmt.Errorf("error reading columns of %s: %w", st, err)
	}
	if st.Key != nil {
		t.Key = *st.Key
	} else {
		rows, err := q.Query(ctx, primaryKeySQL, oid)
		if err != nil {
			return Table{}, fmt.Errorf("error reading primary key of %s: %w", st, err)
		}
		pk, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return Table{}, fmt.Errorf("error reading primary key of %s: %w", st, err)
		}
		if len(pk) == 0 {
			return Table{}, fmt.Errorf("table %s has no primary key: add one, or give it key=TEMPLATE in PGREDIS_TABLES", st)
		}
		t.Key = spec.DefaultTemplate(st.Name, pk)
	}
	for _, name := range t.Key.Columns() {
		c, err := t.column(name, "key=")
		if err != nil {
			return Table{}, err
		}
		if !slices.Contains(t.KeyColumns, c) {
			t.KeyColumns = append(t.KeyColumns, c)
		}
	}
	if t.EqColumns, err = eqColumns(ctx, q, oid, t.KeyColumns); err != nil {
		return Table{}, fmt.Errorf("error reading the indexes of %s: %w", st, err)
	}
	if st.ExpireAt != "" {
		c, err := t.column(st.ExpireAt, "expire_at=")
		if err != nil {
			return Table{}, err
		}
		switch baseType(c.Type) {
		case "timestamp with time zone", "timestamp without time zone", "date":
			t.expireType = baseType(c.Type)
		default:
			return Table{}, fmt.Errorf("table %s: expire_at=%s names a column of type %s: it must be timestamptz, timestamp (read as UTC) or date", st, c.Name, c.Type)
		}
	}
	if err := checkWhere(ctx, q, t); err != nil {
		return Table{}, err
	}
	if err := t.resolveIndexes(); err != nil {
		return Table{}, err
	}
	switch {
	case st.Exclude != nil:
		for _, name := range st.Exclude {
			if _, err := t.column(name, "exclude="); err != nil {
				return Table{}, err
			}
		}
		for _, c := range t.AllColumns {
			if !slices.Contains(st.Exclude, c.Name) {
				t.Value = append(t.Value, c)
			}
		}
	case st.Columns == nil:
		t.Value = t.AllColumns
	default:
		for _, name := range st.Columns {
			c, err := t.column(name, "columns=")
			if err != nil {
				return Table{}, err
			}
			t.Value = append(t.Value, c)
		}
	}
	return t, nil
}

func (t Table) column(name, option string) (Column, error) {
	for _, c := range t.AllColumns {
		if c.Name == name {
			return c, nil
		}
	}
	names := make([]string, len(t.AllColumns))
	for i, c := range t.AllColumns {
		names[i] = c.Name
	}
	return Column{}, fmt.Errorf("table %s has no column %q named in %s (its columns: %s)", t.Table, name, option, strings.Join(names, ", "))
}

// checkEntry refuses a later entry of a table listed more than once when
// the table is partitioned or an inheritance parent: its triggers are put
// on the table alone (pgredis.sync_triggers follows the first entry's
// onto partitions and children), so writes to a part would escape it.
func checkEntry(ctx context.Context, q Querier, st spec.Table, oid uint32, kind string) error {
	if st.Entry == "" {
		return nil
	}
	parent := kind == "p"
	if !parent {
		if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits WHERE inhparent = $1)`, oid).Scan(&parent); err != nil {
			return fmt.Errorf("error looking up the children of %s: %w", st, err)
		}
	}
	if parent {
		return fmt.Errorf("table %s is listed more than once, but it has partitions or inheritance children: only its first entry can follow them (not supported yet: give it one entry, with index= for a lookup by another column)", st)
	}
	return nil
}
