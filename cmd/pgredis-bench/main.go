// Command pgredis-bench measures pgredis against baselines measured in the
// same run (alternating A/B, medians of -runs) and prints one table. It
// works in a scratch database (pgredis_bench_<pid>) and one Redis database
// (-redis, db 14 by default), flushed before and after, and removes both
// whatever happens. See BENCHMARKS.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

type config struct {
	pgURL    string // maintenance database, for CREATE/DROP DATABASE
	redisURL string
	pgredis  string // the pgredis binary
	pgbench  string
	runs     int
	rows     int           // trigger-overhead table
	apply    int           // apply-rate statement
	big      int           // reconcile table
	pgbenchT time.Duration // one pgbench run
	lagT     time.Duration // one lag period
	idleT    time.Duration
	captureT time.Duration // the sustained 32-client run
	only     string        // comma-separated figure groups, empty for all
}

func main() {
	var c config
	smoke := flag.Bool("smoke", false, "tiny sizes, one run: checks the program works, figures mean nothing")
	flag.StringVar(&c.pgURL, "pg", "postgres://root@127.0.0.1:5432/postgres?sslmode=disable", "PostgreSQL URL of a maintenance database")
	flag.StringVar(&c.redisURL, "redis", "redis://127.0.0.1:6379/14", "Redis URL of a database the benchmark may flush")
	flag.StringVar(&c.pgredis, "pgredis", "bin/pgredis", "the pgredis binary")
	flag.StringVar(&c.pgbench, "pgbench", "", "pgbench binary (default: found in PATH or /usr/lib/postgresql/*/bin)")
	flag.IntVar(&c.runs, "runs", 3, "A/B rounds per figure; the table shows medians")
	flag.IntVar(&c.rows, "rows", 100_000, "rows of the trigger-overhead table")
	flag.IntVar(&c.apply, "apply-rows", 200_000, "rows of the apply-rate INSERT ... SELECT")
	flag.IntVar(&c.big, "reconcile-rows", 1_000_000, "rows of the reconcile table")
	flag.DurationVar(&c.pgbenchT, "pgbench-time", 8*time.Second, "length of one pgbench run")
	flag.DurationVar(&c.lagT, "lag-time", 5*time.Second, "length of one lag period")
	flag.DurationVar(&c.idleT, "idle-time", 10*time.Second, "length of the idle period")
	flag.DurationVar(&c.captureT, "capture-time", 5*time.Minute, "length of the sustained 32-client run after which the capture queue's size is printed")
	flag.StringVar(&c.only, "only", "", "run only these groups: trigger,wide,capture,shapes,reconcile,worker (comma-separated)")
	flag.Parse()
	if *smoke {
		c.runs, c.rows, c.apply, c.big = 1, 2000, 2000, 5000
		c.pgbenchT, c.lagT, c.idleT, c.captureT = time.Second, time.Second, time.Second, 2*time.Second
	}
	log.SetFlags(log.Ltime)
	log.SetPrefix("pgredis-bench: ")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c, os.Stdout, *smoke); err != nil {
		stop()
		log.Printf("error: %s", err)
		os.Exit(1)
	}
}

// bench is one run's scratch environment.
type bench struct {
	config
	dbURL  string
	pool   *pgxpool.Pool
	rdb    *redis.Client
	tables string // PGREDIS_TABLES
	res    []result
}

func run(ctx context.Context, c config, out io.Writer, smoke bool) (err error) {
	unlock, err := lockBench()
	if err != nil {
		return err
	}
	defer unlock()
	if c.pgbench == "" {
		if c.pgbench, err = findPgbench(); err != nil {
			return err
		}
	}
	if c.pgredis, err = filepath.Abs(c.pgredis); err != nil {
		return err
	}
	if _, err := os.Stat(c.pgredis); err != nil {
		return fmt.Errorf("pgredis binary: %w (run make build)", err)
	}
	b := &bench{config: c}
	cleanup, err := b.setup(ctx)
	// Cleanup must run even when ctx was cancelled by a signal.
	defer func() {
		if cerr := cleanup(context.WithoutCancel(ctx)); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	if err != nil {
		return err
	}
	groups := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"trigger", b.triggerFigures},
		{"wide", b.wideFigures},
		{"capture", b.captureFigures},
		{"shapes", b.shapeFigures},
		{"reconcile", b.reconcileFigures},
		{"worker", b.workerFigures},
	}
	for _, g := range groups {
		if !b.wants(g.name) {
			continue
		}
		log.Printf("measuring %s figures", g.name)
		if err := g.fn(ctx); err != nil {
			return fmt.Errorf("%s figures: %w", g.name, err)
		}
	}
	b.print(out, smoke)
	return nil
}

// lockBench serialises benchmark runs on this machine: they share a Redis
// database and the CPU.
func lockBench() (func(), error) {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "pgredis-bench.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("error locking %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil
}

