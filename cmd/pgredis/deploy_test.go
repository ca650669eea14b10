package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/pgredis/pgredis/internal/spec"
)

const repoRoot = "../.."

// envVars lists the environment variables pgredis reads.
func envVars() map[string]bool {
	vars := map[string]bool{}
	ty := reflect.TypeFor[env]()
	for i := 0; i < ty.NumField(); i++ {
		if tag := ty.Field(i).Tag.Get("envconfig"); tag != "" {
			vars[tag] = true
		}
	}
	return vars
}

// requireCommand fails unless args (without the leading "pgredis") is a
// command pgredis knows: its --help must succeed.
func requireCommand(t *testing.T, where string, args []string) {
	t.Helper()
	if len(args) == 0 {
		t.Errorf("%s: no command", where)
		return
	}
	// --help right after the command: flags end at the first argument.
	err := dispatch(context.Background(), []string{args[0], "--help"}, io.Discard, io.Discard)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		t.Errorf("%s: pgredis %s is not a command: %v", where, args[0], err)
	}
	if len(args) > 1 && !strings.Contains(usage, "pgredis "+strings.Join(args, " ")) {
		t.Errorf("%s: pgredis %s is not in the usage", where, strings.Join(args, " "))
	}
}

type composeFile struct {
	// Extensions are the x- keys compose ignores (anchors live there).
	Extensions map[string]any `yaml:",inline"`

	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string                       `yaml:"image"`
	Build       any                          `yaml:"build"`
	Command     []string                     `yaml:"command"`
	Environment map[string]string            `yaml:"environment"`
	DependsOn   map[string]map[string]string `yaml:"depends_on"`
	Healthcheck map[string]any               `yaml:"healthcheck"`
	Restart     string                       `yaml:"restart"`
	Ports       []string                     `yaml:"ports"`
	Volumes     []string                     `yaml:"volumes"`
	StopGrace   string                       `yaml:"stop_grace_period"`
}

// TestComposeFile checks compose.yaml hangs together, as docker compose
// config would and beyond: known keys only, every dependency a service
// with the health check or one-shot nature its condition needs, the
// pgredis services run real commands with variables pgredis reads, their
// URLs point at the compose services, and the synced table exists in
// the schema PostgreSQL is initialised with.
func TestComposeFile(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true) // a key outside the struct is a typo or unsupported
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	for k := range c.Extensions {
		if !strings.HasPrefix(k, "x-") {
			t.Errorf("compose.yaml: unknown top-level key %q", k)
		}
	}
	for _, name := range []string{"postgres", "redis", "migrate", "worker"} {
		if _, ok := c.Services[name]; !ok {
			t.Fatalf("compose.yaml has no %s service", name)
		}
	}
	known := envVars()
	for name, s := range c.Services {
		if (s.Image == "") == (s.Build == nil) {
			t.Errorf("service %s: needs exactly one of image and build", name)
		}
		for dep, opts := range s.DependsOn {
			d, ok := c.Services[dep]
			if !ok {
				t.Errorf("service %s depends on unknown service %s", name, dep)
				continue
			}
			switch cond := opts["condition"]; cond {
			case "service_healthy":
				if d.Healthcheck == nil {
					t.Errorf("service %s waits for %s to be healthy, which has no healthcheck", name, dep)
				}
			case "service_completed_successfully":
				if d.Restart != "no" {
					t.Errorf("service %s waits for %s to complete, which restarts (%q)", name, dep, d.Restart)
				}
			case "service_started":
			default:
				t.Errorf("service %s: unknown depends_on condition %q", name, cond)
			}
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(filepath.Join(repoRoot, src)); err != nil {
					t.Errorf("service %s mounts %s: %v", name, src, err)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("service %s uses volume %s, not declared", name, src)
			}
		}
		if s.Build == nil {
			continue
		}
		// A pgredis service.
		requireCommand(t, "compose service "+name, s.Command)
		for k := range s.Environment {
			if !known[k] {
				t.Errorf("service %s sets %s, which pgredis does not read", name, k)
			}
		}
		pg, err := url.Parse(s.Environment["DATABASE_URL"])
		if err != nil || c.Services[pg.Hostname()].Image == "" || !strings.HasPrefix(c.Services[pg.Hostname()].Image, "postgres") {
			t.Errorf("service %s: DATABASE_URL %q does not point at the postgres service", name, s.Environment["DATABASE_URL"])
		} else {
			db := c.Services[pg.Hostname()].Environment
			pass, _ := pg.User.Password()
			if pg.User.Username() != db["POSTGRES_USER"] || pass != db["POSTGRES_PASSWORD"] || strings.TrimPrefix(pg.Path, "/") != db["POSTGRES_DB"] {
				t.Errorf("service %s: DATABASE_URL credentials or database differ from the postgres service's", name)
			}
			if _, ok := s.DependsOn[pg.Hostname()]; !ok && name == "migrate" {
				t.Errorf("service migrate does not wait for %s", pg.Hostname())
			}
		}
		rd, err := url.Parse(s.Environment["REDIS_URL"])
		if err != nil || !strings.HasPrefix(c.Services[rd.Hostname()].Image, "redis") {
			t.Errorf("service %s: REDIS_URL %q does not point at the redis service", name, s.Environment["REDIS_URL"])
		}
		tables, err := spec.Parse(s.Environment["PGREDIS_TABLES"])
		if err != nil {
			t.Errorf("service %s: PGREDIS_TABLES: %v", name, err)
		}
		init, _ := os.ReadFile(filepath.Join(repoRoot, "deploy/compose/init.sql"))
		for _, tb := range tables {
			if !regexp.MustCompile(`(?i)CREATE TABLE (IF NOT EXISTS )?` + regexp.QuoteMeta(tb.Name) + `\b`).Match(init) {
				t.Errorf("service %s syncs %s, which deploy/compose/init.sql does not create", name, tb)
			}
		}
	}
	if got := c.Services["migrate"].Command; !slices.Equal(got, []string{"migrate", "up"}) {
		t.Errorf("migrate runs %v", got)
	}
	if got := c.Services["worker"].Command; !slices.Equal(got, []string{"worker"}) {
		t.Errorf("worker runs %v", got)
	}
	if cond := c.Services["worker"].DependsOn["migrate"]["condition"]; cond != "service_completed_successfully" {
		t.Errorf("worker starts on migrate %q, want service_completed_successfully", cond)
	}
}

