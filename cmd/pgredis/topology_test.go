package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
)

const topologyDDL = `
CREATE TABLE t (id int PRIMARY KEY, v text);
CREATE TABLE h (id int PRIMARY KEY, a text, b int)`

const topologyTables = "t; h key=h:{id} format=hash ttl=1h"

// useEnvRedis points the bundle at the Redis e describes, through the
// same client construction the commands use.
func useEnvRedis(t *testing.T, b *pgredistest.Bundle, e *env) {
	t.Helper()
	if _, err := e.redis(); err != nil {
		t.Fatal(err)
	}
	b.UseRedis(t, func() redis.UniversalClient {
		c, _ := e.redis()
		return c
	})
}

// exercise runs writes of every kind against a running worker and
// waits for the exact mirror.
func exercise(t *testing.T, b *pgredistest.Bundle) {
	t.Helper()
	b.Exec(t, `INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 300) g`)
	b.Exec(t, `INSERT INTO h SELECT g, 'a' || g, g FROM generate_series(1, 200) g`)
	b.Exec(t, `UPDATE t SET v = 'updated' WHERE id % 3 = 0`)
	b.Exec(t, `UPDATE t SET id = id + 1000 WHERE id % 7 = 0`)
	b.Exec(t, `DELETE FROM h WHERE id % 5 = 0`)
	b.Exec(t, `UPDATE h SET a = NULL WHERE id % 4 = 0`)
	b.WaitMirror(t, 30*time.Second)
	b.Exec(t, `TRUNCATE h`)
	b.Exec(t, `INSERT INTO h VALUES (1, 'back', 1)`)
	b.WaitMirror(t, 30*time.Second)
}

func waitActive(t *testing.T, active func() bool) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, func() error {
		if !active() {
			return fmt.Errorf("worker not active")
		}
		return nil
	})
}

// TestRedisCluster mirrors into a real 3-master Redis Cluster: writes
// spread over many slots go through the per-slot fenced script, the
// first reconcile repairs drift on every master, and a master that
// restarts empty (losing its keys and its slots' owner keys) is noticed
// and rebuilt.
func TestRedisCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	nodes := testenv.StartCluster(t, 3)
	b := pgredistest.New(t, topologyDDL, topologyTables)
	e := &env{RedisURL: "redis://" + nodes[0].Addr() + "?addr=" + nodes[1].Addr(), RedisCluster: true, StatePrefix: pgredistest.StatePrefix}
	useEnvRedis(t, b, e)
	rdb, _ := e.redis()
	defer rdb.Close()

	// Drift on several masters before the worker starts.
	b.Exec(t, `INSERT INTO t SELECT g, 'seed' FROM generate_series(2001, 2050) g`)
	for i := 0; i < 30; i++ {
		rdb.Set(ctx, fmt.Sprintf("t:%d", 5000+i), "stray", 0)
		rdb.Set(ctx, fmt.Sprintf("t:%d", 2001+i), "stale", 0)
	}
	w := b.StartWorker(t)
	waitActive(t, w.Active)
	b.WaitMirror(t, 30*time.Second)
	exercise(t, b)

	// Every master holds keys, so the batches really spanned slots.
	err := rdb.(*redis.ClusterClient).ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		if size := n.DBSize(ctx).Val(); size < 10 {
			return fmt.Errorf("master %s holds only %d keys", n.Options().Addr, size)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// A master restarts empty: its slots lose their keys and owner keys.
	nodes[2].Restart(t)
	testenv.Eventually(t, 30*time.Second, func() error {
		return rdb.(*redis.ClusterClient).ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
			return n.Ping(ctx).Err()
		})
	})
	b.WaitMirror(t, 30*time.Second)
	b.Exec(t, `UPDATE t SET v = 'after restart'`)
	b.WaitMirror(t, 30*time.Second)

	// A master flushed while no write goes to it: only the check of its
	// slots' owner keys can notice. Pick one that holds neither the main
	// owner key nor the status key the heartbeat writes.
	busy := map[string]bool{}
	for _, k := range []string{"pgredis:owner", "pgredis:status"} {
		m, err := rdb.(*redis.ClusterClient).MasterForKey(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		busy[m.Options().Addr] = true
	}
	var quiet *redis.Client
	for _, n := range nodes {
		if !busy[n.Addr()] {
			quiet = redis.NewClient(&redis.Options{Addr: n.Addr()})
			defer quiet.Close()
		}
	}
	if quiet == nil {
		t.Fatal("no master without state keys")
	}
	if err := quiet.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	b.WaitMirror(t, 30*time.Second)
}

// TestRedisSentinel mirrors into a master found through a real sentinel.
func TestRedisSentinel(t *testing.T) {
	t.Parallel()
	master := testenv.StartRedis(t)
	sentinel := testenv.StartSentinel(t, "pgredismaster", master.Addr())
	b := pgredistest.New(t, topologyDDL, topologyTables)
	// The URL's host is unused: the sentinel names the master.
	e := &env{RedisURL: "redis://sentinel-knows/0", SentinelMaster: "pgredismaster", SentinelAddrs: " " + sentinel.Addr() + ", ",
		StatePrefix: pgredistest.StatePrefix}
	useEnvRedis(t, b, e)
	w := b.StartWorker(t)
	waitActive(t, w.Active)
	exercise(t, b)
	// The writes really landed on the monitored master.
	direct := redis.NewClient(&redis.Options{Addr: master.Addr()})
	defer direct.Close()
	if n := direct.DBSize(context.Background()).Val(); n < 100 {
		t.Fatalf("master holds %d keys", n)
	}
}

// TestRedisTLS mirrors over rediss:// to a TLS-only port with a
// certificate generated here: refused without trust, accepted with
// PGREDIS_REDIS_CA_CERT or with the explicit ?skip_verify=true opt-in.
func TestRedisTLS(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	certs := testenv.WriteTLSFiles(t)
	ca := certs.CA
	_, tlsPort := testenv.StartTLSRedis(t, certs, false)
	url := fmt.Sprintf("rediss://127.0.0.1:%d/0", tlsPort)

	ping := func(e *env) error {
		c, err := e.redis()
		if err != nil {
			return err
		}
		defer c.Close()
		return c.Ping(ctx).Err()
	}
	if err := ping(&env{RedisURL: url}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("an untrusted self-signed certificate was accepted: %v", err)
	}
	if err := ping(&env{RedisURL: url + "?skip_verify=true"}); err != nil {
		t.Fatalf("skip_verify=true: %v", err)
	}
	if err := ping(&env{RedisURL: strings.Replace(url, "rediss", "redis", 1), RedisCACert: ca}); err == nil || !strings.Contains(err.Error(), "rediss://") {
		t.Fatalf("a CA for a plain redis:// URL: %v", err)
	}

	b := pgredistest.New(t, topologyDDL, topologyTables)
	useEnvRedis(t, b, &env{RedisURL: url, RedisCACert: ca, StatePrefix: pgredistest.StatePrefix})
	w := b.StartWorker(t)
	waitActive(t, w.Active)
	exercise(t, b)
}
