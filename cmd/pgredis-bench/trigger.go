package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// variant is a set of triggers enabled on t.
type variant struct {
	name     string
	triggers []string
}

var (
	pgredisTriggers = []string{"pgredis_ins", "pgredis_upd", "pgredis_del", "pgredis_trunc"}
	variants        = []variant{
		{"none", nil},
		{"pgredis", pgredisTriggers},
		{"noop", []string{"bench_noop"}},
		{"json", []string{"bench_json"}},
	}
	allTriggers = []string{"pgredis_ins", "pgredis_upd", "pgredis_del", "pgredis_trunc", "bench_noop", "bench_json"}
)

// use enables exactly the variant's triggers on t.
func (b *bench) use(ctx context.Context, v variant) error {
	for _, trg := range allTriggers {
		verb := "DISABLE"
		for _, on := range v.triggers {
			if on == trg {
				verb = "ENABLE"
			}
		}
		if _, err := b.pool.Exec(ctx, fmt.Sprintf("ALTER TABLE t %s TRIGGER %s", verb, trg)); err != nil {
			return fmt.Errorf("error switching triggers to %s: %w", v.name, err)
		}
	}
	return nil
}

func (b *bench) triggerFigures(ctx context.Context) error {
	defer b.use(context.WithoutCancel(ctx), variants[1])
	dir, err := os.MkdirTemp("", "pgredis-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "update.sql")
	if err := os.WriteFile(script, fmt.Appendf(nil, "\\set id random(1, %d)\nUPDATE t SET price = price + 1, qty = qty + 1 WHERE id = :id;\n", b.rows), 0o644); err != nil {
		return err
	}
	tps := map[string][]float64{}
	bulk := map[string][]float64{}
	for r := 0; r < b.runs; r++ {
		for _, v := range rotate(variants, r) {
			if err := b.use(ctx, v); err != nil {
				return err
			}
			if _, err := b.pool.Exec(ctx, "VACUUM t"); err != nil {
				return err
			}
			x, err := b.pgbenchTPS(ctx, script, 2, b.pgbenchT)
			if err != nil {
				return err
			}
			tps[v.name] = append(tps[v.name], x)
			if _, err := b.pool.Exec(ctx, "VACUUM t"); err != nil {
				return err
			}
			start := time.Now()
			if _, err := b.pool.Exec(ctx, "UPDATE t SET price = price + 1"); err != nil {
				return err
			}
			bulk[v.name] = append(bulk[v.name], time.Since(start).Seconds())
			log.Printf("round %d %-7s single-row %.0f TPS, bulk %.3f s", r+1, v.name, x, bulk[v.name][len(bulk[v.name])-1])
		}
	}
	none := median(tps["none"])
	for _, v := range variants[1:] {
		ratio := median(tps[v.name]) / none
		r := result{
			figure:   "trigger, single-row UPDATE TPS (" + v.name + ")",
			value:    fmt.Sprintf("%.0f TPS", median(tps[v.name])),
			baseline: fmt.Sprintf("%.0f TPS", none),
			score:    fmt.Sprintf("%.2f", ratio),
			target:   ">= 0.85",
			met:      met(ratio >= 0.85),
		}
		if v.name != "pgredis" {
			r.target, r.met = "reference", "-"
		}
		b.add(r)
	}
	noneBulk := median(bulk["none"])
	for _, v := range variants[1:] {
		ratio := median(bulk[v.name]) / noneBulk
		r := result{
			figure:   fmt.Sprintf("trigger, bulk UPDATE of %d rows (%s)", b.rows, v.name),
			value:    secs(median(bulk[v.name])),
			baseline: secs(noneBulk),
			score:    fmt.Sprintf("%.2f", ratio),
			target:   "<= 1.6",
			met:      met(ratio <= 1.6),
		}
		if v.name != "pgredis" {
			r.target, r.met = "reference", "-"
		}
		b.add(r)
	}
	return nil
}

var tpsRe = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// pgbenchTPS runs pgbench with synchronous_commit=off and returns its TPS.
func (b *bench) pgbenchTPS(ctx context.Context, script string, clients int, d time.Duration) (float64, error) {
	out, err := b.pgbenchCmd(ctx, script, clients, d).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("pgbench: %w: %s", err, out)
	}
	m := tpsRe.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no TPS in pgbench's output: %s", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

func (b *bench) pgbenchCmd(ctx context.Context, script string, clients int, d time.Duration) *exec.Cmd {
	secs := max(1, int(d.Round(time.Second)/time.Second))
	cmd := exec.CommandContext(ctx, b.pgbench, "-n", "-M", "prepared", "-c", strconv.Itoa(clients), "-j", strconv.Itoa(clients),
		"-T", strconv.Itoa(secs), "-f", script, b.dbURL)
	cmd.Env = append(os.Environ(), "PGOPTIONS=-c synchronous_commit=off")
	return cmd
}
