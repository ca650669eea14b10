package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/pgredis/pgredis/notify"
)

// wideTable has the column types whose rendering a bulk statement's
// trigger pays most for (issue 18): a bigint key, text, numeric, text[]
// and timestamptz, mirrored with the default format=json.
const wideTable = `CREATE TABLE wide (id bigint PRIMARY KEY, name text NOT NULL, price numeric(12,2) NOT NULL, tags text[] NOT NULL, updated_at timestamptz NOT NULL)`

func (b *bench) createWide(ctx context.Context) error {
	for _, s := range []string{
		wideTable,
		fmt.Sprintf(`INSERT INTO wide SELECT g, 'product ' || g, (g %% 1000) + 0.99, ARRAY['tag' || (g %% 7), 'tag' || (g %% 11), 'x'], '2024-01-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, %d) g`, b.rows),
	} {
		if _, err := b.pool.Exec(ctx, s); err != nil {
			return fmt.Errorf("error creating wide: %w", err)
		}
	}
	b.tables += "; wide"
	return nil
}

// wideFigures times a bulk UPDATE of every row of wide with pgredis's
// triggers enabled and disabled, alternated round by round.
func (b *bench) wideFigures(ctx context.Context) error {
	triggers := notify.TriggerNames()
	times := map[bool][]float64{}
	for r := 0; r < b.runs; r++ {
		for _, on := range rotate([]bool{false, true}, r) {
			// ENABLE ALWAYS, as migrate up leaves them.
			verb := "DISABLE"
			if on {
				verb = "ENABLE ALWAYS"
			}
			for _, trg := range triggers {
				if _, err := b.pool.Exec(ctx, fmt.Sprintf("ALTER TABLE wide %s TRIGGER %s", verb, trg)); err != nil {
					return err
				}
			}
			if _, err := b.pool.Exec(ctx, "VACUUM wide"); err != nil {
				return err
			}
			start := time.Now()
			if _, err := b.pool.Exec(ctx, "UPDATE wide SET price = price + 1"); err != nil {
				return err
			}
			wall := time.Since(start).Seconds()
			times[on] = append(times[on], wall)
			log.Printf("round %d wide bulk UPDATE, triggers %s: %.3f s", r+1, verb, wall)
		}
	}
	// Whichever variant ran last, the later groups need them enabled.
	for _, trg := range triggers {
		if _, err := b.pool.Exec(ctx, "ALTER TABLE wide ENABLE ALWAYS TRIGGER "+trg); err != nil {
			return err
		}
	}
	ratio := median(times[true]) / median(times[false])
	b.add(result{
		figure:   fmt.Sprintf("%d-row UPDATE time, table wide (bigint, text, numeric, text[], timestamptz; format=json)", b.rows),
		value:    secs(median(times[true])),
		baseline: secs(median(times[false])),
		score:    fmt.Sprintf("%.2f", ratio),
		target:   "<= 1.6",
		met:      met(ratio <= 1.6),
	})
	return nil
}
