package main

import (
	"context"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/pgredis/pgredis/mirror"
)

// barrierRoundTrip measures write -> SELECT pgredis.barrier() -> BLPOP:
// from the barrier call to the answer, alternating periods with and
// without the lag figure's 2-client pgbench update load on t.
func (b *bench) barrierRoundTrip(ctx context.Context) error {
	script, cleanup, err := b.updateScript()
	if err != nil {
		return err
	}
	defer cleanup()
	var idle, loaded []time.Duration
	var loadTPS []float64
	v := int64(1_000_000)
	for r := 0; r < b.runs; r++ {
		for _, load := range rotate([]bool{false, true}, r) {
			var tps float64
			var perr error
			var wg sync.WaitGroup
			pctx, cancel := context.WithCancel(ctx)
			if load {
				wg.Add(1)
				go func() {
					defer wg.Done()
					tps, perr = b.pgbenchTPS(pctx, script, 2, b.lagT+time.Second)
				}()
				_ = sleep(ctx, 500*time.Millisecond)
			}
			ds, err := b.barriers(ctx, &v, b.lagT)
			wg.Wait()
			cancel()
			if err != nil {
				return err
			}
			if perr != nil {
				return perr
			}
			if load {
				loaded = append(loaded, ds...)
				loadTPS = append(loadTPS, tps)
			} else {
				idle = append(idle, ds...)
			}
			log.Printf("barrier round %d load=%v: p50 %s p99 %s max %s over %d barriers", r+1, load, ms(percentile(ds, .5)), ms(percentile(ds, .99)), ms(percentile(ds, 1)), len(ds))
		}
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
