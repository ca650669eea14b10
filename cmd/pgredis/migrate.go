package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgredis/pgredis/migrations"
	"github.com/pgredis/pgredis/notify"
	"github.com/pgredis/pgredis/worker"
)

// migrateLock serialises concurrent migrate runs' trigger installs.
const migrateLock = notify.LockKey + 1

func runMigrate(ctx context.Context, args []string, stdout io.Writer) error {
	// migrate up has flags of its own: they are not migrate's.
	if len(args) > 0 && args[0] == "up" {
		return runMigrateUp(ctx, args[1:], stdout)
	}
	fs := flags("migrate up|down|version", "migrate up|down|version", stdout)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() < 1 {
		return usageError{"migrate needs one of: up, down, version"}
	}
	if fs.Arg(0) == "up" {
		return runMigrateUp(ctx, fs.Args()[1:], stdout)
	}
	if fs.NArg() != 1 {
		return usageError{fmt.Sprintf("migrate %s takes no arguments", fs.Arg(0))}
	}
	e, err := loadEnv()
	if err != nil {
		return err
	}
	switch fs.Arg(0) {
	case "down":
		return migrateDown(ctx, e, stdout)
	case "version":
		return migrateVersion(ctx, e, stdout)
	default:
		return usageError{fmt.Sprintf("unknown migrate subcommand %q (want up, down or version)", fs.Arg(0))}
	}
}

// upOptions are migrate up's flags.
type upOptions struct {
	dryRun bool
	lock   notify.LockPolicy
}

func runMigrateUp(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flags("migrate up", "migrate up [--dry-run] [--lock-timeout D] [--lock-retries N]", stdout)
	var o upOptions
	fs.BoolVar(&o.dryRun, "dry-run", false, "print what would change, with its SQL, and change nothing")
	fs.DurationVar(&o.lock.Timeout, "lock-timeout", time.Second, "longest one attempt waits for a table's lock (the application's writes to that table queue behind the wait)")
	fs.IntVar(&o.lock.Retries, "lock-retries", 10, "attempts after one that timed out, with a growing pause between them, before giving up")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("migrate up takes no arguments, got %q", fs.Arg(0))}
	}
	if o.lock.Timeout < time.Millisecond {
		return usageError{fmt.Sprintf("--lock-timeout=%v: want at least 1ms", o.lock.Timeout)}
	}
	if o.lock.Retries < 0 {
		return usageError{fmt.Sprintf("--lock-retries=%d: want 0 or more", o.lock.Retries)}
	}
	e, err := loadEnv()
	if err != nil {
		return err
	}
	return migrateUp(ctx, e, o, stdout)
}

func migrateUp(ctx context.Context, e *env, o upOptions, stdout io.Writer) error {
	specs, err := e.tables()
	if err != nil {
		return err
	}
	pgcfg, err := e.pgConfig()
	if err != nil {
		return err
	}
	// Named, so a DBA looking at pg_stat_activity sees who waits.
	if _, ok := pgcfg.RuntimeParams["application_name"]; !ok {
		pgcfg.RuntimeParams["application_name"] = "pgredis migrate up"
	}
	conn, err := connectPG(ctx, pgcfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// Check every table before changing anything.
	checked, err := notify.Resolve(ctx, conn, specs, e.StatePrefix)
	if err != nil {
		return err
	}
	if o.dryRun {
		return migrateUpDryRun(ctx, conn, checked, o, stdout)
	}
	m, err := openMigrator(ctx, pgcfg)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := m.Up(); err != nil {
		return err
	}
	if err := worker.RecordStatePrefix(ctx, conn, e.StatePrefix); err != nil {
		return err
	}
	note, err := notify.EnsureEventTrigger(ctx, conn)
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
	// A session lock, not a transaction's: each table gets a transaction
	// of its own, and concurrent runs must still take turns.
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", migrateLock).Scan(&got); err != nil {
		return fmt.Errorf("error taking the migrate lock: %w", err)
	}
	if !got {
		fmt.Fprintln(stdout, "waiting for another pgredis migrate up on this database to finish")
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrateLock); err != nil {
			return fmt.Errorf("error taking the migrate lock: %w", err)
		}
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrateLock)
	// Resolve again under the lock: the catalog is what we install against.
	tables, err := notify.Resolve(ctx, conn, specs, e.StatePrefix)
	if err != nil {
		return err
	}
	steps, err := notify.Plan(ctx, conn, tables)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(steps, func(s notify.Step) bool { return s.Action != notify.ActionUnchanged }) {
		// A pool of one: it replaces a connection that broke, so the
		// reports of who blocks the run keep coming.
		pc, err := pgxpool.ParseConfig("")
		if err != nil {
			return err
		}
		pc.ConnConfig = pgcfg.Copy()
		pc.ConnConfig.RuntimeParams["application_name"] = "pgredis migrate up (lock monitor)"
		notify.DeferParams(pc.ConnConfig)
		pc.MaxConns = 1
		mon, err := pgxpool.NewWithConfig(ctx, pc)
		if err != nil {
			return fmt.Errorf("error configuring PostgreSQL pool: %w", err)
		}
		defer mon.Close()
		o.lock.Monitor = mon
	}
	var mu sync.Mutex
	o.lock.Waiting = func(w notify.Wait) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintln(stdout, w)
	}
	counts := map[notify.Action]int{}
	for i, s := range steps {
		if err := notify.Apply(ctx, conn, s, o.lock); err != nil {
			var le *notify.LockError
			if errors.As(err, &le) {
				return fmt.Errorf("%s; end that transaction, or rerun pgredis migrate up later or with a longer --lock-timeout or more --lock-retries (%s)", le, progressNote(steps[:i]))
			}
			return fmt.Errorf("%w (%s)", err, progressNote(steps[:i]))
		}
		counts[s.Action]++
		mu.Lock()
		fmt.Fprintln(stdout, stepLine(s, false))
		mu.Unlock()
	}
	fmt.Fprintf(stdout, "%d installed, %d updated, %d unchanged, %d removed\n",
		counts[notify.ActionInstall], counts[notify.ActionUpdate], counts[notify.ActionUnchanged], counts[notify.ActionRemove])
	// Partitions and inheritance children carry the table's triggers too;
	// SyncInstalled locks a table only when it changes something there.
	changed, err := notify.SyncInstalled(ctx, conn, tables)
	for _, c := range changed {
		fmt.Fprintln(stdout, "partitions: "+c)
	}
	return err
}

