package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgredis/pgredis/internal/pgredistest"
)

// txnDDL: two balances whose sum never changes, and one token that moves
// between two keys.
const txnDDL = faultDDL + `;
CREATE TABLE bal (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO bal VALUES (1, 500), (2, 500);
CREATE TABLE tok (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO tok VALUES (1, 0)`

// Guarantee 12: a reader never sees part of a transaction. A writer moves
// one unit between two rows (two statements), moves a row to another key
// (one statement: a delete and a set) and deletes a row and inserts it
// under the other key (two statements), each in one transaction (half
// the balance moves call pgredis.barrier() between their statements),
// while another writer keeps the worker's batches full and readers MGET
// the keys as fast as they can: the sum is always the constant, and the
// token is always under exactly one key.
func TestTxnAtomicForReaders(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, txnDDL, faultTables+"; bal; tok")
	b.StartWorker(t)
	b.WaitMirror(t, 20*time.Second)
	noise := startWriter(t, b)

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var reads, torn atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				vals, err := b.Redis.MGet(ctx, "bal:1", "bal:2", "tok:1", "tok:2").Result()
				if err != nil {
					continue
				}
				reads.Add(1)
				if msg := tornRead(vals); msg != "" {
					torn.Add(1)
					first.CompareAndSwap(nil, msg)
				}
			}
		}()
	}

	const rounds = 3000
	at := 1 // where the token is
	for i := range rounds {
		err := pgx.BeginFunc(context.Background(), b.PG, func(tx pgx.Tx) error {
			var err error
			switch i % 3 {
			case 0:
				from, to := 1, 2
				if rand.IntN(2) == 0 {
					from, to = 2, 1
				}
				if _, err = tx.Exec(ctx, "UPDATE bal SET v = v - 1 WHERE id = $1", from); err == nil && i%2 == 0 {
					// A barrier inside the transaction does not end it.
					_, err = tx.Exec(ctx, "SELECT pgredis.barrier()")
				}
				if err == nil {
					_, err = tx.Exec(ctx, "UPDATE bal SET v = v + 1 WHERE id = $1", to)
				}
			case 1:
				_, err = tx.Exec(ctx, "UPDATE tok SET id = 3 - id, v = $1", i)
				at = 3 - at
			case 2:
				if _, err = tx.Exec(ctx, "DELETE FROM tok WHERE id = $1", at); err == nil {
					_, err = tx.Exec(ctx, "INSERT INTO tok VALUES ($1, $2)", 3-at, i)
				}
				at = 3 - at
			}
			return err
		})
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
	}
	noise.stop()
	b.WaitMirror(t, 30*time.Second)
	stop()
	wg.Wait()
	t.Logf("%d transactions, %d reads, %d torn, beside %d writer commits", rounds, reads.Load(), torn.Load(), noise.commits.Load())
	if n := torn.Load(); n > 0 {
		t.Fatalf("%d of %d reads saw part of a transaction; first: %s", n, reads.Load(), first.Load())
	}
	if reads.Load() < rounds {
		t.Fatalf("only %d reads during %d transactions: the test did not look", reads.Load(), rounds)
	}
}

// tornRead describes what is wrong with one MGET of two balance keys and
// two token keys (bal:1, bal:2, tok:1, tok:2, or a tenant's), or returns "".
func tornRead(vals []any) string {
	sum := 0
	for _, v := range vals[:2] {
		s, ok := v.(string)
		if !ok {
			return fmt.Sprintf("a balance key is missing: %v", vals)
		}
		var row struct{ V int }
		if err := json.Unmarshal([]byte(s), &row); err != nil {
			return fmt.Sprintf("balance %q: %v", s, err)
		}
		sum += row.V
	}
	if sum != 1000 {
		return fmt.Sprintf("balances sum to %d, want 1000: %v", sum, vals[:2])
	}
	if (vals[2] == nil) == (vals[3] == nil) {
		return fmt.Sprintf("the token is under %d keys, want 1: %v", countNonNil(vals[2:]), vals[2:])
	}
	return ""
}

func countNonNil(vs []any) int {
	n := 0
	for _, v := range vs {
		if v != nil {
			n++
		}
	}
	return n
}

// The key template grammar has no literal braces, so a Redis Cluster hash
// tag comes from a generated column that wraps the grouping value in
// braces (docs/architecture.md: "Transactions and the barrier").
func TestHashTagKeyFromGeneratedColumn(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, `
CREATE TABLE orders (tenant_id int NOT NULL, id int NOT NULL, total int,
    tag text GENERATED ALWAYS AS ('{' || tenant_id || '}') STORED, PRIMARY KEY (tenant_id, id));
INSERT INTO orders (tenant_id, id, total) VALUES (42, 1, 10), (42, 2, 20), (7, 1, 30)`,
		"orders key=order:{tag}:{id} columns=tenant_id,id,total")
	b.StartWorker(t)
	b.WaitMirror(t, 20*time.Second)
	b.Exec(t, "BEGIN; UPDATE orders SET total = total + 1 WHERE tenant_id = 42; DELETE FROM orders WHERE tenant_id = 7; COMMIT")
	b.WaitMirror(t, 20*time.Second)
	if n := b.Redis.Exists(context.Background(), "order:{42}:1", "order:{42}:2").Val(); n != 2 {
		t.Fatalf("%d of the keys order:{42}:1, order:{42}:2 exist, want 2", n)
	}
}

// A transaction of many keys (one statement, many notifications, more
// keys than one script call took before) is applied in one step: readers
// of keys spread over it never see two versions at once.
func TestTxnLargeTransactionAtomic(t *testing.T) {
	t.Parallel()
	const rows = 5000
	b := pgredistest.New(t, fmt.Sprintf(`CREATE TABLE big (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO big SELECT g, 0 FROM generate_series(1, %d) g`, rows), "big")
	b.StartWorker(t)
	b.WaitMirror(t, 30*time.Second)
	var keys []string
	for id := 1; id <= rows; id += 499 {
		keys = append(keys, fmt.Sprintf("big:%d", id))
	}
	keys = append(keys, fmt.Sprintf("big:%d", rows))

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var reads, torn atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				vals, err := b.Redis.MGet(ctx, keys...).Result()
				if err != nil {
					continue
				}
				reads.Add(1)
				seen := map[int]bool{}
				for _, v := range vals {
					var row struct{ V int }
					if s, ok := v.(string); ok && json.Unmarshal([]byte(s), &row) == nil {
						seen[row.V] = true
					} else {
						seen[-1] = true
					}
				}
				if len(seen) != 1 {
					torn.Add(1)
					first.CompareAndSwap(nil, fmt.Sprint(vals))
				}
			}
		}()
	}
	const rounds = 30
	for range rounds {
		b.Exec(t, "UPDATE big SET v = v + 1")
	}
	b.WaitMirror(t, 30*time.Second)
	stop()
	wg.Wait()
	t.Logf("%d transactions of %d keys, %d reads, %d torn", rounds, rows, reads.Load(), torn.Load())
	if n := torn.Load(); n > 0 {
		t.Fatalf("%d of %d reads saw two versions of one transaction; first: %s", n, reads.Load(), first.Load())
	}
	if reads.Load() < rounds {
		t.Fatalf("only %d reads during %d transactions: the test did not look", reads.Load(), rounds)
	}
}
