package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) { Main(m) }

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func databaseExists(t *testing.T, url string) bool {
	t.Helper()
	name := url[strings.LastIndex(url, "/")+1 : strings.Index(url, "?")]
	var n int
	err := connect(t, PostgresURL()).QueryRow(context.Background(),
		"SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func TestDatabase(t *testing.T) {
	needServers(t)
	t.Parallel()
	var setups atomic.Int32
	setup := func(ctx context.Context, url string) error {
		setups.Add(1)
		// Deliberately left open: Database must evict it before cloning.
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return err
		}
		_, err = conn.Exec(ctx, "CREATE TABLE kv (k text PRIMARY KEY, v text); INSERT INTO kv VALUES ('seed', 'x')")
		return err
	}
	var urls [2]string
	t.Run("clones", func(t *testing.T) {
		urls[0] = Database(t, "testenv kv", setup)
		urls[1] = Database(t, "testenv kv", setup)
		if urls[0] == urls[1] {
			t.Fatalf("same database twice: %s", urls[0])
		}
		a, b := connect(t, urls[0]), connect(t, urls[1])
		for _, c := range []*pgx.Conn{a, b} {
			var v string
			if err := c.QueryRow(context.Background(), "SELECT v FROM kv WHERE k = 'seed'").Scan(&v); err != nil || v != "x" {
				t.Fatalf("seed row from template: %q, %v", v, err)
			}
		}
		if _, err := a.Exec(context.Background(), "INSERT INTO kv VALUES ('only-a', 'a')"); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := b.QueryRow(context.Background(), "SELECT count(*) FROM kv").Scan(&n); err != nil || n != 1 {
			t.Fatalf("b sees %d rows (%v), want only the seed row", n, err)
		}
		if !databaseExists(t, urls[0]) || !databaseExists(t, urls[1]) {
			t.Fatal("databases missing from pg_database while in use")
		}
	})
	t.Run("parallel clones", func(t *testing.T) {
		for i := range 6 {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				var n int
				if err := connect(t, Database(t, "testenv kv", setup)).QueryRow(context.Background(), "SELECT count(*) FROM kv").Scan(&n); err != nil || n != 1 {
					t.Fatalf("clone has %d rows (%v)", n, err)
				}
			})
		}
	})
	if got := setups.Load(); got != 1 {
		t.Errorf("setup ran %d times, want once", got)
	}
	for _, u := range urls {
		if u == "" || databaseExists(t, u) {
			t.Errorf("database %q not dropped after its test", u)
		}
	}
}

func TestDatabaseSetupError(t *testing.T) {
	needServers(t)
	t.Parallel()
	ft := &fakeTB{TB: t}
	runFake(ft, func() {
		Database(ft, "testenv broken", func(context.Context, string) error { return errors.New("boom") })
	})
	if !strings.Contains(ft.msg, "boom") {
		t.Fatalf("setup error not reported: %q", ft.msg)
	}
}

func TestRedis(t *testing.T) {
	needServers(t)
	t.Parallel()
	var mu sync.Mutex
	seen := map[string]bool{}
	t.Run("group", func(t *testing.T) {
		for i := range 8 {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				url := Redis(t)
				mu.Lock()
				if seen[url] {
					t.Errorf("database %s handed out twice", url)
				}
				seen[url] = true
				mu.Unlock()
				c := redisClient(t, url)
				if n, err := c.DBSize(context.Background()).Result(); err != nil || n != 0 {
					t.Fatalf("fresh database has %d keys (%v)", n, err)
				}
				if err := c.Set(context.Background(), "k", url, 0).Err(); err != nil {
					t.Fatal(err)
				}
				time.Sleep(10 * time.Millisecond) // overlap with the other subtests
				if v, err := c.Get(context.Background(), "k").Result(); err != nil || v != url {
					t.Fatalf("got %q (%v), another test wrote to our database", v, err)
				}
			})
		}
	})
	if len(seen) != 8 {
		t.Fatalf("got %d distinct databases, want 8", len(seen))
	}
	for url := range seen {
		if lock := shared.dbs.lock; lock > 0 {
			// The server is shared with other test processes, which may have
			// taken the number meanwhile: only check it if we can lock it.
			db, _ := strconv.Atoi(url[strings.LastIndex(url, "/")+1:])
			if ok, err := tryLock(lock + int64(db)); !ok || err != nil {
				continue
			}
			defer unlock(lock + int64(db))
		}
		if n, err := redisClient(t, url).DBSize(context.Background()).Result(); err != nil || n != 0 {
			t.Errorf("%s not flushed after its test: %d keys (%v)", url, n, err)
		}
	}
}

