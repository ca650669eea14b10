// Package mirror lets an application read its own writes from the Redis
// mirror pgredis keeps: WaitForMirror returns once every change committed
// before the call is visible in Redis.
//
//	if _, err := pool.Exec(ctx, "UPDATE orders SET status = 'paid' WHERE id = $1", id); err != nil { ... }
//	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
//	defer cancel()
//	if err := mirror.WaitForMirror(ctx, pool, rdb); err != nil { ... } // no worker running, or lagging
//	order, err := rdb.Get(ctx, "order:"+id).Result() // shows the update
package mirror

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// Querier is what WaitForMirror needs of PostgreSQL: a *pgx.Conn, a
// *pgxpool.Pool or a pgx.Tx. Call it outside the transaction that wrote
// (or after it committed): the worker answers once the barrier's
// transaction commits.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// DefaultTimeout bounds the wait when ctx has no deadline.
const DefaultTimeout = 5 * time.Second

// ErrTimeout means the worker did not answer in time: no worker runs, or
// it is behind (or Redis is down).
var ErrTimeout = errors.New("the pgredis worker did not answer the barrier in time (is a worker running and keeping up?)")

// WaitForMirror calls pgredis.barrier() and waits until the worker
// answers it: then every change committed before the call is in Redis.
func WaitForMirror(ctx context.Context, pg Querier, rdb redis.UniversalClient) error {
	name, err := Barrier(ctx, pg)
	if err != nil {
		return err
	}
	return Wait(ctx, rdb, name)
}

// Barrier calls pgredis.barrier() and returns the list the worker will
// answer on, for an application that waits elsewhere (Wait).
func Barrier(ctx context.Context, pg Querier) (string, error) {
	var name string
	if err := pg.QueryRow(ctx, "SELECT pgredis.barrier()").Scan(&name); err != nil {
		return "", fmt.Errorf("error calling pgredis.barrier() (run pgredis migrate up if it does not exist): %w", err)
	}
	return name, nil
}

// Wait blocks until the barrier list name has an element (BLPOP), until
// ctx's deadline or DefaultTimeout.
func Wait(ctx context.Context, rdb redis.UniversalClient, name string) error {
	timeout := DefaultTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	if timeout <= 0 {
		return ErrTimeout
	}
	// BLPOP takes whole seconds here (at least one).
	err := rdb.BLPop(ctx, max(timeout, time.Second), name).Err()
	switch {
	case errors.Is(err, redis.Nil):
		return ErrTimeout
	case err != nil && ctx.Err() != nil:
		return fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
	case err != nil:
		return fmt.Errorf("error waiting for the barrier on %q: %w", name, err)
	}
	return nil
}
