package notify_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/spec"
	"github.com/pgredis/pgredis/internal/testenv"
	"github.com/pgredis/pgredis/notify"
	"github.com/pgredis/pgredis/worker"
)

func TestMain(m *testing.M) { testenv.Main(m) }

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
	if err := pgredistest.Migrate(ctx, u.String()); err != nil {
		t.Fatal(err)
	}
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
	_, err = notify.Resolve(ctx, conn, specs, "pgredis:")
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
	cfg := worker.Config{PG: pgcfg, Redis: rdb, Tables: specs, StatePrefix: "pgredis:", Logger: slog.New(slog.DiscardHandler)}
	w, err := worker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = w.Start(ctx)
	if err == nil {
		w.Stop()
	}
	check("worker start", err)
	_, err = worker.Resync(ctx, cfg, nil, false, nil)
	check("resync", err)
	if n := rdb.DBSize(ctx).Val(); n != 0 {
		t.Errorf("Redis holds %d keys after the refusals", n)
	}
}
