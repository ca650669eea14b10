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

// Install makes exactly tables synced: it (re)installs their triggers and
// records them, and removes pgredis triggers from tables no longer listed.
// Run it in one transaction so a failure leaves the old install intact.
func Install(ctx context.Context, tx pgx.Tx, tables []Table) error {
	old, err := LoadInstalled(ctx, tx)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, t := range tables {
		keep[t.Table.String()] = true
	}
	for _, o := range old {
		if keep[o.Table.String()] {
			continue
		}
		for _, stmt := range UninstallSQL(o.Table) {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("error removing triggers from %s: %w", o.Table, err)
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM pgredis.tables WHERE schema_name = $1 AND table_name = $2`, o.Schema, o.Name); err != nil {
			return fmt.Errorf("error unregistering %s: %w", o.Table, err)
		}
	}
	for _, t := range tables {
		for _, stmt := range t.InstallSQL() {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("error installing trigger on %s: %w", t.Table, err)
			}
		}
		_, err := tx.Exec(ctx, `
INSERT INTO pgredis.tables (schema_name, table_name, spec, key_template, version, render_sql, fetch_sql)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (schema_name, table_name) DO UPDATE SET spec = EXCLUDED.spec, key_template = EXCLUDED.key_template,
	version = EXCLUDED.version, render_sql = EXCLUDED.render_sql, fetch_sql = EXCLUDED.fetch_sql, installed_at = now()`,
			t.Schema, t.Name, t.Canonical(), t.Key.String(), t.Version(), t.RenderSQL(), t.FetchSQL())
		if err != nil {
			return fmt.Errorf("error registering %s: %w", t.Table, err)
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
	rows, err := q.Query(ctx, `SELECT spec, key_template, version, render_sql, fetch_sql FROM pgredis.tables ORDER BY schema_name, table_name`)
	if err != nil {
		return nil, fmt.Errorf("error reading pgredis.tables: %w", err)
	}
	defer rows.Close()
	var out []Installed
	for rows.Next() {
		var in Installed
		var specText, key string
		if err := rows.Scan(&specText, &key, &in.Version, &in.RenderSQL, &in.FetchSQL); err != nil {
			return nil, fmt.Errorf("error reading pgredis.tables: %w", err)
		}
		parsed, err := spec.Parse(specText)
		if err != nil {
			return nil, fmt.Errorf("pgredis.tables holds a spec pgredis cannot parse (%q): %w; run pgredis migrate up", specText, err)
		}
		in.Table = parsed[0]
		if in.Key, err = spec.ParseTemplate(key); err != nil {
			return nil, fmt.Errorf("pgredis.tables holds a key template pgredis cannot parse (%q): %w; run pgredis migrate up", key, err)
		}
		out = append(out, in)
	}
	return out, rows.Err()
}
