package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
)

// Every command's --help prints its usage once, its flags and the
// variables it reads, and exits 0; version --help is help, not the
// version.
func TestCommandHelp(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		// want are in the help; the first is the usage line.
		want []string
	}{
		{[]string{"worker", "--help"}, []string{"Usage: pgredis worker\n", "-h, --help", "DATABASE_URL", "PGREDIS_BATCH_SIZE", "PGREDIS_HTTP_ADDR", "PGREDIS_REDIS_CA_CERT"}},
		{[]string{"resync", "--help"}, []string{"Usage: pgredis resync ", "--dry-run", "--exit-code", "DATABASE_URL", "REDIS_URL", "PGREDIS_TABLES"}},
		{[]string{"status", "--help"}, []string{"Usage: pgredis status ", "--json", "--exit-code", "REDIS_URL", "PGREDIS_HEARTBEAT_TIMEOUT"}},
		{[]string{"version", "--help"}, []string{"Usage: pgredis version\n", "-h, --help"}},
		{[]string{"migrate", "--help"}, []string{"Usage: pgredis migrate up|down|version\n", "DATABASE_URL"}},
		{[]string{"migrate", "up", "--help"}, []string{"Usage: pgredis migrate up [--dry-run] [--lock-timeout D] [--lock-retries N]\n", "DATABASE_URL", "PGREDIS_TABLES", "--lock-timeout"}},
		{[]string{"migrate", "down", "--help"}, []string{"Usage: pgredis migrate down\n", "DATABASE_URL"}},
		{[]string{"migrate", "version", "--help"}, []string{"Usage: pgredis migrate version\n", "DATABASE_URL"}},
		{[]string{"help", "worker"}, []string{"Usage: pgredis worker\n"}},
		{[]string{"resync", "-h"}, []string{"Usage: pgredis resync "}},
	} {
		r := pgredis(t, nil, c.args...)
		name := strings.Join(c.args, " ")
		if r.code != 0 || r.stderr != "" {
			t.Errorf("pgredis %s: want exit 0 and nothing on stderr: %s", name, r)
			continue
		}
		if n := strings.Count(r.stdout, "Usage: "); n != 1 {
			t.Errorf("pgredis %s prints the usage %d times:\n%s", name, n, r.stdout)
		}
		if !strings.HasPrefix(r.stdout, c.want[0]) {
			t.Errorf("pgredis %s does not start with %q:\n%s", name, c.want[0], r.stdout)
		}
		for _, w := range c.want[1:] {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("pgredis %s lacks %q:\n%s", name, w, r.stdout)
			}
		}
		if strings.Contains(r.stdout, "(commit ") {
			t.Errorf("pgredis %s printed the version:\n%s", name, r.stdout)
		}
	}
}

// A command-line mistake exits 2 with one line naming it and the help to
// read; no command connects anywhere first.
func TestCommandLineMistakes(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"worker", "extra"}, `pgredis worker: takes no arguments, got "extra"; run 'pgredis worker --help'`},
		{[]string{"status", "extra"}, `pgredis status: takes no arguments, got "extra"; run 'pgredis status --help'`},
		{[]string{"version", "extra"}, `pgredis version: takes no arguments, got "extra"`},
		{[]string{"status", "--bogus"}, "pgredis status: -bogus is not a flag of this command"},
		{[]string{"resync", "users", "--bogus"}, "pgredis resync: -bogus is not a flag of this command"},
		{[]string{"resync", `"Users`}, `pgredis resync: TABLE "Users: unterminated quoted identifier`},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
	} {
		r := pgredis(t, map[string]string{"DATABASE_URL": "postgres://nowhere.invalid/db"}, c.args...)
		lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
		if r.code != 2 || len(lines) != 1 || !strings.Contains(r.stderr, c.want) || r.stdout != "" {
			t.Errorf("pgredis %s: want exit 2 and one stderr line containing %q; got %s", strings.Join(c.args, " "), c.want, r)
		}
	}
}

