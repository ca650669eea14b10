package main

import (
	"net/url"
	"strings"
	"testing"
)

// DATABASE_URL may be a libpq key=value string as well as a URL.
func TestKeyValueDatabaseURL(t *testing.T) {
	t.Parallel()
	dbURL, env := appDB(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	env["DATABASE_URL"] = "host=" + u.Hostname() + " port=" + u.Port() + " user=" + u.User.Username() +
		" dbname=" + strings.TrimPrefix(u.Path, "/") + " sslmode=disable"
	env["PGREDIS_TABLES"] = "users"
	mustRun(t, env, "migrate", "up")
	if r := mustRun(t, env, "migrate", "version"); strings.TrimSpace(r.stdout) != "version 2" {
		t.Fatalf("migrate version: %s", r)
	}
	mustRun(t, env, "resync")
	if n := redisClient(t, env["REDIS_URL"]).Exists(t.Context(), "users:1", "users:2").Val(); n != 2 {
		t.Fatalf("resync wrote %d of users:1, users:2", n)
	}
	mustRun(t, env, "migrate", "down")
}
