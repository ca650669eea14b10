package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/pgredis/pgredis/internal/testenv"
)

// binary is the pgredis executable the tests run, built once by TestMain.
var binary string

type buildOnce struct {
	m   *testing.M
	dir string
}

// Run builds the binary, runs the tests, and removes the build directory
// (testenv.Main exits the process, so this is the last chance).
func (b buildOnce) Run() int {
	defer os.RemoveAll(b.dir)
	binary = filepath.Join(b.dir, "pgredis")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building pgredis: %v\n%s", err, out)
		return 1
	}
	return b.m.Run()
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pgredis-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testenv.Main(buildOnce{m: m, dir: dir})
}

// envFor is a clean environment: the test's variables only, so a
// developer's own DATABASE_URL or PGREDIS_* never leaks into a test.
func envFor(vars map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == "DATABASE_URL" || name == "REDIS_URL" || strings.HasPrefix(name, "PGREDIS_") {
			continue
		}
		env = append(env, kv)
	}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// pgredis runs the binary to completion.
func pgredis(t *testing.T, vars map[string]string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = envFor(vars)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	default:
		t.Fatalf("running pgredis %v: %v", args, err)
	}
	return r
}

// mustRun runs the binary and fails the test unless it exits 0.
func mustRun(t *testing.T, vars map[string]string, args ...string) result {
	t.Helper()
	r := pgredis(t, vars, args...)
	if r.code != 0 {
		t.Fatalf("pgredis %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// proc is a pgredis process running in the background (a worker).
type proc struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan error
}

func startPgredis(t *testing.T, vars map[string]string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary, args...), stderr: &lockedBuffer{}, done: make(chan error, 1)}
	p.cmd.Env = envFor(vars)
	p.cmd.Stderr = p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pgredis %s stderr:\n%s", strings.Join(args, " "), p.stderr)
		}
		p.cmd.Process.Kill()
		<-p.done
		p.done <- nil
	})
	return p
}

// stop sends SIGTERM and returns the exit error once the process ended.
func (p *proc) stop(t *testing.T) error {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("pgredis did not stop within 20s of SIGTERM; stderr:\n%s", p.stderr)
		return nil
	}
}

// lockedBuffer lets the test read a process's output while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// requireOneLineError checks guarantee 8's shape of a failure: non-zero
// exit, one line on stderr containing want, no panic or stack trace.
func requireOneLineError(t *testing.T, r result, want string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if r.code == 0 || len(lines) != 1 || !strings.Contains(r.stderr, want) {
		t.Fatalf("want a non-zero exit and one stderr line containing %q; got %s", want, r)
	}
	for _, bad := range []string{"panic", "goroutine "} {
		if strings.Contains(r.stdout+r.stderr, bad) {
			t.Fatalf("output mentions %q: %s", bad, r)
		}
	}
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func exec1(t *testing.T, conn *pgx.Conn, sql string) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// catalog lists every schema, relation, function and trigger outside the
// system schemas, plus the content (with row versions) of every user
// table: two equal snapshots mean nothing was created, dropped or written.
func catalog(t *testing.T, conn *pgx.Conn) string {
	t.Helper()
	ctx := context.Background()
	var parts []string
	for _, q := range []string{
		`SELECT 'schema ' || nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema'`,
		`SELECT 'rel ' || n.nspname || '.' || c.relname || ' ' || c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'`,
		`SELECT 'func ' || n.nspname || '.' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'`,
		`SELECT 'trigger ' || tgrelid::regclass::text || ' ' || tgname FROM pg_trigger WHERE NOT tgisinternal`,
		`SELECT 'column ' || attrelid::regclass::text || '.' || attname || ' ' || format_type(atttypid, atttypmod) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND a.attnum > 0 AND NOT a.attisdropped`,
	} {
		rows, _ := conn.Query(ctx, q)
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		parts = append(parts, got...)
	}
	rows, _ := conn.Query(ctx, `SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'`)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, tbl := range tables {
		rows, _ := conn.Query(ctx, fmt.Sprintf(`SELECT 'row %s ' || ctid::text || ' ' || xmin::text || ' ' || to_jsonb(r)::text FROM %s r`, tbl, tbl))
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, got...)
	}
	sort.Strings(parts)
	return strings.Join(parts, "\n")
}

func redisClient(t *testing.T, url string) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

// snapshot is every key of the Redis database with its serialized value
// and expiry; equal snapshots mean nothing was written.
func snapshot(t *testing.T, rdb *redis.Client, match func(string) bool) map[string]string {
	t.Helper()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		if match != nil && !match(k) {
			continue
		}
		dump, err := rdb.Dump(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		ttl := rdb.PTTL(ctx, k).Val()
		out[k] = fmt.Sprintf("%q ttl=%v", dump, ttl > 0)
	}
	return out
}

func sameSnapshot(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s: key %q changed: %s -> %s", what, k, v, after[k])
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("%s: key %q appeared", what, k)
		}
	}
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
