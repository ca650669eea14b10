package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
)

// TestRedisMutualTLS mirrors into a redis-server that authenticates
// clients by certificate (--tls-auth-clients yes): with
// PGREDIS_REDIS_TLS_CERT_FILE / PGREDIS_REDIS_TLS_KEY_FILE a worker
// converges; without them the real binary fails with one line that names
// the problem and the variables to set; half a pair or a client
// certificate on a plain redis:// URL is a configuration error.
func TestRedisMutualTLS(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("needs PostgreSQL and redis-server")
	}
	ctx := context.Background()
	certs := testenv.WriteTLSFiles(t)
	_, port := testenv.StartTLSRedis(t, certs, true)
	url := fmt.Sprintf("rediss://127.0.0.1:%d/0", port)
	withCert := &env{RedisURL: url, RedisCACert: certs.CA, RedisTLSCertFile: certs.ClientCert, RedisTLSKeyFile: certs.ClientKey,
		StatePrefix: pgredistest.StatePrefix}

	ping := func(e *env) error {
		c, err := e.redis()
		if err != nil {
			return err
		}
		defer c.Close()
		return c.Ping(ctx).Err()
	}
	if err := ping(withCert); err != nil {
		t.Fatalf("with the client certificate: %v", err)
	}
	if err := ping(&env{RedisURL: url, RedisCACert: certs.CA}); err == nil {
		t.Fatal("the server accepted a client without a certificate")
	}
	for _, bad := range []struct {
		e    env
		want string
	}{
		{env{RedisURL: url, RedisTLSCertFile: certs.ClientCert}, "PGREDIS_REDIS_TLS_KEY_FILE go together"},
		{env{RedisURL: url, RedisTLSKeyFile: certs.ClientKey}, "PGREDIS_REDIS_TLS_KEY_FILE go together"},
		{env{RedisURL: url, RedisTLSCertFile: certs.ClientKey, RedisTLSKeyFile: certs.ClientCert}, "PGREDIS_REDIS_TLS_CERT_FILE="},
		{env{RedisURL: strings.Replace(url, "rediss", "redis", 1), RedisTLSCertFile: certs.ClientCert, RedisTLSKeyFile: certs.ClientKey}, "not a rediss://"},
	} {
		if _, err := bad.e.redis(); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%+v: got %v, want an error containing %q", bad.e, err, bad.want)
		}
	}

	// A worker converges through the client certificate.
	b := pgredistest.New(t, topologyDDL, topologyTables)
	useEnvRedis(t, b, withCert)
	w := b.StartWorker(t)
	waitActive(t, w.Active)
	exercise(t, b)

	// The binary without the certificate: one line, naming the fix.
	_, vars := appDB(t)
	vars["PGREDIS_TABLES"] = "users"
	mustRun(t, vars, "migrate", "up")
	// Another database of the server: the worker above still mirrors
	// into database 0 under the same state prefix, and two mirrors must
	// not share one owner key.
	vars["REDIS_URL"] = fmt.Sprintf("rediss://127.0.0.1:%d/1", port)
	vars["PGREDIS_REDIS_CA_CERT"] = certs.CA
	for _, args := range [][]string{{"worker"}, {"resync"}} {
		r := pgredis(t, vars, args...)
		requireOneLineError(t, r, "set PGREDIS_REDIS_TLS_CERT_FILE and PGREDIS_REDIS_TLS_KEY_FILE")
		if !strings.Contains(r.stderr, "certificate") {
			t.Errorf("pgredis %v: the error does not name the certificate: %s", args, r)
		}
	}
	vars["PGREDIS_REDIS_TLS_CERT_FILE"], vars["PGREDIS_REDIS_TLS_KEY_FILE"] = certs.ClientCert, certs.ClientKey
	r := mustRun(t, vars, "resync")
	if !strings.Contains(r.stdout, "public.users: rows scanned 2, keys written 2") {
		t.Fatalf("resync with the client certificate: %s", r)
	}
}