// Every variable is checked, with a plain line naming it; an unknown
// PGREDIS_* variable gets a warning with the closest known name.
func TestConfigValidation(t *testing.T) {
	t.Parallel()
	// A database nobody can reach: the variables must fail first.
	base := map[string]string{"DATABASE_URL": "postgres://root@127.0.0.1:1/db?connect_timeout=1", "PGREDIS_TABLES": "users"}
	for _, c := range []struct{ kv, want string }{
		{"PGREDIS_BATCH_SIZE=0", "PGREDIS_BATCH_SIZE=0: want at least 1"},
		{"PGREDIS_BATCH_SIZE=-5", "PGREDIS_BATCH_SIZE=-5: want at least 1"},
		{"PGREDIS_BATCH_SIZE=abc", "PGREDIS_BATCH_SIZE=abc is not a whole number"},
		{"PGREDIS_STOP_TIMEOUT=-1s", "PGREDIS_STOP_TIMEOUT=-1s: want a positive duration"},
		{"PGREDIS_STANDBY_POLL=0", "PGREDIS_STANDBY_POLL=0s: want a positive duration"},
		{"PGREDIS_CHECK_INTERVAL=5", "PGREDIS_CHECK_INTERVAL=5 is not a Go duration"},
		{"PGREDIS_HEARTBEAT_TIMEOUT=500ms", "PGREDIS_HEARTBEAT_TIMEOUT=500ms must be longer than PGREDIS_HEARTBEAT_INTERVAL=1s"},
		{"PGREDIS_REDIS_CLUSTER=yes", "PGREDIS_REDIS_CLUSTER=yes is not true or false"},
		{"PGREDIS_HTTP_ADDR=9187", "PGREDIS_HTTP_ADDR=9187: want host:port"},
		{"PGREDIS_LOG_FORMAT=xml", "PGREDIS_LOG_FORMAT=xml: want text or json"},
		{"PGREDIS_STATE_PREFIX=", "PGREDIS_STATE_PREFIX must not be empty"},
	} {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		k, v, _ := strings.Cut(c.kv, "=")
		env[k] = v
		for _, args := range [][]string{{"worker"}, {"resync"}, {"status"}, {"migrate", "up"}} {
			r := pgredis(t, env, args...)
			requireOneLineError(t, r, c.want)
			if strings.Contains(r.stderr, "envconfig") || strings.Contains(r.stderr, "PostgreSQL") {
				t.Errorf("%s, pgredis %s: %s", c.kv, strings.Join(args, " "), r)
			}
		}
	}

	for _, format := range []string{"text", "json"} {
		env := map[string]string{"PGREDIS_HTTP_ADDRESS": ":9187", "PGREDIS_COLOUR": "red", "PGREDIS_LOG_FORMAT": format}
		r := pgredis(t, env, "status")
		lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
		if r.code != 1 || len(lines) != 3 {
			t.Fatalf("want two warnings and the error: %s", r)
		}
		if !strings.Contains(lines[0]+lines[1], "PGREDIS_HTTP_ADDRESS is not a pgredis variable and is ignored; did you mean PGREDIS_HTTP_ADDR?") ||
			!strings.Contains(lines[0]+lines[1], "PGREDIS_COLOUR is not a pgredis variable and is ignored") {
			t.Errorf("warnings: %s", r)
		}
		if format == "json" {
			for _, l := range lines[:2] {
				var rec map[string]any
				if err := json.Unmarshal([]byte(l), &rec); err != nil || rec["level"] != "WARN" {
					t.Errorf("warning is not a JSON log record: %q", l)
				}
			}
		}
		if !strings.Contains(lines[2], "DATABASE_URL is not set") {
			t.Errorf("error: %s", r)
		}
	}
}

