package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgredis/pgredis/migrations"
	"github.com/pgredis/pgredis/notify"
)

// migrateLock serialises concurrent migrate runs' trigger installs.
const migrateLock = notify.LockKey + 1

func runMigrate(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flags("migrate up|down|version", "migrate up|down|version", stdout)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{"migrate needs one of: up, down, version"}
	}
	e, err := loadEnv()
	if err != nil {
		return err
	}
	switch fs.Arg(0) {
	case "up":
		return migrateUp(ctx, e, stdout)
	case "down":
		return migrateDown(ctx, e, stdout)
	case "version":
		return migrateVersion(ctx, e, stdout)
	default:
		return usageError{fmt.Sprintf("unknown migrate subcommand %q (want up, down or version)", fs.Arg(0))}
	}
}

func migrateUp(ctx context.Context, e *env, stdout io.Writer) error {
	specs, err := e.tables()
	if err != nil {
		return err
	}
	pgcfg, err := e.pgConfig()
	if err != nil {
		return err
	}
	conn, err := connectPG(ctx, pgcfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// Check every table before changing anything.
	if _, err := notify.Resolve(ctx, conn, specs, e.StatePrefix); err != nil {
		return err
	}
	m, err := migrations.Open(ctx, pgcfg)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := m.Up(); err != nil {
		return err
	}
	note, err := notify.EnsureEventTrigger(ctx, conn)
	if err != nil {
		return err
	}
	var tables []notify.Table
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrateLock); err != nil {
			return err
		}
		// Resolve again under the lock: the catalog is what we install against.
		if tables, err = notify.Resolve(ctx, tx, specs, e.StatePrefix); err != nil {
			return err
		}
		return notify.Install(ctx, tx, tables)
	})
	if err != nil {
		return err
	}
	v, _, err := m.Version()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "pgredis schema at version %d\n", v)
	if note != "" {
		fmt.Fprintln(stdout, "note: "+note)
	}
	for _, t := range tables {
		fmt.Fprintf(stdout, "synced: %s key=%s format=%s\n", t.Table, t.Key.String(), t.Format)
	}
	return nil
}

func migrateDown(ctx context.Context, e *env, stdout io.Writer) error {
	pgcfg, err := e.pgConfig()
	if err != nil {
		return err
	}
	conn, err := connectPG(ctx, pgcfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if installed, err := schemaExists(ctx, conn); err != nil || !installed {
		if err == nil {
			fmt.Fprintln(stdout, "pgredis is not installed in this database; nothing to do")
		}
		return err
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrateLock); err != nil {
			return err
		}
		return notify.UninstallAll(ctx, tx)
	})
	if err != nil {
		return err
	}
	m, err := migrations.Open(ctx, pgcfg)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := m.Down(ctx); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "pgredis removed: triggers, functions, schema pgredis and its migrations record")
	return nil
}

func migrateVersion(ctx context.Context, e *env, stdout io.Writer) error {
	pgcfg, err := e.pgConfig()
	if err != nil {
		return err
	}
	conn, err := connectPG(ctx, pgcfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var version int64
	var dirty bool
	err = conn.QueryRow(ctx, `SELECT version, dirty FROM `+migrations.Table+` LIMIT 1`).Scan(&version, &dirty)
	if err != nil {
		if strings.Contains(err.Error(), "does not exist") || err == pgx.ErrNoRows {
			fmt.Fprintln(stdout, "no pgredis migration applied")
			return nil
		}
		return fmt.Errorf("error reading the migrations record: %w", err)
	}
	state := ""
	if dirty {
		state = " (dirty: a migration failed halfway; fix the cause and run pgredis migrate up)"
	}
	fmt.Fprintf(stdout, "version %d%s\n", version, state)
	return nil
}

func schemaExists(ctx context.Context, conn *pgx.Conn) (bool, error) {
	var ok bool
	err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, migrations.Schema).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("error checking for schema %s: %w", migrations.Schema, err)
	}
	return ok, nil
}
