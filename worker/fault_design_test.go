package worker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
	"github.com/pgredis/pgredis/notify"
	"github.com/pgredis/pgredis/worker"
)

// A listening session held back by a slow consumer (a full Payloads
// channel, e.g. during a long reconcile) is not dead: its liveness ping
// must not time out while it waits for the consumer.
func TestSessionSlowConsumerStaysAlive(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, "", "")
	cfg, err := pgx.ParseConfig(b.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sess, err := notify.Dial(ctx, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close(ctx)
	if err := sess.Listen(ctx, "slow"); err != nil {
		t.Fatal(err)
	}
	const idle = 50 * time.Millisecond
	lost := sess.Go(ctx, idle)
	const n = 20
	b.Exec(t, fmt.Sprintf(`SELECT pg_notify('slow', g::text) FROM generate_series(1, %d) g`, n))
	for i := 1; i <= n; i++ {
		select {
		case p := <-sess.Payloads():
			if p != fmt.Sprint(i) {
				t.Fatalf("payload %q, want %d", p, i)
			}
		case err := <-lost:
			t.Fatalf("session declared lost after %d payloads: %v", i-1, err)
		case <-time.After(30 * time.Second):
			t.Fatal("no payload")
		}
		// The consumer is busy for more than an idle interval each time.
		time.Sleep(3 * idle)
	}
	select {
	case err := <-lost:
		t.Fatalf("session declared lost: %v", err)
	default:
	}
}

// A resync asking the active worker follows the lock: when the holder it
// asked goes away and another session takes the lock at once (a standby),
// the resync asks again instead of waiting forever for a lost request.
func TestResyncFollowsNewLockHolder(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, faultDDL, faultTables)
	ctx := context.Background()
	// A session that holds the lock but never answers: a worker that dies
	// before it reads the request.
	mute, err := pgx.Connect(ctx, b.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close(ctx)
	if _, err := mute.Exec(ctx, "SELECT pg_advisory_lock($1)", notify.LockKey); err != nil {
		t.Fatal(err)
	}
	wcfg := b.Config(t)
	wcfg.StandbyPoll = time.Millisecond // takes the lock the moment it is free
	b.StartWorkerWith(t, wcfg)

	rcfg := b.Config(t)
	rcfg.StandbyPoll = time.Second
	var logs *pgredistest.Logs
	rcfg.Logger, logs = pgredistest.CaptureLogs(t)
	done := make(chan error, 1)
	go func() {
		rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		_, err := worker.Resync(rctx, rcfg, nil, false, nil)
		done <- err
	}()
	// Wait until the request went to the mute holder.
	testenv.Eventually(t, 20*time.Second, func() error {
		var n int
		err := b.PG.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%pgredis_reply%'`).Scan(&n)
		if err == nil && n == 0 {
			err = fmt.Errorf("resync not waiting for a reply yet")
		}
		return err
	})
	if _, err := mute.Exec(ctx, "SELECT pg_advisory_unlock($1)", notify.LockKey); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("resync: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("resync did not finish")
	}
	_ = logs
	b.WaitMirror(t, 30*time.Second)
}

// A worker takes the lock before it LISTENs, so a resync can ask it in
// between and the request is lost: the resync repeats the request until
// it is acknowledged. The holder here LISTENs only after the first
// request went out, and answers the repeat.
func TestResyncRepeatsUnacknowledgedRequest(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, faultDDL, faultTables)
	ctx := context.Background()
	late, err := pgx.Connect(ctx, b.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close(ctx)
	if _, err := late.Exec(ctx, "SELECT pg_advisory_lock($1)", notify.LockKey); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := worker.Resync(rctx, b.Config(t), nil, false, nil)
		done <- err
	}()
	// The request went out: a session of this database ran pg_notify.
	testenv.Eventually(t, 20*time.Second, func() error {
		var n int
		err := b.PG.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'SELECT pg_notify%'`).Scan(&n)
		if err == nil && n == 0 {
			err = fmt.Errorf("no request sent yet")
		}
		return err
	})
	if _, err := late.Exec(ctx, "LISTEN "+notify.Channel); err != nil {
		t.Fatal(err)
	}
	for {
		n, err := late.WaitForNotification(rctx)
		if err != nil {
			t.Fatalf("no repeated request reached the holder: %v", err)
		}
		msg, err := notify.Decode(n.Payload)
		if err != nil || msg.Control == nil || msg.Control.Kind != "resync" {
			continue
		}
		if _, err := late.Exec(ctx, "SELECT pg_notify($1, $2)", notify.ReplyChannel, msg.Control.ID+` {"accepted":true,"done":true}`); err != nil {
			t.Fatal(err)
		}
		break
	}
	if err := <-done; err != nil {
		t.Fatalf("resync: %v", err)
	}
}

// A claim written by a worker that lost the lock without noticing yet (a
// zombie) does not make the lock holder stand down: it still holds the
// lock, so it reclaims the mirror and rebuilds it, without a reconnect.
func TestZombieClaimIsReclaimed(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, faultDDL, faultTables)
	logs := startLogged(t, b)
	b.WaitMirror(t, 30*time.Second)
	ctx := context.Background()
	before, _, err := notify.ActiveWorker(ctx, b.PG)
	if err != nil {
		t.Fatal(err)
	}
	w := startWriter(t, b)
	w.waitCommits(t, 20)
	if err := b.Redis.Set(ctx, pgredistest.StatePrefix+"owner", "zombie", 0).Err(); err != nil {
		t.Fatal(err)
	}
	b.Redis.Set(ctx, "acct:1", "stale", 0)
	logs.Wait(t, 20*time.Second, "reclaims the mirror")
	w.waitCommits(t, 50)
	convergeTime(t, b, w)
	after, _, err := notify.ActiveWorker(ctx, b.PG)
	if err != nil {
		t.Fatal(err)
	}
	if after.PID != before.PID {
		t.Fatalf("the lock moved from session %d to %d: the worker stood down", before.PID, after.PID)
	}
}

// Bad input never loses data silently: a payload the decoder does not
// understand, or one from an unknown trigger version, is logged and
// answered with a reconcile of every table, which also repairs a key
// changed by hand meanwhile; a column dropped under the worker is logged
// naming the table and the fix, and the worker keeps running.
func TestBadInputIsLoggedAndReconciled(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, faultDDL+`;
		CREATE TABLE sub (id int PRIMARY KEY, a text, b text);
		INSERT INTO sub VALUES (1, 'a', 'b')`, "acct; sub format=hash columns=id,a")
	cfg := b.Config(t)
	var logs *pgredistest.Logs
	cfg.Logger, logs = pgredistest.CaptureLogs(t)
	wk := b.StartWorkerWith(t, cfg)
	b.WaitMirror(t, 30*time.Second)
	ctx := context.Background()

	b.Redis.Set(ctx, "acct:7", "tampered", 0)
	b.Exec(t, `SELECT pg_notify('pgredis', 'garbage that is no payload')`)
	logs.Wait(t, 20*time.Second, "cannot decode a notification", "reconciling every table")
	b.WaitMirror(t, 30*time.Second)

	b.Redis.Set(ctx, "acct:8", "tampered", 0)
	b.Exec(t, `SELECT pg_notify('pgredis', E'p1 0123456789abcdef 1 1\nS5:acct:1:x')`)
	logs.Wait(t, 20*time.Second, "trigger this worker does not know", "reconciling every table")
	b.WaitMirror(t, 30*time.Second)

	b.Exec(t, `ALTER TABLE sub DROP COLUMN a`)
	b.Exec(t, `UPDATE sub SET b = 'c'`)
	logs.Wait(t, 20*time.Second, "table=public.sub", "run pgredis migrate up")
	logs.Wait(t, 20*time.Second, "table quarantined", "table=public.sub")
	// The other table stays live.
	b.Exec(t, `UPDATE acct SET v = v + 1 WHERE id < 10`)
	b.Specs = b.Specs[:1]
	b.Outside = func(k string) bool { return k == "sub:1" }
	b.WaitMirror(t, 30*time.Second)
	if err := wk.Err(); err != nil {
		t.Fatalf("worker stopped: %v", err)
	}
}