func TestVersionFromBuildInfo(t *testing.T) {
	t.Parallel()
	bi := &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"}, {Key: "vcs.modified", Value: "true"}}}
	if v, c := fromBuildInfo(bi, "dev", "unknown"); v != "v1.4.0" || c != "0123456789ab, modified" {
		t.Errorf("go install'ed build: %s (commit %s)", v, c)
	}
	bi.Main.Version = "(devel)"
	if v, c := fromBuildInfo(bi, "dev", "unknown"); v != "dev" || c != "0123456789ab, modified" {
		t.Errorf("go build in a checkout: %s (commit %s)", v, c)
	}
	// What make build stamps wins.
	if v, c := fromBuildInfo(bi, "v2.0.0", "abc1234"); v != "v2.0.0" || c != "abc1234" {
		t.Errorf("stamped build: %s (commit %s)", v, c)
	}
}

// A plain go build in the repository says which commit it is.
func TestVersionPlainBuild(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "pgredis")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".")
	build.Env = append(os.Environ(), "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Skipf("no VCS information to build with: %v\n%s", err, out)
	}
	info, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	var rev string
	for _, l := range strings.Split(string(info), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "build" && strings.HasPrefix(f[1], "vcs.revision=") {
			rev = strings.TrimPrefix(f[1], "vcs.revision=")
		}
	}
	if rev == "" {
		t.Skip("go build stamped no VCS revision here (not a plain git checkout)")
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "(commit "+rev[:12]) || strings.Contains(string(out), "unknown") {
		t.Fatalf("pgredis version of a plain go build printed %q, want commit %s", out, rev[:12])
	}
}

// resync TABLE reads names as PGREDIS_TABLES does, with flags before or
// after them; --dry-run --exit-code exits 3 on drift, 0 without.
func TestResyncTableNames(t *testing.T) {
	t.Parallel()
	skipShort(t)
	ctx := context.Background()
	url := testenv.Database(t, "empty", nil)
	exec1(t, connect(t, url), `
CREATE TABLE products (id int PRIMARY KEY, name text);
CREATE TABLE "Settings" (id int PRIMARY KEY, v text);
INSERT INTO products VALUES (1, 'tea'), (2, 'mug');
INSERT INTO "Settings" VALUES (1, 'on');`)
	env := map[string]string{"DATABASE_URL": url, "REDIS_URL": testenv.Redis(t), "PGREDIS_TABLES": `products; "Settings"`}
	mustRun(t, env, "migrate", "up")
	b := pgredistest.Open(t, url, env["REDIS_URL"], env["PGREDIS_TABLES"])
	mustRun(t, env, "resync")
	b.RequireMirror(t)

	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{`"Settings"`}, []string{"public.Settings"}},
		{[]string{"PRODUCTS"}, []string{"public.products"}},
		{[]string{"public.products", `public."Settings"`}, []string{"public.products", "public.Settings"}},
		{[]string{"products", "--dry-run"}, []string{"public.products"}},
		{[]string{"--dry-run", "--", "products"}, []string{"public.products"}},
	} {
		r := mustRun(t, env, append([]string{"resync"}, c.args...)...)
		for _, tbl := range []string{"public.products", "public.Settings"} {
			got := strings.Contains(r.stdout, tbl+": rows scanned")
			want := strings.Contains(strings.Join(c.want, " "), tbl)
			if got != want {
				t.Errorf("resync %s: reported %s %v, want %v:\n%s", strings.Join(c.args, " "), tbl, got, want, r.stdout)
			}
		}
	}
	r := pgredis(t, env, "resync", "settings")
	requireOneLineError(t, r, "table settings is not in PGREDIS_TABLES (it lists public.products, public.Settings)")

	// --exit-code: 0 without drift, 3 with, and a dry run changes nothing.
	mustRun(t, env, "resync", "--dry-run", "--exit-code")
	b.Redis.Del(ctx, "products:2")
	r = pgredis(t, env, "resync", "products", "--dry-run", "--exit-code")
	if r.code != 3 || !strings.Contains(r.stderr, "drift found in 1 table(s)") || resyncCounts(t, r.stdout, "public.products")[1] != 1 {
		t.Fatalf("dry run with drift: %s", r)
	}
	r = pgredis(t, env, "resync", `"Settings"`, "--dry-run", "--exit-code")
	if r.code != 0 {
		t.Fatalf("dry run of a table without drift: %s", r)
	}
	if err := b.Diff(ctx); err == nil {
		t.Fatal("resync --dry-run repaired the drift")
	}
	mustRun(t, env, "resync", "products")
	b.RequireMirror(t)

	// The same names reach an active worker, which does the resync (once
	// its first reconcile is done: a heartbeat went through).
	w := startPgredis(t, env, "worker")
	testenv.Eventually(t, 30*time.Second, func() error {
		if r := pgredis(t, env, "status", "--exit-code"); r.code != 0 {
			return fmt.Errorf("worker not ready: %s\n%s", r, w.stderr)
		}
		return nil
	})
	b.Redis.Del(ctx, "Settings:1")
	r = mustRun(t, env, "resync", `"Settings"`, "PRODUCTS")
	if got := resyncCounts(t, r.stdout, "public.Settings"); got[1] != 1 {
		t.Errorf("resync via the worker: %v\n%s", got, r.stdout)
	}
	resyncCounts(t, r.stdout, "public.products")
	b.RequireMirror(t)
}

