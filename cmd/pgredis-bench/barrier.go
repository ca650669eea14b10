package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/pgredis/pgredis/mirror"
)

// barrierRoundTrip measures write -> SELECT pgredis.barrier() -> BLPOP on
// an idle worker: from the barrier call to the answer.
func (b *bench) barrierRoundTrip(ctx context.Context) error {
	var ds []time.Duration
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	end := time.Now().Add(time.Duration(b.runs) * b.lagT)
	for v := int64(1_000_000); time.Now().Before(end); v++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if _, err := b.pool.Exec(ctx, "UPDATE probe SET v = $1 WHERE id = 1", v); err != nil {
			return err
		}
		start := time.Now()
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := mirror.WaitForMirror(wctx, b.pool, b.rdb)
		cancel()
		if err != nil {
			return fmt.Errorf("barrier: %w", err)
		}
		ds = append(ds, time.Since(start))
	}
	log.Printf("barrier round trip: p50 %s p99 %s max %s over %d barriers", ms(percentile(ds, .5)), ms(percentile(ds, .99)), ms(percentile(ds, 1)), len(ds))
	b.add(result{
		figure: "barrier round trip p99 idle (barrier() -> BLPOP answered)", value: ms(percentile(ds, .99)),
		baseline: ms(percentile(ds, .5)) + " (p50)", score: ms(percentile(ds, .99)), target: "<= 10 ms", met: met(percentile(ds, .99) <= 10*time.Millisecond),
	})
	return nil
}
