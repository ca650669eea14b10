package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresServer is a private PostgreSQL cluster, for tests that stop or
// restart the server, which would break every other test on a shared one.
type PostgresServer struct {
	p    *proc
	port int
}

func pgBin(name string) string {
	dir := os.Getenv("PGREDIS_TEST_PG_BINDIR")
	if dir == "" {
		dir = "/usr/lib/postgresql/15/bin"
	}
	return filepath.Join(dir, name)
}

// StartPostgres runs postgres directly (not via pg_ctl, which daemonises it)
// so the server is our child and dies with the test process. PostgreSQL
// refuses to run as root, so as root it runs as the "postgres" user.
func StartPostgres(t testing.TB) *PostgresServer {
	needServers(t)
	t.Helper()
	s, err := startPostgres()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(s.p.close)
	return s
}

func startPostgres() (*PostgresServer, error) {
	dir, err := tempDir("pg")
	if err != nil {
		return nil, err
	}
	s := &PostgresServer{p: &proc{name: "postgres", dir: dir, termSig: syscall.SIGQUIT}}
	track(s.p)
	fail := func(err error) (*PostgresServer, error) { s.p.close(); return nil, err }
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fail(err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			return fail(err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(pgBin("initdb"), "-D", data, "-U", "root", "-A", "trust",
		"--no-sync", "--no-locale", "-E", "UTF8", "--no-instructions")
	initdb.Dir, initdb.SysProcAttr = dir, &syscall.SysProcAttr{Credential: s.p.cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("initdb: %v\n%s", err, out))
	}
	if s.port, err = freePort(); err != nil {
		return fail(err)
	}
	s.p.argv = []string{pgBin("postgres"), "-D", data, "-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + dir,
		"-c", "fsync=off", "-c", "full_page_writes=off", "-c", "shared_buffers=16MB"}
	if err := s.start(); err != nil {
		return fail(err)
	}
	return s, nil
}

func (s *PostgresServer) start() error {
	if err := s.p.start(); err != nil {
		return err
	}
	return s.p.waitReady(time.Minute, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, s.URL("postgres"))
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	})
}

// URL connects as the superuser "root", like the shared server's URL.
func (s *PostgresServer) URL(dbname string) string {
	return fmt.Sprintf("postgres://root@127.0.0.1:%d/%s?sslmode=disable", s.port, dbname)
}

// Stop is an immediate shutdown, as close to a crash as PostgreSQL allows:
// open connections break at once.
func (s *PostgresServer) Stop(t testing.TB) { s.p.stop(syscall.SIGQUIT) }

// Start brings the server back on the same port with its data intact.
func (s *PostgresServer) Start(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatalf("testenv: %v", err)
	}
}

// Restart is Stop then Start: existing connections break, new ones work.
func (s *PostgresServer) Restart(t testing.TB) {
	t.Helper()
	s.Stop(t)
	s.Start(t)
}