// A resync of a table that no longer fits its spec says so once, in the
// table's own words, not with the SQL of the query that failed.
func TestResyncUnfitTable(t *testing.T) {
	t.Parallel()
	skipShort(t)
	url := testenv.Database(t, "empty", nil)
	conn := connect(t, url)
	exec1(t, conn, `CREATE TABLE products (id int PRIMARY KEY, name text, total numeric); CREATE TABLE other (id int PRIMARY KEY)`)
	env := map[string]string{"DATABASE_URL": url, "REDIS_URL": testenv.Redis(t), "PGREDIS_TABLES": "products columns=id,total; other"}
	mustRun(t, env, "migrate", "up")
	exec1(t, conn, `ALTER TABLE products DROP COLUMN total`)
	r := pgredis(t, env, "resync")
	want := `public.products: error: no longer fits its spec: table public.products has no column "total" named in columns=`
	if r.code != 1 || !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, "public.other: rows scanned 0") {
		t.Fatalf("want %q and other reconciled: %s", want, r)
	}
	if strings.Count(r.stdout+r.stderr, `no column "total"`) != 1 || strings.Contains(r.stdout+r.stderr, "r.total") {
		t.Fatalf("the unfit table is reported more than once, or by an internal alias: %s", r)
	}
	requireOneLineError(t, result{stderr: r.stderr, code: r.code}, "1 table(s) could not be reconciled")
}

// Issue 13 item 13: with several things wrong, worker and resync name
// the first one to fix: a mistyped table before the missing triggers of
// the others, on a database where migrate up never ran or ran before.
func TestCheckOrder(t *testing.T) {
	t.Parallel()
	skipShort(t)
	const ddl = `CREATE TABLE users (id int PRIMARY KEY); CREATE TABLE orders (id int PRIMARY KEY, total numeric)`
	fresh := testenv.Database(t, "empty", nil)
	exec1(t, connect(t, fresh), ddl)
	installed := testenv.Database(t, "empty", nil)
	exec1(t, connect(t, installed), ddl)
	redisURL := testenv.Redis(t)
	mustRun(t, map[string]string{"DATABASE_URL": installed, "PGREDIS_TABLES": "users"}, "migrate", "up")
	for _, c := range []struct {
		db, tables, want string
	}{
		// users' trigger is missing too, but the typo comes first.
		{fresh, "users; ordrs", "table public.ordrs does not exist"},
		{installed, "users; ordrs", "table public.ordrs does not exist"},
		{installed, "users; orders columns=id,totl", `table public.orders has no column "totl" named in columns=`},
		{fresh, "users key=u:{id}; orders key=u:{id}", "could produce the same key"},
		// With the spec right, the missing trigger is what is left.
		{fresh, "users; orders", "has no pgredis trigger installed: run pgredis migrate up with this PGREDIS_TABLES"},
		{installed, "users; orders", "table public.orders has no pgredis trigger installed"},
	} {
		env := map[string]string{"DATABASE_URL": c.db, "REDIS_URL": redisURL, "PGREDIS_TABLES": c.tables}
		for _, args := range [][]string{{"worker"}, {"resync"}, {"resync", "--dry-run"}} {
			requireOneLineError(t, pgredis(t, env, args...), c.want)
		}
	}
}

