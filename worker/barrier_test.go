package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/mirror"
)

// barrierDDL adds a table only the test writes, beside the writer's.
const barrierDDL = faultDDL + `;
CREATE TABLE ryw (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO ryw VALUES (1, 0)`

// mirroredV reads the v field of the JSON value at key.
func mirroredV(t *testing.T, b *pgredistest.Bundle, key string) int {
	t.Helper()
	s, err := b.Redis.Get(context.Background(), key).Result()
	if err != nil {
		t.Fatalf("GET %s: %v", key, err)
	}
	var row struct{ V int }
	if err := json.Unmarshal([]byte(s), &row); err != nil {
		t.Fatalf("GET %s: %q: %v", key, s, err)
	}
	return row.V
}

// Guarantee 13: after write -> barrier -> BLPOP, a GET shows the write,
// every time, while another writer keeps the worker busy. The barrier is
// called by a role with no privilege at all.
func TestBarrierReadYourWrites(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, barrierDDL, faultTables+"; ryw")
	b.StartWorker(t)
	b.WaitMirror(t, 20*time.Second)
	app := writerRole(t, b, "GRANT SELECT, UPDATE ON ryw TO ROLE")
	w := startWriter(t, b)
	ctx := context.Background()
	var waited time.Duration
	for i := 1; i <= 1000; i++ {
		if _, err := app.Exec(ctx, "UPDATE ryw SET v = $1 WHERE id = 1", i); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := mirror.WaitForMirror(wctx, app, b.Redis)
		cancel()
		if err != nil {
			t.Fatalf("iteration %d: %v", i, err)
		}
		waited += time.Since(start)
		if v := mirroredV(t, b, "ryw:1"); v != i {
			t.Fatalf("iteration %d: after the barrier, Redis has v=%d, want %d", i, v, i)
		}
	}
	t.Logf("1000 barriers, mean round trip %v, beside %d writer commits", (waited / 1000).Round(time.Microsecond), w.commits.Load())
	// The application role cannot read or forge the barrier table.
	if _, err := app.Exec(ctx, "DELETE FROM pgredis.barriers"); err == nil {
		t.Error("an application role could delete the pending barriers")
	}
	w.stop()
	b.WaitMirror(t, 20*time.Second)
	// Answered barriers are forgotten.
	var n int
	if err := b.PG.QueryRow(ctx, "SELECT count(*) FROM pgredis.barriers").Scan(&n); err != nil || n != 0 {
		t.Errorf("%d barriers left in pgredis.barriers (%v), want 0", n, err)
	}
}

// A barrier pending when the active worker dies is answered by the
// standby that takes over: its notification went out before the standby
// listened, so only the recorded row can answer it. The writer's last
// changes, never applied by the frozen worker, must be in Redis too.
func TestBarrierTakeover(t *testing.T) {
	t.Parallel()
	b, a, s, w := activeStandbyWriter(t)
	ctx := context.Background()
	// Frozen, the active worker holds the lock but answers nothing.
	a.signal(t, syscall.SIGSTOP)
	// The writer's deletes would race the check below; what it committed
	// until now waits in the queue unapplied.
	w.stop()
	b.Exec(t, "INSERT INTO acct VALUES (5000, 42, 'barrier') ON CONFLICT (id) DO UPDATE SET v = 42")
	name, err := mirror.Barrier(ctx, b.PG)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(name, pgredistest.StatePrefix+"barrier:") {
		t.Fatalf("barrier list %q is not under the state prefix %q", name, pgredistest.StatePrefix)
	}
	a.signal(t, syscall.SIGKILL)
	waitActiveProc(t, b, s, 20*time.Second)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := mirror.Wait(wctx, b.Redis, name); err != nil {
		t.Fatalf("the new active worker did not answer the barrier pending at takeover: %v", err)
	}
	if v := mirroredV(t, b, "acct:5000"); v != 42 {
		t.Fatalf("after the barrier, Redis has v=%d for acct:5000, want 42", v)
	}
	if ttl := b.Redis.PTTL(ctx, name).Val(); ttl != -2*time.Nanosecond && (ttl <= 0 || ttl > time.Minute) {
		t.Errorf("barrier list %s has TTL %v, want at most a minute", name, ttl)
	}
	// Every change before the barrier is in Redis: the whole mirror is exact.
	b.RequireMirror(t)
}

// With no worker running, the application's wait times out; the barrier
// is recorded, and a worker that starts later answers it.
func TestBarrierNoWorker(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, barrierDDL, "ryw")
	ctx := context.Background()
	name, err := mirror.Barrier(ctx, b.PG)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	start := time.Now()
	err = mirror.Wait(wctx, b.Redis, name)
	if !errors.Is(err, mirror.ErrTimeout) {
		t.Fatalf("with no worker, the wait returned %v, want a timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the wait took %v with a one-second deadline", d)
	}
	b.StartWorker(t)
	wctx2, cancel2 := context.WithTimeout(ctx, 20*time.Second)
	defer cancel2()
	if err := mirror.Wait(wctx2, b.Redis, name); err != nil {
		t.Fatalf("a worker started later did not answer the recorded barrier: %v", err)
	}
	b.RequireMirror(t)
}
