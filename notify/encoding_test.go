package notify_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/pgredis/pgredis/internal/spec"
	"github.com/pgredis/pgredis/internal/testenv"
	"github.com/pgredis/pgredis/notify"
	"github.com/pgredis/pgredis/worker"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const pgredisPrefix = "pgredis:"

// A database whose encoding is not UTF8 is refused with one line naming
// the encoding and the fix, by migrate up's Resolve and by a worker or
// resync starting, before anything is installed or written.
func TestNonUTF8DatabaseRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	t.Parallel()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, testenv.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	// Named like testenv's databases, so a crashed run's is swept too.
	name := fmt.Sprintf("pgredis_test_%d_latin1", os.Getpid())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name+" ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping %s: %v", name, err)
		}
	})
	u, err := url.Parse(testenv.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE kv (id int PRIMARY KEY, v text)`); err != nil {
		t.Fatal(err)
	}
	specs, err := spec.Parse("kv")
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, err error) {
		t.Helper()
		msg := fmt.Sprint(err)
		if err == nil || !strings.Contains(msg, "LATIN1") || !strings.Contains(msg, "ENCODING 'UTF8'") || strings.Contains(msg, "\n") {
			t.Errorf("%s in a LATIN1 database: %v, want one line naming LATIN1 and the fix", what, err)
		}
	}
	_, err = notify.Resolve(ctx, conn, specs, pgredisPrefix)
	check("Resolve", err)

	pgcfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		t.Fatal(err)
	}
	opts, err := redis.ParseURL(testenv.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	cfg := worker.Config{PG: pgcfg, Redis: rdb, Tables: specs, StatePrefix: pgredisPrefix, Logger: slog.New(slog.DiscardHandler)}
	w, err := worker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = w.Start(ctx)
	if err == nil {
		_ = w.Stop(ctx)
	}
	check("worker start", err)
	_, err = worker.Resync(ctx, cfg, nil, false, nil)
	check("resync", err)
	// The real command: one line on stderr, a non-zero exit.
	cmd := exec.Command(testenv.Binary(t, "github.com/pgredis/pgredis/cmd/pgredis"), "migrate", "up")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+u.String(), "PGREDIS_TABLES=kv", "REDIS_URL="+testenv.Redis(t))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err = cmd.Run()
	if err == nil {
		t.Errorf("pgredis migrate up in a LATIN1 database succeeded")
	}
	check("pgredis migrate up", errors.New(strings.TrimSuffix(stderr.String(), "\n")))
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_catalog.pg_namespace WHERE nspname = 'pgredis'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("the pgredis schema exists (%d, %v) after the refusals", n, err)
	}
	if n := rdb.DBSize(ctx).Val(); n != 0 {
		t.Errorf("Redis holds %d keys after the refusals", n)
	}
}
