package worker_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
)

var burstRows = envInt("PGREDIS_TEST_BURST_ROWS", 1_000_000)

// burstRSSBound is the documented bound on the worker's resident memory
// while it applies a burst of any size (docs/guarantees.md, failure mode 7): the burst
// waits in PostgreSQL's notification queue, the worker holds at most
// Buffer notifications read ahead plus one batch.
const burstRSSBound = 96 << 20

// vm reads a Vm* line of /proc/<pid>/status, in bytes.
func vm(t testing.TB, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// Fault 7: one statement updates 1,000,000 rows under a running worker
// process. Its peak RSS while applying the burst stays under the
// documented bound, and the mirror converges exactly.
func TestFaultMillionRowUpdate(t *testing.T) {
	t.Parallel()
	start := time.Now()
	b := pgredistest.New(t, `CREATE TABLE big (id int PRIMARY KEY, n int NOT NULL)`, "big")
	p := startWorkerProc(t, b)
	p.logs.Wait(t, 30*time.Second, "table reconciled", "table=public.big")
	// Load the rows behind the triggers' back (replica mode fires none):
	// Redis stays empty, and the burst below alone must fill it.
	b.Exec(t, fmt.Sprintf(`SET session_replication_role = replica;
		INSERT INTO big SELECT g, 0 FROM generate_series(1, %d) g;
		RESET session_replication_role`, burstRows))
	pid := p.cmd.Process.Pid
	before := vm(t, pid, "VmHWM")
	t.Logf("setup: %v", time.Since(start).Round(time.Millisecond))

	began := time.Now()
	b.Exec(t, `UPDATE big SET n = n + 1`)
	committed := time.Since(began)
	// Notifications apply in commit order: once this later change is in
	// Redis, the whole burst is.
	b.Exec(t, `UPDATE big SET n = n + 1 WHERE id = 1`)
	ctx := context.Background()
	testenv.Eventually(t, 120*time.Second, func() error {
		if v, err := b.Redis.Get(ctx, "big:1").Result(); err != nil || !strings.Contains(v, `"n": 2`) {
			return fmt.Errorf("big:1 = %q (%v)", v, err)
		}
		return nil
	})
	applied := time.Since(began)
	peak := vm(t, pid, "VmHWM")
	t.Logf("UPDATE of %d rows committed in %v, applied %v after it began; worker peak RSS %d MiB (%d MiB before)",
		burstRows, committed.Round(time.Millisecond), applied.Round(time.Millisecond), peak>>20, before>>20)
	measured(t, "fault 7: 1M-row UPDATE applied after it began", applied)
	t.Logf("MEASURED fault 7: worker peak RSS during the burst: %d MiB", peak>>20)
	if peak > burstRSSBound {
		t.Fatalf("worker peak RSS %d MiB during the burst, bound %d MiB", peak>>20, burstRSSBound>>20)
	}
	requireBigMirror(t, b)
	t.Logf("whole test: %v", time.Since(start).Round(time.Millisecond))
}

// requireBigMirror is an exact check of the big table's mirror that scales
// to a million keys: each row's key must hold to_jsonb of the row, and no
// other key of the table may exist.
func requireBigMirror(t testing.TB, b *pgredistest.Bundle) {
	t.Helper()
	ctx := context.Background()
	rows, err := b.PG.Query(ctx, `SELECT 'big:' || id, to_jsonb(big)::text FROM big`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var keys, want []string
	var n int
	check := func() {
		got, err := b.Redis.MGet(ctx, keys...).Result()
		if err != nil {
			t.Fatal(err)
		}
		for i, g := range got {
			if s, _ := g.(string); s != want[i] {
				t.Fatalf("%s = %v, want %s", keys[i], g, want[i])
			}
		}
		keys, want = keys[:0], want[:0]
	}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		keys, want = append(keys, k), append(want, v)
		n++
		if len(keys) == 5000 {
			check()
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(keys) > 0 {
		check()
	}
	state, err := b.Redis.Keys(ctx, pgredistest.StatePrefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	size, err := b.Redis.DBSize(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if size != int64(n+len(state)) {
		t.Fatalf("Redis holds %d keys, want %d rows + %d state keys", size, n, len(state))
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}
