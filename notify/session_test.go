package notify

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgredis/pgredis/internal/testenv"
)

// Once one notification of a transaction is received, Sync shows the rest
// of the transaction in Payloads: the worker's transaction boundary.
func TestSessionSyncDeliversTheRestOfATransaction(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	t.Parallel()
	url := testenv.Database(t, "empty", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	sess, err := Dial(ctx, cfg, n)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close(context.Background())
	channel := "pgredis_sync_test"
	if err := sess.Listen(ctx, channel); err != nil {
		t.Fatal(err)
	}
	sess.Go(ctx, time.Second)
	writer, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close(context.Background())
	for round := range 20 {
		// Large payloads, so the transaction spans many socket reads.
		if _, err := writer.Exec(ctx, `SELECT pg_notify($1, g::text || repeat('x', 2000)) FROM generate_series(1, $2) g`, channel, n); err != nil {
			t.Fatal(err)
		}
		select {
		case <-sess.Payloads():
		case <-ctx.Done():
			t.Fatal("no notification")
		}
		select {
		case <-sess.Sync():
		case <-ctx.Done():
			t.Fatal("Sync did not answer")
		}
		if got := len(sess.Payloads()); got != n-1 {
			t.Fatalf("round %d: after Sync, %d of the transaction's other %d notifications were in Payloads", round, got, n-1)
		}
		for range n - 1 {
			<-sess.Payloads()
		}
	}
}