func findPgbench() (string, error) {
	cands := []string{"/usr/bin/pgbench"}
	if m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pgbench"); len(m) > 0 {
		cands = append(cands, m...)
	}
	for _, c := range cands {
		if _, err := os.Stat(c); err == nil {
			return c, nil
		}
	}
	return "", fmt.Errorf("pgbench not found; give -pgbench")
}

// setup creates the scratch database and tables, installs pgredis with
// the real binary, and flushes the Redis database. The returned cleanup
// undoes all of it and is always non-nil.
func (b *bench) setup(ctx context.Context) (func(context.Context) error, error) {
	var undo []func(context.Context) error
	cleanup := func(ctx context.Context) error {
		var errs []error
		for i := len(undo) - 1; i >= 0; i-- {
			errs = append(errs, undo[i](ctx))
		}
		return errors.Join(errs...)
	}
	ropts, err := redis.ParseURL(b.redisURL)
	if err != nil {
		return cleanup, fmt.Errorf("bad -redis: %w", err)
	}
	b.rdb = redis.NewClient(ropts)
	undo = append(undo, func(ctx context.Context) error {
		err := b.rdb.FlushDB(ctx).Err()
		b.rdb.Close()
		return err
	})
	if err := b.rdb.FlushDB(ctx).Err(); err != nil {
		return cleanup, fmt.Errorf("error flushing Redis: %w", err)
	}
	admin, err := pgx.Connect(ctx, b.pgURL)
	if err != nil {
		return cleanup, fmt.Errorf("error connecting to PostgreSQL: %w", err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	name := fmt.Sprintf("pgredis_bench_%d", os.Getpid())
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return cleanup, err
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return cleanup, fmt.Errorf("error creating the scratch database: %w", err)
	}
	undo = append(undo, func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, b.pgURL)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		return err
	})
	cfg, err := pgx.ParseConfig(b.pgURL)
	if err != nil {
		return cleanup, err
	}
	cfg.Database = name
	b.dbURL = cfg.ConnString()
	b.dbURL = fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, name)
	if b.pool, err = pgxpool.New(ctx, b.dbURL); err != nil {
		return cleanup, err
	}
	undo = append(undo, func(context.Context) error { b.pool.Close(); return nil })
	log.Printf("scratch database %s, Redis %s", name, b.redisURL)
	if err := b.createTables(ctx); err != nil {
		return cleanup, err
	}
	if out, err := b.pgredisCmd(ctx, "migrate", "up").CombinedOutput(); err != nil {
		return cleanup, fmt.Errorf("pgredis migrate up: %w: %s", err, out)
	}
	return cleanup, nil
}

func (b *bench) createTables(ctx context.Context) error {
	// t: trigger overhead and the lag test's load; t2: apply rate;
	// big: reconcile; probe: lag.
	stmts := []string{
		`CREATE TABLE t (id int PRIMARY KEY, name text NOT NULL, price numeric(12,2) NOT NULL, qty int NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`,
		fmt.Sprintf(`INSERT INTO t SELECT g, 'product ' || g, (g %% 1000) + 0.99, g %% 50, '2024-01-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, %d) g`, b.rows),
		`CREATE TABLE t2 (LIKE t INCLUDING ALL)`,
		`CREATE TABLE big (LIKE t INCLUDING ALL)`,
		fmt.Sprintf(`INSERT INTO big SELECT g, 'product ' || g, (g %% 1000) + 0.99, g %% 50, '2024-01-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, %d) g`, b.big),
		`CREATE TABLE probe (id int PRIMARY KEY, v bigint NOT NULL)`,
		`INSERT INTO probe VALUES (1, 0)`,
		// The reference baselines: a do-nothing row trigger and a
		// straightforward row_to_json + pg_notify one, disabled until used.
		`CREATE FUNCTION bench_noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$`,
		`CREATE FUNCTION bench_json() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
			PERFORM pg_notify('bench', row_to_json(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END)::text);
			RETURN NULL; END $$`,
		`CREATE TRIGGER bench_noop AFTER INSERT OR UPDATE OR DELETE ON t FOR EACH ROW EXECUTE FUNCTION bench_noop()`,
		`CREATE TRIGGER bench_json AFTER INSERT OR UPDATE OR DELETE ON t FOR EACH ROW EXECUTE FUNCTION bench_json()`,
		`ALTER TABLE t DISABLE TRIGGER bench_noop`,
		`ALTER TABLE t DISABLE TRIGGER bench_json`,
		`VACUUM ANALYZE`,
	}
	for _, s := range stmts {
		if _, err := b.pool.Exec(ctx, s); err != nil {
			return fmt.Errorf("error setting up (%.60s...): %w", s, err)
		}
	}
	b.tables = "t; t2; big; probe"
	if err := b.createWide(ctx); err != nil {
		return err
	}
	return b.createShapeTables(ctx)
}

func (b *bench) wants(group string) bool {
	if b.only == "" {
		return true
	}
	for _, g := range splitComma(b.only) {
		if g == group {
			return true
		}
	}
	return false
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}
