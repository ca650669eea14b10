package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
)

// grants reads one of the grant scripts docs/deployment.md quotes, with
// the test's names in.
func grants(t *testing.T, file string, names map[string]string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for k, v := range names {
		s = strings.ReplaceAll(s, "{"+k+"}", v)
	}
	return s
}

// TestManagedPostgresNoSuperuser: owner, worker and application roles all
// NOSUPERUSER, so no event trigger; partitions created and attached after
// migrate up, written directly, reach Redis. With the worker a member of
// the owner role it installs their triggers itself; with the least
// grants it names the fix and reconciles the table until then.
func TestManagedPostgresNoSuperuser(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"member", "least"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			url := testenv.Database(t, "empty", nil)
			cfg, err := pgx.ParseConfig(url)
			if err != nil {
				t.Fatal(err)
			}
			db := cfg.Database
			names := map[string]string{"db": db, "owner": db + "_owner", "worker": db + "_worker", "app": db + "_app", "tables": "ev, ev_eu"}
			as := func(role string) string { return strings.Replace(url, "root@", role+"@", 1) }
			root := connect(t, url)
			for _, r := range []string{names["owner"], names["worker"], names["app"]} {
				exec1(t, root, "CREATE ROLE "+r+" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE")
				t.Cleanup(func() {
					c := connect(t, url)
					exec1(t, c, "DROP OWNED BY "+r)
					c.Close(t.Context())
					exec1(t, connect(t, testenv.PostgresURL()), "DROP ROLE "+r)
				})
			}
			exec1(t, root, grants(t, "managed-grants.sql", names)+"GRANT CREATE ON SCHEMA public TO "+names["owner"])
			if mode == "member" {
				exec1(t, root, grants(t, "managed-grants-member.sql", names))
			}
			owner, app := connect(t, as(names["owner"])), connect(t, as(names["app"]))
			exec1(t, owner, `
CREATE TABLE ev (id int, region text, v text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE ev_eu PARTITION OF ev FOR VALUES IN ('eu');
INSERT INTO ev VALUES (1, 'eu', 'a');
GRANT SELECT, INSERT, UPDATE, DELETE ON ev, ev_eu TO `+names["app"])
			env := map[string]string{
				"DATABASE_URL":               as(names["owner"]),
				"REDIS_URL":                  testenv.Redis(t),
				"PGREDIS_TABLES":             "ev",
				"PGREDIS_STANDBY_POLL":       "100ms",
				"PGREDIS_CHECK_INTERVAL":     "100ms",
				"PGREDIS_HEARTBEAT_INTERVAL": "200ms",
			}
			if r := mustRun(t, env, "migrate", "up"); !strings.Contains(r.stdout, "need a superuser") {
				t.Fatalf("migrate up as a NOSUPERUSER owner printed no note about the event triggers: %s", r)
			}
			env["DATABASE_URL"] = as(names["worker"])
			if mode == "least" {
				// Without its grants the worker names them.
				requireOneLineError(t, pgredis(t, env, "worker"), "may not read pgredis's registry: permission denied for table tables; as the role that ran pgredis migrate up, GRANT USAGE ON SCHEMA pgredis")
				exec1(t, owner, grants(t, "managed-grants-least.sql", names))
			}
			b := pgredistest.Open(t, url, env["REDIS_URL"], env["PGREDIS_TABLES"])
			w := startPgredis(t, env, "worker")
			b.WaitMirror(t, 30*time.Second)

			exec1(t, owner, `
CREATE TABLE ev_us PARTITION OF ev FOR VALUES IN ('us');
CREATE TABLE ev_ap (id int, region text, v text, PRIMARY KEY (id, region));
INSERT INTO ev_ap VALUES (5, 'ap', 'attached');
ALTER TABLE ev ATTACH PARTITION ev_ap FOR VALUES IN ('ap');
GRANT SELECT, INSERT, UPDATE, DELETE ON ev_us, ev_ap TO `+names["app"])
			exec1(t, app, `INSERT INTO ev_us VALUES (2, 'us', 'direct'); INSERT INTO ev VALUES (3, 'us', 'via parent'); UPDATE ev_ap SET v = 'changed'`)
			b.WaitMirror(t, 30*time.Second)
			exec1(t, app, `INSERT INTO ev_us VALUES (4, 'us', 'direct again'); DELETE FROM ev_ap`)
			b.WaitMirror(t, 30*time.Second)

			if mode == "least" {
				// Role names need no quoting: the log shows them as they are.
				for _, want := range []string{"may not put pgredis triggers on partitions of public.ev", "GRANT", names["owner"] + `\" TO \"` + names["worker"], "reconciles the table at every check"} {
					if !strings.Contains(w.stderr.String(), want) {
						t.Errorf("the worker's log does not say %q:\n%s", want, w.stderr)
					}
				}
				r := mustRun(t, env, "status")
				if !strings.Contains(r.stdout, "ev_us has no trigger") || !strings.Contains(r.stdout, "as the table's owner") {
					t.Errorf("status does not name the uncaptured partition and the fix: %s", r)
				}
				return
			}
			n := 0
			if err := root.QueryRow(t.Context(), `SELECT count(*) FROM pg_trigger WHERE tgrelid IN ('ev_us'::regclass, 'ev_ap'::regclass) AND tgname LIKE 'pgredis%' AND tgenabled = 'A'`).Scan(&n); err != nil || n != 8 {
				t.Errorf("the worker put %d pgredis triggers firing always on the new partitions (%v), want 8", n, err)
			}
			mustRun(t, env, "resync")
		})
	}
}

// TestManagedGrantsDocumented: the docs quote the grant scripts the test
// runs, verbatim, so what users are told is what was tested.
func TestManagedGrantsDocumented(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/deployment.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"managed-grants.sql", "managed-grants-member.sql", "managed-grants-least.sql"} {
		b, err := os.ReadFile("testdata/" + f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(doc), strings.TrimRight(string(b), "\n")) {
			t.Errorf("docs/deployment.md does not quote testdata/%s verbatim", f)
		}
	}
}