// status fails like every command when a store is unreachable: one
// line, non-zero, in bounded time, nothing from go-redis's own logger.
func TestStatusUnreachable(t *testing.T) {
	t.Parallel()
	skipShort(t)
	db := testenv.Database(t, "empty", nil)
	exec1(t, connect(t, db), `CREATE TABLE t (id int PRIMARY KEY)`)
	closed := testenv.FreePort(t)
	plain := testenv.StartRedis(t)
	for _, c := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"redis refused", map[string]string{"DATABASE_URL": db, "REDIS_URL": fmt.Sprintf("redis://127.0.0.1:%d/0", closed)},
			fmt.Sprintf("cannot connect to Redis at 127.0.0.1:%d: dial tcp 127.0.0.1:%d: connect: connection refused", closed, closed)},
		{"rediss to a plaintext server", map[string]string{"DATABASE_URL": db, "REDIS_URL": "rediss://" + plain.Addr() + "/0"},
			"(REDIS_URL is rediss://: does the server speak TLS on that port?)"},
		{"postgres refused", map[string]string{"DATABASE_URL": fmt.Sprintf("postgres://root@127.0.0.1:%d/db", closed)},
			fmt.Sprintf("cannot connect to PostgreSQL at 127.0.0.1:%d: ", closed)},
	} {
		for _, args := range [][]string{{"status"}, {"status", "--json"}, {"resync"}, {"worker"}} {
			env := map[string]string{"PGREDIS_TABLES": "t"}
			for k, v := range c.env {
				env[k] = v
			}
			began := time.Now()
			r := pgredis(t, env, args...)
			requireOneLineError(t, r, c.want)
			if took := time.Since(began); took > 15*time.Second {
				t.Errorf("%s: pgredis %s took %s", c.name, strings.Join(args, " "), took)
			}
			if r.stdout != "" || strings.Contains(r.stderr, "pool.go") {
				t.Errorf("%s: pgredis %s: %s", c.name, strings.Join(args, " "), r)
			}
			if strings.Contains(c.name, "postgres") && strings.Count(r.stderr, "dial") > 1 {
				t.Errorf("%s: the dial error is repeated: %s", c.name, r)
			}
		}
	}
}

// make install copies bin/pgredis to $(GOBIN), else /usr/local/bin, or
// BINDIR; the commands it runs install a working binary.
func TestMakeInstall(t *testing.T) {
	t.Parallel()
	dry := func(vars ...string) string {
		mk := exec.Command("make", append([]string{"--no-print-directory", "-n", "install"}, vars...)...)
		mk.Dir = repoRoot
		out, err := mk.Output()
		if err != nil {
			t.Fatalf("make -n install %v: %v", vars, err)
		}
		return string(out)
	}
	if out := dry("GOBIN="); !strings.Contains(out, "-o bin/pgredis") || !strings.Contains(out, "/usr/local/bin/pgredis") {
		t.Errorf("make install without GOBIN does not build and install to /usr/local/bin:\n%s", out)
	}
	if out := dry("GOBIN=/opt/go/bin"); !strings.Contains(out, "/opt/go/bin/pgredis") {
		t.Errorf("make install with GOBIN does not install there:\n%s", out)
	}
	dir := filepath.Join(t.TempDir(), "dest")
	var ran int
	for _, line := range strings.Split(dry("BINDIR="+dir), "\n") {
		if !strings.HasPrefix(line, "install ") {
			continue
		}
		// The test's own build stands in for bin/pgredis.
		sh := exec.Command("sh", "-c", strings.Replace(line, " bin/pgredis ", " "+binary+" ", 1))
		if out, err := sh.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", line, err, out)
		}
		ran++
	}
	if ran == 0 {
		t.Fatal("make install runs no install command")
	}
	out, err := exec.Command(filepath.Join(dir, "pgredis"), "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "pgredis ") {
		t.Fatalf("installed binary: %q, %v", out, err)
	}
}

