package notify

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgredis/pgredis/internal/spec"
)

// Installed is a synced table as migrate up recorded it in pgredis.tables.
// The worker renders rows with RenderSQL and FetchSQL so a reconcile writes
// exactly what the installed trigger would.
type Installed struct {
	spec.Table
	Key       spec.Template
	Version   string
	RenderSQL string
	FetchSQL  string
}

// Install makes exactly tables synced, all in tx: it plans (see Plan) and
// runs every step that changes something, leaving unchanged tables (and
// their locks) alone. migrate up runs the steps one transaction each
// instead (Apply); this is for callers that want one transaction.
func Install(ctx context.Context, tx pgx.Tx, tables []Table) error {
	steps, err := Plan(ctx, tx, tables)
	if err != nil {
		return err
	}
	for _, s := range steps {
		if s.Action == ActionUnchanged {
			continue
		}
		if err := s.run(ctx, tx); err != nil {
			return fmt.Errorf("error %s %s: %w", s.verb(), s.Spec, err)
		}
	}
	return syncInstalled(ctx, tx, tables)
}

// UninstallAll removes every table's triggers and functions.
func UninstallAll(ctx context.Context, tx pgx.Tx) error {
	old, err := LoadInstalled(ctx, tx)
	if err != nil {
		return err
	}
	for _, o := range old {
		for _, stmt := range UninstallSQL(o.Table) {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("error removing triggers from %s: %w", o.Table, err)
			}
		}
	}
	return nil
}

// LoadInstalled reads the registry; empty when pgredis is not migrated.
func LoadInstalled(ctx context.Context, q Querier) ([]Installed, error) {
	var exists bool
	if err := q.QueryRow(ctx, `SELECT to_regclass('pgredis.tables') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, fmt.Errorf("error reading pgredis.tables: %w", err)
	}
	if !exists {
		return nil, nil
	}
	rows, err := q.Query(ctx, `SELECT spec, key_template, version, render_sql, fetch_sql, coalesce(to_jsonb(t)->>'entry', '') FROM pgredis.tables t ORDER BY schema_name, table_name, 6`)
	if err != nil {
		return nil, fmt.Errorf("error reading pgredis.tables: %w", err)
	}
	defer rows.Close()
	var out []Installed
	for rows.Next() {
		var in Installed
		var specText, key, entry string
		if err := rows.Scan(&specText, &key, &in.Version, &in.RenderSQL, &in.FetchSQL, &entry); err != nil {
			return nil, fmt.Errorf("error reading pgredis.tables: %w", err)
		}
		parsed, err := spec.Parse(specText)
		if err != nil {
			return nil, fmt.Errorf("pgredis.tables holds a spec pgredis cannot parse (%q): %w; run pgredis migrate up", specText, err)
		}
		in.Table = parsed[0]
		in.Entry = entry
		if in.Key, err = spec.ParseTemplate(key); err != nil {
			return nil, fmt.Errorf("pgredis.tables holds a key template pgredis cannot parse (%q): %w; run pgredis migrate up", key, err)
		}
		out = append(out, in)
	}
	return out, rows.Err()
}
