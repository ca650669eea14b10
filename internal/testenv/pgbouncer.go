package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// PgBouncer is a private pgbouncer in front of the shared PostgreSQL,
// configured as shipped but for its address, pool mode and trust
// authentication, so tests see what a stock pooler does to pgredis.
type PgBouncer struct {
	p    *proc
	port int
}

// StartPgBouncer starts pgbouncer with pool_mode poolMode ("session",
// "transaction") for every database of the shared PostgreSQL; users are
// the roles it lets in besides root.
func StartPgBouncer(t testing.TB, poolMode string, users ...string) *PgBouncer {
	needServers(t)
	t.Helper()
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		bin = "/usr/sbin/pgbouncer"
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("testenv: pgbouncer is not installed (Debian: apt-get install pgbouncer)")
		}
	}
	up, err := pgx.ParseConfig(PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	dir, err := tempDir("pgbouncer")
	if err != nil {
		t.Fatal(err)
	}
	b := &PgBouncer{p: &proc{name: "pgbouncer", dir: dir, termSig: syscall.SIGINT}}
	track(b.p)
	t.Cleanup(b.p.close)
	if b.port, err = freePort(); err != nil {
		t.Fatal(err)
	}
	var auth strings.Builder
	for _, u := range append([]string{"root"}, users...) {
		fmt.Fprintf(&auth, "%q \"\"\n", u)
	}
	conf := fmt.Sprintf(`[databases]
* = host=%s port=%d

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
pool_mode = %s
`, up.Host, up.Port, b.port, filepath.Join(dir, "users.txt"), poolMode)
	for name, body := range map[string]string{"pgbouncer.ini": conf, "users.txt": auth.String()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// pgbouncer refuses to run as root.
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("testenv: pgbouncer must not run as root and there is no postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		b.p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	b.p.argv = []string{bin, filepath.Join(dir, "pgbouncer.ini")}
	if err := b.p.start(); err != nil {
		t.Fatalf("testenv: pgbouncer: %v", err)
	}
	err = b.p.waitReady(30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := pgconn.Connect(ctx, b.URL("postgres"))
		if err != nil {
			return err
		}
		return c.Close(ctx)
	})
	if err != nil {
		t.Fatalf("testenv: pgbouncer not ready: %v", err)
	}
	return b
}

// URL reaches database dbname through the pooler as root.
func (b *PgBouncer) URL(dbname string) string { return b.UserURL("root", dbname) }

// UserURL reaches database dbname through the pooler as role.
func (b *PgBouncer) UserURL(role, dbname string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", role, b.port, dbname)
}
