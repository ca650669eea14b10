package main

import (
	"context"
	"fmt"
	"time"

	"github.com/pgredis/pgredis/mirror"
)

// barrierRoundTrip measures write -> SELECT pgredis.barrier() -> BLPOP:
// from the barrier call to the answer, alternating periods with and
// without the lag figure's 2-client pgbench update load on t.
func (b *bench) barrierRoundTrip(ctx context.Context) error {
	v := int64(1_000_000)
	idle, loaded, loadTPS, err := b.alternateLoad(ctx, "barrier", func() ([]time.Duration, error) { return b.barriers(ctx, &v, b.lagT) })
	if err != nil {
		return err
	}
	b.add(result{
		figure: "barrier round trip p99 idle (barrier() -> BLPOP answered)", value: ms(percentile(idle, .99)),
		baseline: ms(percentile(idle, .5)) + " (p50)", score: ms(percentile(idle, .99)), target: "<= 10 ms", met: met(percentile(idle, .99) <= 10*time.Millisecond),
	})
	b.add(result{
		figure: fmt.Sprintf("barrier round trip p99 under pgbench load (%.0f TPS)", median(loadTPS)), value: ms(percentile(loaded, .99)),
		baseline: ms(percentile(loaded, .5)) + " (p50)", score: ms(percentile(loaded, .99)), target: "reference", met: "-",
	})
	return nil
}

// barriers writes the probe row and waits for its barrier every 20 ms
// for d, returning each round trip.
func (b *bench) barriers(ctx context.Context, v *int64, d time.Duration) ([]time.Duration, error) {
	var ds []time.Duration
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
		*v++
		if _, err := b.pool.Exec(ctx, "UPDATE probe SET v = $1 WHERE id = 1", *v); err != nil {
			return nil, err
		}
		start := time.Now()
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := mirror.WaitForMirror(wctx, b.pool, b.rdb)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("barrier: %w", err)
		}
		ds = append(ds, time.Since(start))
	}
	return ds, nil
}