// progressNote says what a failed run leaves: the steps before the failed
// one are committed, each table consistent with its registry row.
func progressNote(done []notify.Step) string {
	n := 0
	for _, s := range done {
		if s.Action != notify.ActionUnchanged {
			n++
		}
	}
	if n == 0 {
		return "nothing was changed"
	}
	return fmt.Sprintf("%d table(s) before it are done; a rerun does the rest", n)
}

// stepLine is a step's one-line report: the action, the table's
// canonical spec, and why (an update) or what it means (a removal).
func stepLine(s notify.Step, dry bool) string {
	verb := map[notify.Action]string{
		notify.ActionInstall: "installed", notify.ActionUpdate: "updated",
		notify.ActionUnchanged: "unchanged", notify.ActionRemove: "removed",
	}[s.Action]
	if dry && s.Action != notify.ActionUnchanged {
		verb = "would " + map[notify.Action]string{
			notify.ActionInstall: "install", notify.ActionUpdate: "update", notify.ActionRemove: "remove",
		}[s.Action]
	}
	line := fmt.Sprintf("%s: %s %s", verb, s.Spec, s.Spec.Options())
	switch s.Action {
	case notify.ActionUpdate:
		line += " (" + strings.Join(s.Why, "; ") + ")"
	case notify.ActionRemove:
		what := "its triggers and functions are dropped"
		if s.Gone {
			what = "the table no longer exists; its functions are dropped"
		}
		line += " (not in PGREDIS_TABLES: " + what + "; its keys in Redis are left as they are)"
	}
	return line
}

// migrateUpDryRun prints the plan and the SQL each step would run, and
// changes nothing: no migration, no schema, no lock held past a read.
func migrateUpDryRun(ctx context.Context, conn *pgx.Conn, tables []notify.Table, o upOptions, stdout io.Writer) error {
	fmt.Fprintln(stdout, "dry run: nothing is changed")
	latest, err := migrations.Latest()
	if err != nil {
		return err
	}
	applied, dirty, err := appliedVersion(ctx, conn)
	if err != nil {
		return err
	}
	switch {
	case applied < 0:
		fmt.Fprintf(stdout, "would create schema pgredis and apply its migrations up to version %d\n", latest)
	case dirty:
		fmt.Fprintf(stdout, "pgredis schema at version %d, dirty: migrate up would fail until that is fixed\n", applied)
	case applied < int64(latest):
		fmt.Fprintf(stdout, "would apply pgredis's migrations from version %d to %d\n", applied, latest)
	default:
		fmt.Fprintf(stdout, "pgredis schema at version %d\n", applied)
	}
	steps, err := notify.Plan(ctx, conn, tables)
	if err != nil {
		return err
	}
	counts := map[notify.Action]int{}
	for _, s := range steps {
		counts[s.Action]++
		fmt.Fprintln(stdout, stepLine(s, true))
		if s.Action == notify.ActionUnchanged {
			continue
		}
		fmt.Fprintln(stdout, "BEGIN;")
		fmt.Fprintln(stdout, notify.LockTimeoutSQL(o.lock.Timeout)+";")
		if lock := s.LockSQL(); lock != "" {
			fmt.Fprintln(stdout, lock+";")
		}
		for _, stmt := range s.SQL {
			fmt.Fprintln(stdout, stmt+";")
		}
		if s.Action == notify.ActionRemove {
			fmt.Fprintln(stdout, "-- and deletes its row from pgredis.tables")
		} else {
			fmt.Fprintln(stdout, "-- and records the spec, its rendering SQL and what was installed in pgredis.tables")
		}
		fmt.Fprintln(stdout, "COMMIT;")
	}
	fmt.Fprintf(stdout, "would install %d, update %d, remove %d; %d unchanged\n",
		counts[notify.ActionInstall], counts[notify.ActionUpdate], counts[notify.ActionRemove], counts[notify.ActionUnchanged])
	return nil
}

// appliedVersion reads the migrations record without creating anything;
// -1 when there is none.
func appliedVersion(ctx context.Context, conn *pgx.Conn) (int64, bool, error) {
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, migrations.Table).Scan(&exists); err != nil {
		return 0, false, fmt.Errorf("error reading the migrations record: %w", err)
	}
	if !exists {
		return -1, false, nil
	}
	var version int64
	var dirty bool
	err := conn.QueryRow(ctx, `SELECT version, dirty FROM `+migrations.Table+` LIMIT 1`).Scan(&version, &dirty)
	if errors.Is(err, pgx.ErrNoRows) {
		return -1, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("error reading the migrations record: %w", err)
	}
	return version, dirty, nil
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
	m, err := openMigrator(ctx, pgcfg)
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
	conn, err := e.connectPG(ctx)
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

// openMigrator opens golang-migrate's connection with the settings a
// pooler refuses at startup deferred, as every pgredis connection has.
func openMigrator(ctx context.Context, cfg *pgx.ConnConfig) (*migrations.Migrator, error) {
	cfg = cfg.Copy()
	notify.DeferParams(cfg)
	return migrations.Open(ctx, cfg)
}
