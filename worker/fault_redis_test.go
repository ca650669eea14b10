package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
)

// Fault 3: Redis goes away while the writer commits and comes back empty.
// The worker logs the outage once (not per retry) and rebuilds the mirror
// on its own, without a resync.
func TestFaultRedisRestart(t *testing.T) {
	t.Parallel()
	r := testenv.StartRedis(t)
	b := bundleAt(t, "", r.URL(0))
	logs := startLogged(t, b)
	b.WaitMirror(t, 30*time.Second)
	w := startWriter(t, b)
	w.waitCommits(t, 50)

	r.Stop(t)
	logs.Wait(t, 20*time.Second, "Redis is unavailable")
	// Several retries (MaxBackoff is 1s) while the writer goes on.
	down := time.Now()
	w.waitCommits(t, 300)
	testenv.Eventually(t, 30*time.Second, func() error {
		if time.Since(down) < 3*time.Second {
			return fmt.Errorf("not down long enough")
		}
		return nil
	})
	r.Start(t)
	back := time.Now()
	logs.Wait(t, 30*time.Second, "Redis is back")
	measured(t, "fault 3: Redis back and mirror rebuilt after the restart", time.Since(back))
	w.waitCommits(t, 50)
	measured(t, "fault 3 (Redis restart): convergence after writes stop", convergeTime(t, b, w))
	if n := len(logs.Lines("Redis is unavailable")); n != 1 {
		t.Fatalf("the outage was logged %d times, want once:\n%s", n, strings.Join(logs.Lines("Redis is"), "\n"))
	}
	if n := len(logs.Lines("Redis is back")); n != 1 {
		t.Fatalf("the recovery was logged %d times, want once", n)
	}
}

// Fault 3, second half: a FLUSHDB on a live Redis (or a failover to an
// empty replica) is noticed by the worker, which rebuilds the mirror.
func TestFaultRedisFlush(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, faultDDL, faultTables)
	logs := startLogged(t, b)
	b.WaitMirror(t, 30*time.Second)
	w := startWriter(t, b)
	w.waitCommits(t, 50)
	flushed := time.Now()
	if err := b.Redis.FlushDB(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	logs.Wait(t, 20*time.Second, "rebuilding the mirror")
	measured(t, "fault 3 (FLUSHDB): flush noticed", time.Since(flushed))
	w.waitCommits(t, 100)
	measured(t, "fault 3 (FLUSHDB): convergence after writes stop", convergeTime(t, b, w))
}

// A Redis that refuses writes (out of memory under maxmemory) is a
// defined outcome: one log line naming the table and the fix, retries
// with backoff, and a full reconcile once Redis accepts writes again.
func TestRedisRefusesWrites(t *testing.T) {
	t.Parallel()
	r := testenv.StartRedis(t, "--maxmemory-policy", "noeviction")
	b := bundleAt(t, "", r.URL(0))
	logs := startLogged(t, b)
	b.WaitMirror(t, 30*time.Second)

	ctx := context.Background()
	used, err := b.Redis.InfoMap(ctx, "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	limit := used["Memory"]["used_memory"]
	if err := b.Redis.ConfigSet(ctx, "maxmemory", limit).Err(); err != nil {
		t.Fatal(err)
	}
	b.Exec(t, `UPDATE acct SET note = repeat('x', 10000)`)
	line := logs.Wait(t, 20*time.Second, "Redis is refusing writes", "table=public.acct")
	for _, want := range []string{"OOM", "raise maxmemory"} {
		if !strings.Contains(line, want) {
			t.Fatalf("log line lacks %q: %s", want, line)
		}
	}
	// Retries go on meanwhile, without a line each.
	retried := time.Now()
	testenv.Eventually(t, 30*time.Second, func() error {
		if time.Since(retried) < 2*time.Second {
			return fmt.Errorf("let it retry")
		}
		return nil
	})
	if n := len(logs.Lines("Redis is refusing writes")); n > 2 {
		t.Fatalf("the refusal was logged %d times, want once per state change", n)
	}
	if err := b.Redis.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	b.WaitMirror(t, 30*time.Second)
	logs.Wait(t, 10*time.Second, "Redis is back")
}

// Item 3: a value over Redis's proto-max-bulk-len is refused on its own:
// the key is reported (log naming the table, the key and the fix;
// readiness), the rest of its table and every other table stay live, and
// the mirror converges once the limit is raised. Redis closes the
// connection right after its error; a value far over the limit is still
// being sent then, so the client sees the connection reset instead of
// the error, and that is a refusal too, not an outage.
func TestRedisRefusesLargeValue(t *testing.T) {
	t.Parallel()
	for _, size := range []int{1_200_000, 24_000_000} {
		t.Run(fmt.Sprint("bytes=", size), func(t *testing.T) {
			t.Parallel()
			testRedisRefusesLargeValue(t, size)
		})
	}
}

func testRedisRefusesLargeValue(t *testing.T, size int) {
	r := testenv.StartRedis(t, "--proto-max-bulk-len", "1mb")
	b := bundleAt(t, "", r.URL(0))
	b.Exec(t, `CREATE TABLE doc (id int PRIMARY KEY, v int); INSERT INTO doc SELECT g, g FROM generate_series(1, 20) g`)
	b.Install(t, "acct; doc")
	cfg := b.Config(t)
	var logs *pgredistest.Logs
	cfg.Logger, logs = pgredistest.CaptureLogs(t)
	cfg.MaxBackoff = 500 * time.Millisecond
	cfg.CheckInterval = 100 * time.Millisecond
	w := b.StartWorkerWith(t, cfg)
	b.WaitMirror(t, 30*time.Second)
	b.Exec(t, fmt.Sprintf(`UPDATE acct SET note = repeat('y', %d) WHERE id = 5`, size))
	line := logs.Wait(t, 20*time.Second, "table quarantined", "table=public.acct", "key=acct:5")
	if !strings.Contains(line, "proto-max-bulk-len") {
		t.Fatalf("log line lacks the fix: %s", line)
	}
	if lines := append(logs.Lines("Redis is refusing writes"), logs.Lines("Redis is unavailable")...); len(lines) > 0 {
		t.Fatalf("one refused value stopped the mirror:\n%s", strings.Join(lines, "\n"))
	}
	// The rest of acct and all of doc stay live.
	b.Exec(t, `UPDATE acct SET v = v + 7 WHERE id = 6; UPDATE doc SET v = v * 3`)
	specs, outside := b.Specs, b.Outside
	b.Specs = b.Specs[1:]
	b.Outside = func(k string) bool { return strings.HasPrefix(k, "acct:") }
	b.WaitMirror(t, 30*time.Second)
	b.Specs, b.Outside = specs, outside
	ctx := context.Background()
	testenv.Eventually(t, 10*time.Second, func() error {
		exp, err := b.Expect(ctx)
		if err != nil {
			return err
		}
		got, _ := b.Redis.Get(ctx, "acct:6").Result()
		var g, e any
		_ = json.Unmarshal([]byte(got), &g)
		_ = json.Unmarshal([]byte(exp.Strings["acct:6"]), &e)
		if !reflect.DeepEqual(g, e) {
			return fmt.Errorf("acct:6 = %q, want %q", got, exp.Strings["acct:6"])
		}
		return nil
	})
	if err := w.Ready(); err == nil || !strings.Contains(err.Error(), "acct:5") {
		t.Fatalf("readiness %v, want it to name acct:5", err)
	}
	if err := b.Redis.ConfigSet(ctx, "proto-max-bulk-len", "64mb").Err(); err != nil {
		t.Fatal(err)
	}
	b.WaitMirror(t, 30*time.Second)
}
