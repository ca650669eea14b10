package testenv

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresURL is the admin connection that Database creates databases
// through; the environment variable points the tests at another server.
func PostgresURL() string {
	if u := os.Getenv("PGREDIS_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://root@127.0.0.1:5432/test?sslmode=disable"
}

// template is built once per process and name; mu serialises the clones
// because CREATE DATABASE ... TEMPLATE needs the template to itself.
type template struct {
	once sync.Once
	mu   sync.Mutex
	name string
	err  error
}

var (
	templates    sync.Map // template name -> *template
	dbSeq        atomic.Int64
	usedPostgres atomic.Bool
	sweepDBsOnce sync.Once
)

// Database gives each test its own database, so tests can run in parallel
// and leave nothing behind, while setup (e.g. migrations) runs only once per
// process and template name: cloning a template is far cheaper than
// migrating. Names carry the pid so crashed runs can be cleaned up later.
func Database(t testing.TB, templateName string, setup func(ctx context.Context, url string) error) string {
	needServers(t)
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	v, _ := templates.LoadOrStore(templateName, &template{name: templateDBName(templateName)})
	tpl := v.(*template)
	tpl.once.Do(func() {
		usedPostgres.Store(true)
		sweepDBsOnce.Do(func() {
			// Our own pid too: an earlier process with the same pid crashed.
			dropDatabases(ctx, func(pid int) bool { return pid == os.Getpid() || !pidAlive(pid) })
		})
		tpl.err = buildTemplate(ctx, tpl.name, setup)
	})
	if tpl.err != nil {
		t.Fatalf("testenv: template database %q: %v", templateName, tpl.err)
	}
	name := fmt.Sprintf("pgredis_test_%d_%d", os.Getpid(), dbSeq.Add(1))
	tpl.mu.Lock()
	err := adminExec(ctx, "CREATE DATABASE "+ident(name)+" TEMPLATE "+ident(tpl.name))
	tpl.mu.Unlock()
	if err != nil {
		t.Fatalf("testenv: creating database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := adminExec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
			t.Errorf("testenv: dropping database %s: %v", name, err)
		}
	})
	return withDB(PostgresURL(), name)
}

var nonIdent = regexp.MustCompile(`[^a-z0-9]+`)

func templateDBName(name string) string {
	clean := nonIdent.ReplaceAllString(strings.ToLower(name), "_")
	// The checksum keeps names apart that cleaning or truncation merged.
	return fmt.Sprintf("pgredis_test_%d_tpl_%.24s_%08x", os.Getpid(), clean, crc32.ChecksumIEEE([]byte(name)))
}

func buildTemplate(ctx context.Context, name string, setup func(context.Context, string) error) error {
	if err := adminExec(ctx, "CREATE DATABASE "+ident(name)+" TEMPLATE template0"); err != nil {
		return err
	}
	if setup != nil {
		if err := setup(ctx, withDB(PostgresURL(), name)); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
	}
	// Setup may leave connections, or pools that reconnect, behind: lock them
	// out for good, then evict them (waiting up to 5s for each to go).
	return adminExec(ctx, "ALTER DATABASE "+ident(name)+" ALLOW_CONNECTIONS false; "+
		"SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = '"+name+"'")
}

// dropOwnDatabases removes this process's templates, plus any clone whose
// test cleanup did not run.
func dropOwnDatabases() error {
	if !usedPostgres.Load() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return dropDatabases(ctx, func(pid int) bool { return pid == os.Getpid() })
}

func dropDatabases(ctx context.Context, match func(pid int) bool) error {
	conn, err := pgx.Connect(ctx, PostgresURL())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	rows, _ := conn.Query(ctx, `SELECT datname FROM pg_database WHERE datname LIKE 'pgredis\_test\_%'`)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		if pid, err := strconv.Atoi(strings.Split(name, "_")[2]); err == nil && match(pid) {
			_, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)")
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func adminExec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, PostgresURL())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

func withDB(base, dbname string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	u.Path = "/" + dbname
	return u.String()
}
