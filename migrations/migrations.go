// Package migrations holds pgredis's embedded schema migrations and runs
// them with golang-migrate, keeping its record in pgredis's own schema so
// an application's schema_migrations table is never touched.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"

	"github.com/golang-migrate/migrate/v4"
	pgxmigrate "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

//go:embed *.sql
var files embed.FS

// Schema holds every pgredis object, including the migrations record.
const Schema = "pgredis"

// Table is the migrations record, quoted for golang-migrate.
const Table = `"pgredis"."schema_migrations"`

// Migrator applies and reverts pgredis's migrations on one database.
type Migrator struct {
	db *sql.DB
	m  *migrate.Migrate
}

// Open connects with a dedicated *sql.DB: golang-migrate's advisory lock
// needs a session of its own (no transaction-pooling proxy).
func Open(ctx context.Context, connConfig *pgx.ConnConfig) (*Migrator, error) {
	db := stdlib.OpenDB(*connConfig)
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+Schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("error creating schema %s: %w", Schema, err)
	}
	drv, err := pgxmigrate.WithInstance(db, &pgxmigrate.Config{MigrationsTable: Table, MigrationsTableQuoted: true})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("error preparing migrations: %w", err)
	}
	src, err := iofs.New(files, ".")
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("error reading embedded migrations: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "pgx5", drv)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("error preparing migrations: %w", err)
	}
	return &Migrator{db: db, m: m}, nil
}

// Up applies every migration not yet applied.
func (m *Migrator) Up() error {
	if err := m.m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("error applying migrations: %w", err)
	}
	return nil
}

// Down reverts every migration and drops the pgredis schema with the
// migrations record in it. Callers remove the per-table triggers first.
func (m *Migrator) Down(ctx context.Context) error {
	if err := m.m.Down(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("error reverting migrations: %w", err)
	}
	if _, err := m.db.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+Schema+" CASCADE"); err != nil {
		return fmt.Errorf("error dropping schema %s: %w", Schema, err)
	}
	return nil
}

// Version reports the applied version; 0 when none is.
func (m *Migrator) Version() (version uint, dirty bool, err error) {
	version, dirty, err = m.m.Version()
	if errors.Is(err, migrate.ErrNilVersion) {
		return 0, false, nil
	}
	return version, dirty, err
}

// Close releases the migrator's connections.
func (m *Migrator) Close() error {
	srcErr, dbErr := m.m.Close()
	return errors.Join(srcErr, dbErr, m.db.Close())
}
