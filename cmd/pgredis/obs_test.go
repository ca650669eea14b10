package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
)

// jsonLines parses every stderr line as one JSON log record; a line that
// is not one fails the test.
func jsonLines(t *testing.T, stderr string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimRight(stderr, "\n"), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("stderr line is not a JSON record: %q: %v", line, err)
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := rec[k]; !ok {
				t.Fatalf("record without %q: %q", k, line)
			}
		}
		recs = append(recs, rec)
	}
	return recs
}

// findRecords are the records with message msg.
func findRecords(recs []map[string]any, msg string) []map[string]any {
	var out []map[string]any
	for _, r := range recs {
		if r["msg"] == msg {
			out = append(out, r)
		}
	}
	return out
}

// durationString is what time.Duration.String() renders: a duration
// logged that way is text, not a number.
var durationString = regexp.MustCompile(`^-?[0-9.]+(ns|µs|us|ms|s|m|h)([0-9.]+(ns|µs|us|ms|s|m|h))*$`)

// TestWorkerJSONLogs runs the real binary with JSON logs at debug level
// through a start, live changes, a resync the worker serves on request and
// a stop, and checks every line of its stderr: one JSON record per line,
// the start-up record with the build and the configuration (the database
// password redacted), durations as numbers of seconds, the debug records
// of batches and reconciles, and the served resync with the request id
// the resync command logged.
func TestWorkerJSONLogs(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	dbURL, env := appDB(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	// Trust authentication ignores the password: it is only there to be
	// redacted.
	const secret = "s3cret-Passw0rd"
	u.User = url.UserPassword(u.User.Username(), secret)
	env["DATABASE_URL"] = u.String()
	env["PGREDIS_TABLES"] = "users; orders key=order:{tenant}:{id} format=hash"
	env["PGREDIS_LOG_FORMAT"] = "json"
	env["PGREDIS_LOG_LEVEL"] = "debug"
	env["PGREDIS_HEARTBEAT_INTERVAL"] = "200ms"
	port := testenv.FreePort(t)
	env["PGREDIS_HTTP_ADDR"] = "127.0.0.1:" + strconv.Itoa(port)
	mustRun(t, env, "migrate", "up")
	b := pgredistest.Open(t, dbURL, env["REDIS_URL"], env["PGREDIS_TABLES"])

	w := startPgredis(t, env, "worker")
	b.WaitMirror(t, 30*time.Second)
	b.Exec(t, `INSERT INTO users SELECT g, 'u' || g FROM generate_series(10, 40) g`)
	b.Exec(t, `UPDATE orders SET total = 12`)
	b.WaitMirror(t, 30*time.Second)
	r := mustRun(t, env, "resync", "users")
	testenv.Eventually(t, 20*time.Second, func() error {
		if !strings.Contains(w.stderr.String(), `"resync served"`) {
			return fmt.Errorf("no resync served record yet")
		}
		return nil
	})
	if err := w.stop(t); err != nil {
		t.Fatalf("worker exit: %v\n%s", err, w.stderr)
	}

	recs := jsonLines(t, w.stderr.String())
	for _, rec := range recs {
		for k, v := range rec {
			if s, ok := v.(string); ok && k != "time" && durationString.MatchString(s) {
				t.Errorf("attribute %s=%q is a duration as text, want a number: %v", k, s, rec)
			}
			if s, ok := v.(string); ok && strings.Contains(s, secret) {
				t.Errorf("the database password is logged: %v", rec)
			}
		}
	}

	start := findRecords(recs, "pgredis worker started")
	if len(start) != 1 {
		t.Fatalf("want the start-up record once; got %d", len(start))
	}
	s := start[0]
	if s["version"] != version || s["commit"] != commit || s["go_version"] != runtime.Version() ||
		s["tables"] != "public.users,public.orders" || s["redis_mode"] != "standalone" || s["batch_size"] != float64(256) {
		t.Errorf("start-up record %v", s)
	}
	if db, _ := s["database_url"].(string); !strings.Contains(db, "REDACTED@") || !strings.Contains(db, u.Host) {
		t.Errorf("start-up database_url %q: want the URL with its password redacted", db)
	}
	if _, ok := s["heartbeat_interval_seconds"].(float64); !ok {
		t.Errorf("start-up heartbeat_interval_seconds not a number: %v", s)
	}

	reconciled := findRecords(recs, "table reconciled")
	if len(reconciled) < 2 {
		t.Fatalf("want a table reconciled record per table, got %d", len(reconciled))
	}
	for _, rec := range reconciled {
		if d, ok := rec["duration_seconds"].(float64); !ok || d <= 0 || d > 30 {
			t.Errorf("table reconciled duration_seconds %v: want seconds as a number", rec["duration_seconds"])
		}
	}
	if len(findRecords(recs, "reconcile started: streaming the table, then sweeping its keys in Redis")) < 3 ||
		len(findRecords(recs, "reconcile finished")) < 3 {
		t.Errorf("want debug records of every reconcile's steps (two at start, one resync)")
	}
	var applied int
	for _, rec := range findRecords(recs, "batch applied") {
		if n, _ := rec["changes"].(float64); n > 0 && rec["level"] == "DEBUG" {
			applied += int(n)
		}
	}
	if applied < 32 { // 31 inserts and 1 update
		t.Errorf("debug batch applied records account for %d changes, want >= 32", applied)
	}

	// The resync command logged the request it handed the worker; the
	// worker logged serving that very request.
	asked := jsonLines(t, r.stderr)
	var id any
	for _, rec := range asked {
		if rec["msg"] == "asked the active worker to resync" {
			id = rec["request_id"]
		}
	}
	if id == nil {
		t.Fatalf("resync did not log the request it sent:\n%s", r.stderr)
	}
	for _, msg := range []string{"resync requested", "resync served"} {
		got := findRecords(recs, msg)
		if len(got) != 1 || got[0]["request_id"] != id || got[0]["tables"] != "public.users" {
			t.Errorf("%s records %v, want one for request %v of public.users", msg, got, id)
		}
	}
}

// TestFatalErrorJSON: with PGREDIS_LOG_FORMAT=json the error that ends
// a command is one JSON record on one line, as every other line is; in
// text mode it stays one plain line.
func TestFatalErrorJSON(t *testing.T) {
	t.Parallel()
	closed := testenv.FreePort(t)
	vars := map[string]string{
		"DATABASE_URL":       "postgres://nobody:hunter2@127.0.0.1:" + strconv.Itoa(closed) + "/none?sslmode=disable&connect_timeout=2",
		"PGREDIS_TABLES":     "users",
		"PGREDIS_LOG_FORMAT": "json",
	}
	for _, args := range [][]string{{"worker"}, {"resync"}, {"migrate", "up"}} {
		r := pgredis(t, vars, args...)
		if r.code != 1 {
			t.Fatalf("pgredis %v: want exit 1: %s", args, r)
		}
		recs := jsonLines(t, r.stderr)
		if len(recs) != 1 {
			t.Fatalf("pgredis %v: want one record on stderr: %s", args, r)
		}
		rec := recs[0]
		msg, _ := rec["msg"].(string)
		if rec["level"] != "ERROR" || !strings.Contains(msg, "PostgreSQL") || rec["error"] != msg || rec["exit_code"] != float64(1) {
			t.Errorf("pgredis %v: fatal record %v", args, rec)
		}
		if strings.Contains(r.stderr, "hunter2") {
			t.Errorf("pgredis %v: the password is in the error: %s", args, r.stderr)
		}
	}
	delete(vars, "PGREDIS_LOG_FORMAT")
	r := pgredis(t, vars, "worker")
	requireOneLineError(t, r, "pgredis: error: ")
	if strings.HasPrefix(r.stderr, "{") {
		t.Errorf("text mode printed JSON: %s", r)
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"postgres://app:secret@db:5432/shop?sslmode=require":    "postgres://app:REDACTED@db:5432/shop?sslmode=require",
		"postgres://app@db/shop":                                "postgres://app@db/shop",
		"postgres://db/shop?user=app&password=secret":           "postgres://db/shop?password=REDACTED&user=app",
		"host=db user=app password=secret dbname=shop":          "host=db user=app password=REDACTED dbname=shop",
		"host=db password='se cret' dbname=shop":                "host=db password=REDACTED dbname=shop",
		"redis://:secret@cache:6379/0":                          "redis://:REDACTED@cache:6379/0",
		"rediss://default:secret@cache:6380/0?skip_verify=true": "rediss://default:REDACTED@cache:6380/0?skip_verify=true",
		"": "",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestLogDurationsAreSeconds: whatever the call site names a duration,
// both formats log it as a number of seconds under a _seconds name.
func TestLogDurationsAreSeconds(t *testing.T) {
	t.Parallel()
	var buf strings.Builder
	log, err := (&env{LogFormat: "json", LogLevel: "info"}).loggerTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("x", "retry_in", 1500*time.Millisecond, "duration_seconds", 2*time.Second, "rows", 3)
	recs := jsonLines(t, buf.String())
	if r := recs[0]; r["retry_in_seconds"] != 1.5 || r["duration_seconds"] != float64(2) || r["rows"] != float64(3) || r["retry_in"] != nil {
		t.Fatalf("record %v", r)
	}
	buf.Reset()
	if log, err = (&env{LogFormat: "text", LogLevel: "info"}).loggerTo(&buf); err != nil {
		t.Fatal(err)
	}
	log.Info("x", "down_for", 250*time.Millisecond)
	if !strings.Contains(buf.String(), " down_for_seconds=0.25\n") {
		t.Fatalf("text record %q", buf.String())
	}
}