// TestDockerfile: multi-stage, a static (CGO-free) binary, a non-root
// user, pgredis as the entrypoint, a Go image new enough for go.mod.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(raw)
	froms := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(df, -1)
	if len(froms) < 2 {
		t.Fatalf("want a multi-stage build, found %d FROM", len(froms))
	}
	gomod, _ := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	goVer := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if goVer == nil || !strings.HasPrefix(froms[0][1], "golang:"+string(goVer[1])) {
		t.Errorf("build stage %s does not match go.mod's go %s", froms[0][1], goVer[1])
	}
	if !strings.Contains(df, "CGO_ENABLED=0") || !strings.Contains(df, "./cmd/pgredis") {
		t.Error("the binary is not built static (CGO_ENABLED=0) from ./cmd/pgredis")
	}
	user := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindAllStringSubmatch(df, -1)
	if len(user) == 0 {
		t.Fatal("no USER: the image would run as root")
	}
	if u := user[len(user)-1][1]; u == "root" || strings.HasPrefix(u, "0:") || u == "0" {
		t.Errorf("runs as %s", u)
	}
	if !regexp.MustCompile(`(?m)^ENTRYPOINT \["[^"]*/pgredis"\]`).MatchString(df) {
		t.Error("ENTRYPOINT is not the pgredis binary")
	}
	cmd := regexp.MustCompile(`(?m)^CMD \[(.*)\]`).FindStringSubmatch(df)
	if cmd == nil {
		t.Fatal("no CMD")
	}
	var args []string
	for _, a := range strings.Split(cmd[1], ",") {
		args = append(args, strings.Trim(strings.TrimSpace(a), `"`))
	}
	requireCommand(t, "Dockerfile CMD", args)
}

// TestProcfile: a release phase that migrates and a worker process.
func TestProcfile(t *testing.T) {
	t.Parallel()
	f, err := os.Open(filepath.Join(repoRoot, "Procfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	procs := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, cmd, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			t.Fatalf("Procfile line %q is not NAME: COMMAND", sc.Text())
		}
		procs[name] = strings.TrimSpace(cmd)
	}
	want := map[string]string{"release": "pgredis migrate up", "worker": "pgredis worker"}
	if !reflect.DeepEqual(procs, want) {
		t.Fatalf("Procfile %v, want %v", procs, want)
	}
	for name, cmd := range procs {
		requireCommand(t, "Procfile "+name, strings.Fields(cmd)[1:])
	}
}

