package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RedisServer is a private redis-server, for tests that need to kill,
// restart or reconfigure a server (which would disturb every other test on a
// shared one).
type RedisServer struct {
	p    *proc
	port int
}

// StartRedis passes args through to redis-server so tests can add e.g.
// "--cluster-enabled", "yes"; the cluster bus port (port+10000) is reserved
// along with the port.
func StartRedis(t testing.TB, args ...string) *RedisServer {
	needServers(t)
	t.Helper()
	s, err := startRedis(args...)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(s.p.close)
	return s
}

func startRedis(args ...string) (*RedisServer, error) {
	bin, err := exec.LookPath(RedisServerBinary())
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := tempDir("redis")
	if err != nil {
		return nil, err
	}
	argv := append([]string{bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir}, args...)
	s := &RedisServer{p: &proc{name: "redis-server", dir: dir, argv: argv, termSig: syscall.SIGTERM}, port: port}
	track(s.p)
	if err := s.start(); err != nil {
		s.p.close()
		return nil, err
	}
	return s, nil
}

func (s *RedisServer) start() error {
	if err := s.p.start(); err != nil {
		return err
	}
	return s.p.waitReady(30*time.Second, func() error { return redisCmd(s.Addr(), "PING") })
}

// Addr is host:port, for clients that want an address rather than a URL.
func (s *RedisServer) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL selects database db so that several clients can share the server.
func (s *RedisServer) URL(db int) string { return fmt.Sprintf("redis://%s/%d", s.Addr(), db) }

// Stop simulates a crash: no shutdown handshake, connections just break.
func (s *RedisServer) Stop(t testing.TB) { s.p.stop(syscall.SIGKILL) }

// Start brings the server back on the same port with an empty dataset
// (nothing is persisted); a cluster node keeps its nodes.conf and so rejoins.
func (s *RedisServer) Start(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatalf("testenv: %v", err)
	}
}

// Pause freezes the server (SIGSTOP): connections stay open but nothing
// answers, as with a hung server or a network black hole. Resume thaws it.
func (s *RedisServer) Pause(t testing.TB) { s.p.signal(t, syscall.SIGSTOP) }

// Resume thaws a paused server.
func (s *RedisServer) Resume(t testing.TB) { s.p.signal(t, syscall.SIGCONT) }

// Restart is a crash followed by a recovery with total data loss.
func (s *RedisServer) Restart(t testing.TB) {
	t.Helper()
	s.Stop(t)
	s.Start(t)
}

// shared is the per-process server behind Redis; its databases are handed out
// one per test, which is far cheaper than a server per test.
var shared struct {
	once sync.Once
	addr string
	dbs  *dbPool
	err  error
}

// Redis gives the test a database of its own on a shared server, so tests
// using it can run in parallel without seeing each other's keys.
func Redis(t testing.TB) string {
	needServers(t)
	t.Helper()
	shared.once.Do(startShared)
	if shared.err != nil {
		t.Fatalf("testenv: shared redis: %v", shared.err)
	}
	n, err := shared.dbs.get()
	if err == nil {
		err = redisCmd(shared.addr, "SELECT "+strconv.Itoa(n), "FLUSHDB")
	}
	if err != nil {
		t.Fatalf("testenv: redis database: %v", err)
	}
	t.Cleanup(func() {
		if err := redisCmd(shared.addr, "SELECT "+strconv.Itoa(n), "FLUSHDB"); err != nil {
			t.Errorf("testenv: flushing redis db %d: %v", n, err)
		}
		shared.dbs.put(n)
	})
	return fmt.Sprintf("redis://%s/%d", shared.addr, n)
}

// sharedIsExternal: the shared server is one PGREDIS_TEST_REDIS_ADDR
// names, not one testenv started.
func sharedIsExternal() bool { return os.Getenv("PGREDIS_TEST_REDIS_ADDR") != "" }

func startShared() {
	if shared.addr = os.Getenv("PGREDIS_TEST_REDIS_ADDR"); shared.addr != "" {
		// Other test processes share this server: lock numbers across them.
		shared.dbs = newDBPool(1, 15, 1<<16+int64(crc32.ChecksumIEEE([]byte(shared.addr))&0xffff)<<4)
		return
	}
	s, err := startRedis("--databases", "4096")
	if err != nil {
		shared.err = err
		return
	}
	shared.addr, shared.dbs = s.Addr(), newDBPool(0, 4095, 0)
}

// dbPool allocates database numbers; with lock > 0 it also locks number n at
// offset lock+n of the lock file, against other processes.
type dbPool struct {
	free chan int
	lock int64
}

func newDBPool(first, last int, lock int64) *dbPool {
	p := &dbPool{free: make(chan int, last-first+1), lock: lock}
	for n := first; n <= last; n++ {
		p.free <- n
	}
	return p
}

// get blocks while every number is in use.
func (p *dbPool) get() (int, error) {
	for delay := 10 * time.Millisecond; ; delay = min(delay*2, 200*time.Millisecond) {
		n := <-p.free
		if p.lock == 0 {
			return n, nil
		}
		ok, err := tryLock(p.lock + int64(n))
		if ok {
			return n, nil
		}
		p.free <- n // another process has it; try the next one
		if err != nil {
			return 0, err
		}
		time.Sleep(delay)
	}
}

func (p *dbPool) put(n int) {
	if p.lock > 0 {
		unlock(p.lock + int64(n))
	}
	p.free <- n
}

// RedisServerBinary is the server every private and shared test server
// runs: PGREDIS_TEST_REDIS_SERVER (a name on the PATH or a path, e.g.
// valkey-server, so the Redis-facing suite runs against Valkey too),
// redis-server by default.
func RedisServerBinary() string {
	if bin := os.Getenv("PGREDIS_TEST_REDIS_SERVER"); bin != "" {
		return bin
	}
	return "redis-server"
}

// redisInfo returns INFO SECTION of the server at addr.
func redisInfo(addr, section string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(c, "INFO %s\r\n", section); err != nil {
		return "", err
	}
	r := bufio.NewReader(c)
	head, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(head, "$") {
		return "", fmt.Errorf("INFO %s: %s", section, strings.TrimSpace(head))
	}
	n, err := strconv.Atoi(strings.TrimSpace(head[1:]))
	if err != nil {
		return "", err
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return "", err
	}
	return string(body), nil
}

// redisCmd sends inline commands on a fresh connection; it avoids a client
// library so that readiness probes cannot leave pools or goroutines behind.
func redisCmd(addr string, cmds ...string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	for _, cmd := range cmds {
		if _, err := fmt.Fprintf(c, "%s\r\n", cmd); err != nil {
			return err
		}
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if strings.HasPrefix(line, "-") {
			return errors.New(strings.TrimSpace(line[1:]))
		}
	}
	return nil
}
