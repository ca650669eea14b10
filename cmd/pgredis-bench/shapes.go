package main

import (
	"context"
	"fmt"
	"log"
	"math/rand/v2"
)

// shapeTables: sp is plainly synced, ss the same rows with where= and two
// index= (a set and a sorted set), s2 listed twice (a second entry under
// its own key template, which fires its own triggers); the figures are
// what the shape options and a second entry add to the trigger.
var shapeTables = []struct{ name, spec string }{
	{"sp", "sp"},
	{"ss", "ss where=(qty > 0) index=ss_qty:{qty} index=ss_price:{qty}@price"},
	{"s2", "s2; s2 key=s2q:{id} columns=id,qty"},
}

func (b *bench) createShapeTables(ctx context.Context) error {
	for _, t := range shapeTables {
		for _, s := range []string{
			fmt.Sprintf(`CREATE TABLE %s (LIKE t INCLUDING ALL)`, t.name),
			fmt.Sprintf(`INSERT INTO %s SELECT * FROM t`, t.name),
		} {
			if _, err := b.pool.Exec(ctx, s); err != nil {
				return fmt.Errorf("error setting up (%.60s...): %w", s, err)
			}
		}
		b.tables += "; " + t.spec
	}
	return nil
}

// shapeFigures measures, in alternated rounds on one connection, the
// backend CPU of single-row UPDATEs (each moves its row to another index
// name and score, and sometimes across where=) and of a bulk UPDATE, on
// the plain and the shaped table.
func (b *bench) shapeFigures(ctx context.Context) error {
	one := map[string][]float64{}
	bulk := map[string][]float64{}
	for r := 0; r < b.runs; r++ {
		for _, t := range rotate(shapeTables, r) {
			o, cpu, err := b.shapeCPU(ctx, t.name)
			if err != nil {
				return err
			}
			one[t.name], bulk[t.name] = append(one[t.name], o), append(bulk[t.name], cpu)
			log.Printf("round %d %s: %.0f us CPU per single-row UPDATE, bulk UPDATE %.3f s CPU", r+1, t.name, o, cpu)
		}
	}
	for _, f := range []struct{ table, what string }{{"ss", "where= + 2 index="}, {"s2", "table listed twice"}} {
		b.add(result{
			figure:   f.what + ": backend CPU per single-row UPDATE (plain table as baseline)",
			value:    fmt.Sprintf("%.0f us", median(one[f.table])),
			baseline: fmt.Sprintf("%.0f us", median(one["sp"])),
			score:    fmt.Sprintf("%.2f", median(one[f.table])/median(one["sp"])),
			target:   "reference",
			met:      "-",
		})
		b.add(result{
			figure:   fmt.Sprintf("%s: backend CPU of a bulk UPDATE of %d rows", f.what, b.rows),
			value:    secs(median(bulk[f.table])),
			baseline: secs(median(bulk["sp"])),
			score:    fmt.Sprintf("%.2f", median(bulk[f.table])/median(bulk["sp"])),
			target:   "reference",
			met:      "-",
		})
	}
	return nil
}

func (b *bench) shapeCPU(ctx context.Context, table string) (one, bulkCPU float64, err error) {
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Release()
	var pid int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		return 0, 0, err
	}
	if _, err := conn.Exec(ctx, "SET synchronous_commit = off"); err != nil {
		return 0, 0, err
	}
	if _, err := conn.Exec(ctx, "VACUUM "+table); err != nil {
		return 0, 0, err
	}
	defer conn.Exec(context.WithoutCancel(ctx), "RESET synchronous_commit")
	n := min(5000, b.rows)
	stmt := "UPDATE " + table + " SET price = price + 1, qty = (qty + 1) % 50 WHERE id = $1"
	t0, _, err := cpuTicks(pid)
	if err != nil {
		return 0, 0, err
	}
	for i := 0; i < n; i++ {
		if _, err := conn.Exec(ctx, stmt, rand.IntN(b.rows)+1); err != nil {
			return 0, 0, err
		}
	}
	t1, _, err := cpuTicks(pid)
	if err != nil {
		return 0, 0, err
	}
	if _, err := conn.Exec(ctx, "VACUUM "+table); err != nil {
		return 0, 0, err
	}
	t2, _, err := cpuTicks(pid)
	if err != nil {
		return 0, 0, err
	}
	if _, err := conn.Exec(ctx, "UPDATE "+table+" SET price = price + 1"); err != nil {
		return 0, 0, err
	}
	t3, _, err := cpuTicks(pid)
	if err != nil {
		return 0, 0, err
	}
	return float64(t1-t0) / 100 / float64(n) * 1e6, float64(t3-t2) / 100, nil
}