func redisClient(t *testing.T, url string) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	opts.MaxRetries = -1
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestStartRedis(t *testing.T) {
	needServers(t)
	t.Parallel()
	var addr string
	t.Run("restart", func(t *testing.T) {
		s := StartRedis(t)
		addr = s.Addr()
		c := redisClient(t, s.URL(3))
		ctx := context.Background()
		if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		s.Restart(t)
		if s.Addr() != addr {
			t.Fatalf("address changed from %s to %s", addr, s.Addr())
		}
		if err := c.Get(ctx, "k").Err(); err != redis.Nil {
			t.Fatalf("key survived restart: %v", err)
		}
		s.Stop(t)
		if err := c.Ping(ctx).Err(); err == nil {
			t.Fatal("ping answered while stopped")
		}
		s.Start(t)
		Eventually(t, 20*time.Second, func() error { return c.Ping(ctx).Err() })
	})
	t.Run("cluster args", func(t *testing.T) {
		s := StartRedis(t, "--cluster-enabled", "yes")
		if info, err := redisClient(t, s.URL(0)).ClusterInfo(context.Background()).Result(); err != nil || !strings.Contains(info, "cluster_state") {
			t.Fatalf("cluster info %q: %v", info, err)
		}
	})
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatalf("redis at %s still running after its test", addr)
	}
}

func TestStartPostgres(t *testing.T) {
	needServers(t)
	t.Parallel()
	var url string
	t.Run("restart", func(t *testing.T) {
		s := StartPostgres(t)
		url = s.URL("postgres")
		ctx := context.Background()
		before := connect(t, url)
		if _, err := before.Exec(ctx, "CREATE TABLE survives (x int)"); err != nil {
			t.Fatal(err)
		}
		s.Restart(t)
		if err := before.Ping(ctx); err == nil {
			t.Fatal("connection from before the restart still works")
		}
		if _, err := connect(t, url).Exec(ctx, "SELECT * FROM survives"); err != nil {
			t.Fatalf("after restart: %v", err)
		}
	})
	if conn, err := pgx.Connect(context.Background(), url); err == nil {
		conn.Close(context.Background())
		t.Fatal("private postgres still running after its test")
	}
}

func TestFreePort(t *testing.T) {
	t.Parallel()
	seen := map[int]bool{}
	for range 20 {
		p := FreePort(t)
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatalf("port %d not free: %v", p, err)
		}
		l.Close()
	}
}

// fakeTB records Fatalf instead of ending the real test.
type fakeTB struct {
	testing.TB
	msg string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(f)
}

// runFake runs fn, absorbing the panic by which fakeTB ends it like FailNow.
func runFake(f *fakeTB, fn func()) {
	defer func() {
		if r := recover(); r != nil && r != f {
			panic(r)
		}
	}()
	fn()
}

func TestEventually(t *testing.T) {
	t.Parallel()
	calls := 0
	Eventually(t, 20*time.Second, func() error {
		if calls++; calls < 4 {
			return errors.New("not yet")
		}
		return nil
	})
	if calls != 4 {
		t.Fatalf("check called %d times, want 4", calls)
	}

	ft := &fakeTB{TB: t}
	start := time.Now()
	n := 0
	runFake(ft, func() {
		Eventually(ft, 300*time.Millisecond, func() error { n++; return fmt.Errorf("attempt %d", n) })
	})
	if took := time.Since(start); took < 300*time.Millisecond || took > 2*time.Second {
		t.Errorf("gave up after %v, want about 300ms", took)
	}
	if want := fmt.Sprintf("attempt %d", n); !strings.Contains(ft.msg, want) {
		t.Errorf("failure %q does not report the last error %q", ft.msg, want)
	}
}

func TestDBPoolBlocksWhenExhausted(t *testing.T) {
	needServers(t)
	t.Parallel()
	p := newDBPool(1, 2, 0)
	a, _ := p.get()
	b, _ := p.get()
	if a == b {
		t.Fatalf("number %d handed out twice", a)
	}
	got := make(chan int)
	go func() { n, _ := p.get(); got <- n }()
	select {
	case n := <-got:
		t.Fatalf("got number %d while both were taken", n)
	case <-time.After(100 * time.Millisecond):
	}
	p.put(b)
	select {
	case n := <-got:
		if n != b {
			t.Fatalf("got %d, want the freed %d", n, b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiter not served after a number was freed")
	}
}