// TestVersionedBuild runs make build's own command line (with the output
// moved to a temporary directory) and checks the binary reports the
// version and commit it was stamped with.
func TestVersionedBuild(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds a binary")
	}
	mk := exec.Command("make", "--no-print-directory", "-n", "build", "VERSION=v9.8.7-test", "COMMIT=abc1234")
	mk.Dir = repoRoot
	out, err := mk.Output()
	if err != nil {
		t.Fatalf("make -n build: %v", err)
	}
	line := strings.TrimSpace(string(out))
	if !strings.Contains(line, "-o bin/pgredis") {
		t.Fatalf("make build does not write bin/pgredis: %s", line)
	}
	bin := filepath.Join(t.TempDir(), "pgredis")
	build := exec.Command("sh", "-c", strings.Replace(line, "-o bin/pgredis", "-o "+bin, 1))
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
	got, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "pgredis v9.8.7-test (commit abc1234)\n"; string(got) != want {
		t.Fatalf("pgredis version printed %q, want %q", got, want)
	}
}

// TestComposeQuickStart: the README's quick start, `docker compose up -d
// postgres redis` then `make demo`, works: the compose servers publish
// the ports make demo connects to, with the user, authentication and
// database its URLs use.
func TestComposeQuickStart(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	mk, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	makeVar := func(name string) *url.URL {
		m := regexp.MustCompile(`(?m)^` + name + `\s*\?=\s*(\S+)`).FindSubmatch(mk)
		if m == nil {
			t.Fatalf("Makefile sets no %s", name)
		}
		u, err := url.Parse(string(m[1]))
		if err != nil {
			t.Fatalf("Makefile %s: %v", name, err)
		}
		return u
	}
	readme, _ := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if !strings.Contains(string(readme), "docker compose up -d postgres redis") || !strings.Contains(string(readme), "make demo") {
		t.Fatal("the README no longer shows the compose quick start this test checks")
	}

	// published reports whether service publishes container port inner on
	// the host port of u, reachable at u's host.
	published := func(service, inner string, u *url.URL) {
		t.Helper()
		for _, p := range c.Services[service].Ports {
			parts := strings.Split(p, ":")
			host, ip := parts[len(parts)-2], "0.0.0.0"
			if len(parts) == 3 {
				ip = parts[0]
			}
			if parts[len(parts)-1] == inner && host == u.Port() && (ip == "0.0.0.0" || ip == u.Hostname()) {
				return
			}
		}
		t.Errorf("compose service %s does not publish port %s on %s:%s, where make demo connects (ports %v)",
			service, inner, u.Hostname(), u.Port(), c.Services[service].Ports)
	}

	pg := makeVar("DEMO_PG")
	published("postgres", "5432", pg)
	env := c.Services["postgres"].Environment
	user := env["POSTGRES_USER"]
	if user == "" {
		user = "postgres"
	}
	if pg.User.Username() != user {
		t.Errorf("make demo connects as %q, the compose postgres has user %q", pg.User.Username(), user)
	}
	if pass, ok := pg.User.Password(); ok {
		if pass != env["POSTGRES_PASSWORD"] {
			t.Errorf("make demo's password differs from POSTGRES_PASSWORD")
		}
	} else if env["POSTGRES_HOST_AUTH_METHOD"] != "trust" {
		t.Errorf("make demo connects without a password, but the compose postgres does not trust connections (POSTGRES_HOST_AUTH_METHOD=%q)", env["POSTGRES_HOST_AUTH_METHOD"])
	}
	// The image creates POSTGRES_DB (default: the user's name) next to the
	// postgres maintenance database.
	db := strings.TrimPrefix(pg.Path, "/")
	if db != "postgres" && db != env["POSTGRES_DB"] && !(env["POSTGRES_DB"] == "" && db == user) {
		t.Errorf("make demo connects to database %q, which the compose postgres does not have", db)
	}

	rd := makeVar("DEMO_REDIS")
	published("redis", "6379", rd)
	if n, err := strconv.Atoi(strings.TrimPrefix(rd.Path, "/")); err != nil || n > 15 {
		t.Errorf("make demo uses Redis database %q, beyond a default server's 16", rd.Path)
	}
}