// status lists tables in name order, the active worker and the standby,
// the lag now and readiness; --exit-code turns readiness into the exit
// status.
func TestStatusWorkersAndReadiness(t *testing.T) {
	t.Parallel()
	skipShort(t)
	url := testenv.Database(t, "empty", nil)
	exec1(t, connect(t, url), `CREATE TABLE zeta (id int PRIMARY KEY); CREATE TABLE alpha (id int PRIMARY KEY); CREATE TABLE mid (id int PRIMARY KEY)`)
	env := map[string]string{"DATABASE_URL": url, "REDIS_URL": testenv.Redis(t), "PGREDIS_TABLES": "zeta; alpha",
		"PGREDIS_STANDBY_POLL": "100ms", "PGREDIS_HEARTBEAT_INTERVAL": "200ms", "PGREDIS_HEARTBEAT_TIMEOUT": "5s"}
	mustRun(t, env, "migrate", "up")
	b := pgredistest.Open(t, url, env["REDIS_URL"], env["PGREDIS_TABLES"])

	r := pgredis(t, env, "status", "--exit-code")
	if r.code != 3 || r.stderr != "pgredis: not ready: no worker is active (start pgredis worker)\n" || !strings.Contains(r.stdout, "ready: no, no worker is active") {
		t.Fatalf("status --exit-code without a worker: %s", r)
	}

	w1 := startPgredis(t, env, "worker")
	w2 := startPgredis(t, env, "worker")
	var rep statusReport
	testenv.Eventually(t, 30*time.Second, func() error {
		r := pgredis(t, env, "status", "--json", "--exit-code")
		if r.code != 0 {
			return fmt.Errorf("status --json --exit-code: %s\nworkers:\n%s\n%s", r, w1.stderr, w2.stderr)
		}
		rep = statusReport{}
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			return err
		}
		if !rep.Ready || len(rep.Standbys) != 1 || rep.Worker.LagNowSeconds == nil {
			return fmt.Errorf("want ready, one standby and the lag now: %s", r.stdout)
		}
		return nil
	})
	pids := map[int]bool{w1.cmd.Process.Pid: true, w2.cmd.Process.Pid: true}
	if !pids[rep.Worker.PID] || !pids[rep.Standbys[0].PID] || rep.Worker.PID == rep.Standbys[0].PID {
		t.Errorf("active %+v and standby %+v, want the two worker processes %v", rep.Worker, rep.Standbys[0], pids)
	}
	if lag := *rep.Worker.LagNowSeconds; lag < 0 || lag > 5 {
		t.Errorf("lag now %v", lag)
	}
	b.Exec(t, `INSERT INTO alpha VALUES (1)`)
	b.WaitMirror(t, 30*time.Second)

	r = mustRun(t, env, "status")
	var tables []string
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, "table ") {
			tables = append(tables, strings.Fields(l)[1])
		}
	}
	if strings.Join(tables, " ") != "public.alpha: public.zeta:" {
		t.Errorf("tables listed as %v, want alpha then zeta:\n%s", tables, r.stdout)
	}
	for _, want := range []string{
		fmt.Sprintf("worker: active (host %s pid %d", rep.Worker.Host, rep.Worker.PID),
		fmt.Sprintf("standby: host %s pid %d, from ", rep.Standbys[0].Host, rep.Standbys[0].PID),
		"lag now: at most ",
		"ready: yes",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, r.stdout)
		}
	}

	// A table listed but not installed: not ready, named.
	env["PGREDIS_TABLES"] = "zeta; alpha; mid"
	r = pgredis(t, env, "status", "--exit-code")
	if r.code != 3 || !strings.Contains(r.stderr, "not ready: table public.mid: trigger missing (run pgredis migrate up)") {
		t.Errorf("status --exit-code with a table not installed: %s", r)
	}
	if !strings.Contains(r.stdout, "table public.alpha:") || strings.Index(r.stdout, "public.mid") > strings.Index(r.stdout, "public.zeta") {
		t.Errorf("tables out of order:\n%s", r.stdout)
	}
}

