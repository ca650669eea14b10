package notify_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
	"github.com/pgredis/pgredis/notify"
)

// pgredis.drain takes whole transactions, closed over the sequence
// numbers it reaches: a transaction with a row below the bound comes with
// all its rows, and so does every transaction with a row below its last.
func TestQueueDrainOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testenv.Database(t, "migrated", pgredistest.Migrate))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// B waited for C's row lock after its first statement: its last
	// number is above C's. E is alone and first; D comes last.
	rows := []struct {
		seq, txid int64
		name      string
	}{{5, 1, "b1"}, {20, 3, "d"}, {7, 2, "c"}, {9, 1, "b2"}, {3, 4, "e"}}
	for _, r := range rows {
		p := fmt.Sprintf("p2 v %d 0 %d\n%s", r.seq, r.txid, r.name)
		if _, err := conn.Exec(ctx, "INSERT INTO pgredis.queue (seq, txid, payload) VALUES ($1, $2, $3)", r.seq, r.txid, p); err != nil {
			t.Fatal(err)
		}
	}
	drain := func(n int) []string {
		t.Helper()
		qs, err := notify.Drain(ctx, conn, n)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, q := range qs {
			out = append(out, fmt.Sprintf("%s@%d", q.Payload[len(q.Payload)-2:], q.LastSeq))
		}
		return out
	}
	if got := drain(0); len(got) != 0 {
		t.Fatalf("drain(0) = %v", got)
	}
	for _, c := range []struct {
		n    int
		want []string
	}{
		{1, []string{"\ne@3"}},
		{1, []string{"\nc@7", "b1@9", "b2@9"}},
		{10, []string{"\nd@20"}},
		{10, nil},
	} {
		if got := drain(c.n); !slices.Equal(got, c.want) {
			t.Fatalf("drain(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}

// A drain that fails (here its DELETE waits past lock_timeout for a lock
// another session holds on the queue) leaves its connection outside any
// transaction: the next drain on it takes the rows, nothing was lost.
func TestQueueDrainFailureLeavesConnUsable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.Database(t, "migrated", pgredistest.Migrate)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "INSERT INTO pgredis.queue (seq, txid, payload) VALUES (1, 1, 'p2 v 1 0 1\nrow')"); err != nil {
		t.Fatal(err)
	}
	locker, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close(ctx)
	tx, err := locker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK pgredis.queue IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SET lock_timeout = '100ms'"); err != nil {
		t.Fatal(err)
	}
	if _, err := notify.Drain(ctx, conn, 10); err == nil {
		t.Fatal("the drain succeeded while the queue was locked")
	}
	if s := conn.PgConn().TxStatus(); s != 'I' {
		t.Fatalf("after the failed drain the connection's transaction status is %q, want idle", s)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	qs, err := notify.Drain(ctx, conn, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 1 || qs[0].Payload != "p2 v 1 0 1\nrow" {
		t.Fatalf("the next drain returned %+v, want the one queued row", qs)
	}
}
