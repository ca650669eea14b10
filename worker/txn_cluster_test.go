package worker_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
)

// clusterTxnDDL: per tenant, two balances and a token, keyed under the
// tenant's hash tag (a generated column), so each tenant's keys share a
// slot.
const clusterTxnDDL = `
CREATE TABLE acc (tenant int, id int, v int NOT NULL,
    tag text GENERATED ALWAYS AS ('{' || tenant || '}') STORED, PRIMARY KEY (tenant, id));
INSERT INTO acc (tenant, id, v) SELECT t, i, 500 FROM generate_series(1, 3) t, generate_series(1, 2) i;
CREATE TABLE tok (tenant int, id int, v int NOT NULL,
    tag text GENERATED ALWAYS AS ('{' || tenant || '}') STORED, PRIMARY KEY (tenant, id));
INSERT INTO tok (tenant, id, v) SELECT t, 1, 0 FROM generate_series(1, 3) t`

// Guarantee 12 in a Redis Cluster: a transaction within one tenant, whose
// keys share a hash tag, is seen whole or not at all by a reader of the
// tenant's slot.
func TestTxnAtomicClusterHashTag(t *testing.T) {
	t.Parallel()
	nodes := testenv.StartCluster(t, 3)
	addrs := []string{nodes[0].Addr(), nodes[1].Addr(), nodes[2].Addr()}
	b := pgredistest.New(t, clusterTxnDDL, "acc key=acc:{tag}:{id} columns=tenant,id,v; tok key=tok:{tag}:{id} columns=tenant,id,v")
	b.UseRedis(t, func() redis.UniversalClient { return redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs}) })
	b.StartWorker(t)
	b.WaitMirror(t, 30*time.Second)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	defer rdb.Close()

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var reads, torn atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := r; ctx.Err() == nil; i++ {
				tn := 1 + i%3
				keys := []string{fmt.Sprintf("acc:{%d}:1", tn), fmt.Sprintf("acc:{%d}:2", tn), fmt.Sprintf("tok:{%d}:1", tn), fmt.Sprintf("tok:{%d}:2", tn)}
				vals, err := rdb.MGet(ctx, keys...).Result()
				if err != nil {
					if ctx.Err() == nil {
						first.CompareAndSwap(nil, "MGET: "+err.Error())
						torn.Add(1)
					}
					continue
				}
				reads.Add(1)
				if msg := tornRead(vals); msg != "" {
					torn.Add(1)
					first.CompareAndSwap(nil, fmt.Sprintf("tenant %d: %s", tn, msg))
				}
			}
		}()
	}

	const rounds = 1500
	at := map[int]int{1: 1, 2: 1, 3: 1}
	for i := range rounds {
		tn := 1 + rand.IntN(3)
		err := pgx.BeginFunc(context.Background(), b.PG, func(tx pgx.Tx) error {
			var err error
			switch i % 2 {
			case 0:
				from, to := 1, 2
				if rand.IntN(2) == 0 {
					from, to = 2, 1
				}
				if _, err = tx.Exec(ctx, "UPDATE acc SET v = v - 1 WHERE tenant = $1 AND id = $2", tn, from); err == nil {
					_, err = tx.Exec(ctx, "UPDATE acc SET v = v + 1 WHERE tenant = $1 AND id = $2", tn, to)
				}
			case 1:
				if _, err = tx.Exec(ctx, "DELETE FROM tok WHERE tenant = $1 AND id = $2", tn, at[tn]); err == nil {
					_, err = tx.Exec(ctx, "INSERT INTO tok (tenant, id, v) VALUES ($1, $2, $3)", tn, 3-at[tn], i)
				}
				at[tn] = 3 - at[tn]
			}
			return err
		})
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
	}
	b.WaitMirror(t, 30*time.Second)
	stop()
	wg.Wait()
	t.Logf("%d transactions, %d reads, %d torn", rounds, reads.Load(), torn.Load())
	if n := torn.Load(); n > 0 {
		t.Fatalf("%d of %d reads saw part of a transaction; first: %s", n, reads.Load(), first.Load())
	}
	if reads.Load() < rounds {
		t.Fatalf("only %d reads during %d transactions: the test did not look", reads.Load(), rounds)
	}
}