// After a release (migrate up with a new PGREDIS_TABLES) the old worker
// stops on the first change of the new trigger, advising a restart with
// the new configuration, not a migrate up with its old one.
func TestReleaseAdvice(t *testing.T) {
	t.Parallel()
	skipShort(t)
	url := testenv.Database(t, "empty", nil)
	exec1(t, connect(t, url), `CREATE TABLE t (id int PRIMARY KEY, v text)`)
	env := map[string]string{"DATABASE_URL": url, "REDIS_URL": testenv.Redis(t), "PGREDIS_TABLES": "t"}
	mustRun(t, env, "migrate", "up")
	w := startPgredis(t, env, "worker")
	testenv.Eventually(t, 30*time.Second, func() error {
		if r := pgredis(t, env, "status"); !strings.Contains(r.stdout, "worker: active") {
			return fmt.Errorf("no active worker: %s\n%s", r, w.stderr)
		}
		return nil
	})
	mustRun(t, map[string]string{"DATABASE_URL": url, "PGREDIS_TABLES": "t format=hash"}, "migrate", "up")
	exec1(t, connect(t, url), `INSERT INTO t VALUES (1, 'x')`)
	select {
	case err := <-w.done:
		w.done <- err
		if err == nil {
			t.Fatalf("worker exited 0:\n%s", w.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("worker still runs after the release:\n%s", w.stderr)
	}
	lines := strings.Split(strings.TrimRight(w.stderr.String(), "\n"), "\n")
	last := lines[len(lines)-1]
	want := "pgredis: error: pgredis migrate up changed the installed tables while this worker ran (table public.t is installed as 't key=t:{id} format=hash' but PGREDIS_TABLES says 't format=json'): restart the worker with the PGREDIS_TABLES that migrate up ran with"
	if last != want {
		t.Fatalf("last line %q, want %q; stderr:\n%s", last, want, w.stderr)
	}
}

// PGREDIS_TABLES mistakes in how entries are written get the fix, from
// every command that reads it, before anything connects.
func TestTablesGrammarHints(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ tables, want string }{
		{"users, products", `table name "users," contains ',': separate PGREDIS_TABLES entries with ';', e.g. "users; products"`},
		{`sales."Line Items" format=hash`, `table name sales."Line Items" has a space, which PGREDIS_TABLES cannot express (spaces separate a name from its options): rename the table`},
	} {
		env := map[string]string{"DATABASE_URL": "postgres://root@127.0.0.1:1/db", "PGREDIS_TABLES": c.tables}
		for _, args := range [][]string{{"migrate", "up"}, {"worker"}, {"resync"}, {"status"}} {
			requireOneLineError(t, pgredis(t, env, args...), c.want)
		}
	}
}

// skipShort skips a test that needs PostgreSQL and Redis under -short.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
}

func TestUnknownVars(t *testing.T) {
	t.Parallel()
	got := unknownVars([]string{"PGREDIS_HTTP_ADDRESS=:1", "PGREDIS_TABLES=x", "PGREDIS_BATCHSIZE=3", "PGREDIS_TEST_LOG=1", "HOME=/", "PGREDIS_ZZZZZZZZZZZZZZZZZZ=1"})
	want := [][2]string{{"PGREDIS_HTTP_ADDRESS", "PGREDIS_HTTP_ADDR"}, {"PGREDIS_BATCHSIZE", "PGREDIS_BATCH_SIZE"}, {"PGREDIS_ZZZZZZZZZZZZZZZZZZ", ""}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("unknownVars = %v, want %v", got, want)
	}
}
