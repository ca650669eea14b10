package main

import (
	"context"
	"fmt"
	"log"
	"math/rand/v2"
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
	script, cleanup, err := b.updateScript()
	if err != nil {
		return err
	}
	defer cleanup()
	tps := map[string][]float64{}
	// durable: 32 clients with synchronous_commit=on, where commits that
	// sent a NOTIFY serialise on PostgreSQL's notify lock (issue 9).
	durable := map[string][]float64{}
	bulk := map[string][]float64{}
	// Backend CPU time per statement: the same costs seen without the
	// scheduler's noise when other work shares the machine.
	cpuOne := map[string][]float64{}
	cpuBulk := map[string][]float64{}
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
			d, err := b.durableTPS(ctx, script, 32, b.pgbenchT)
			if err != nil {
				return err
			}
			durable[v.name] = append(durable[v.name], d)
			one, wall, cpu, err := b.backendCPU(ctx)
			if err != nil {
				return err
			}
			cpuOne[v.name] = append(cpuOne[v.name], one)
			bulk[v.name] = append(bulk[v.name], wall)
			cpuBulk[v.name] = append(cpuBulk[v.name], cpu)
			log.Printf("round %d %-7s single-row %.0f TPS (%.0f us CPU each), 32 durable clients %.0f TPS, bulk %.3f s (%.3f s CPU)", r+1, v.name, x, one, d, wall, cpu)
		}
	}
	none := median(tps["none"])
	for _, v := range variants[1:] {
		ratio := median(tps[v.name]) / none
		r := result{
			figure:   "single-row UPDATE, 2 clients, synchronous_commit=off (" + v.name + ")",
			value:    fmt.Sprintf("%.0f TPS", median(tps[v.name])),
			baseline: fmt.Sprintf("%.0f TPS", none),
			score:    fmt.Sprintf("%.2f", ratio),
			target:   ">= 0.80",
			met:      met(ratio >= 0.80),
		}
		if v.name != "pgredis" {
			r.target, r.met = "reference", "-"
		}
		b.add(r)
	}
	noneDurable := median(durable["none"])
	for _, v := range variants[1:] {
		ratio := median(durable[v.name]) / noneDurable
		r := result{
			figure:   "single-row UPDATE, 32 clients, synchronous_commit=on (" + v.name + ")",
			value:    fmt.Sprintf("%.0f TPS", median(durable[v.name])),
			baseline: fmt.Sprintf("%.0f TPS", noneDurable),
			score:    fmt.Sprintf("%.2f", ratio),
			target:   ">= 0.70",
			met:      met(ratio >= 0.70),
		}
		if v.name != "pgredis" {
			r.target, r.met = "reference", "-"
		}
		b.add(r)
	}
	noneOne := median(cpuOne["none"])
	for _, v := range variants[1:] {
		ratio := noneOne / median(cpuOne[v.name])
		b.add(result{
			figure:   "  same, backend CPU per UPDATE (" + v.name + ")",
			value:    fmt.Sprintf("%.0f us", median(cpuOne[v.name])),
			baseline: fmt.Sprintf("%.0f us", noneOne),
			score:    fmt.Sprintf("%.2f", ratio),
			target:   "(no noise)",
			met:      "-",
		})
	}
	noneBulk := median(bulk["none"])
	for _, v := range variants[1:] {
		ratio := median(bulk[v.name]) / noneBulk
		cpuRatio := median(cpuBulk[v.name]) / median(cpuBulk["none"])
		cpuRow := result{
			figure:   "  same, backend CPU (" + v.name + ")",
			value:    secs(median(cpuBulk[v.name])),
			baseline: secs(median(cpuBulk["none"])),
			score:    fmt.Sprintf("%.2f", cpuRatio),
			target:   "(no noise)",
			met:      "-",
		}
		r := result{
			figure:   fmt.Sprintf("%d-row UPDATE time (%s)", b.rows, v.name),
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
		b.add(cpuRow)
	}
	return nil
}

// backendCPU times, on one connection, single-row UPDATEs (backend CPU
// per statement) and then the bulk UPDATE (wall and backend CPU).
func (b *bench) backendCPU(ctx context.Context) (one, bulkWall, bulkCPU float64, err error) {
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return 0, 0, 0, err
	}
	defer conn.Release()
	var pid int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		return 0, 0, 0, err
	}
	if _, err := conn.Exec(ctx, "SET synchronous_commit = off"); err != nil {
		return 0, 0, 0, err
	}
	defer conn.Exec(context.WithoutCancel(ctx), "RESET synchronous_commit")
	n := min(5000, b.rows)
	t0, _, err := cpuTicks(pid)
	if err != nil {
		return 0, 0, 0, err
	}
	for i := 0; i < n; i++ {
		if _, err := conn.Exec(ctx, "UPDATE t SET price = price + 1, qty = qty + 1 WHERE id = $1", rand.IntN(b.rows)+1); err != nil {
			return 0, 0, 0, err
		}
	}
	t1, _, err := cpuTicks(pid)
	if err != nil {
		return 0, 0, 0, err
	}
	if _, err := conn.Exec(ctx, "VACUUM t"); err != nil {
		return 0, 0, 0, err
	}
	t2, _, err := cpuTicks(pid)
	if err != nil {
		return 0, 0, 0, err
	}
	start := time.Now()
	if _, err := conn.Exec(ctx, "UPDATE t SET price = price + 1"); err != nil {
		return 0, 0, 0, err
	}
	bulkWall = time.Since(start).Seconds()
	t3, _, err := cpuTicks(pid)
	if err != nil {
		return 0, 0, 0, err
	}
	return float64(t1-t0) / 100 / float64(n) * 1e6, bulkWall, float64(t3-t2) / 100, nil
}

var tpsRe = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// pgbenchTPS runs pgbench with synchronous_commit=off and returns its TPS.
func (b *bench) pgbenchTPS(ctx context.Context, script string, clients int, d time.Duration) (float64, error) {
	return b.runPgbench(b.pgbenchCmd(ctx, script, clients, d))
}

// durableTPS runs pgbench with the server's default durability
// (synchronous_commit=on), as most applications write, and returns its TPS.
func (b *bench) durableTPS(ctx context.Context, script string, clients int, d time.Duration) (float64, error) {
	cmd := b.pgbenchCmd(ctx, script, clients, d)
	cmd.Env = os.Environ()
	return b.runPgbench(cmd)
}

func (b *bench) runPgbench(cmd *exec.Cmd) (float64, error) {
	out, err := cmd.CombinedOutput()
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
	cmd := exec.CommandContext(ctx, b.pgbench, "-n", "-M", "prepared", "-c", strconv.Itoa(clients), "-j", strconv.Itoa(min(clients, 2)),
		"-T", strconv.Itoa(secs), "-f", script, b.dbURL)
	cmd.Env = append(os.Environ(), "PGOPTIONS=-c synchronous_commit=off")
	return cmd
}

// updateScript writes the pgbench script that updates a random row of t,
// the load of both the trigger and the lag figures.
func (b *bench) updateScript() (path string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "pgredis-bench")
	if err != nil {
		return "", nil, err
	}
	path = filepath.Join(dir, "update.sql")
	if err := os.WriteFile(path, fmt.Appendf(nil, "\\set id random(1, %d)\nUPDATE t SET price = price + 1, qty = qty + 1 WHERE id = :id;\n", b.rows), 0o644); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return path, func() { os.RemoveAll(dir) }, nil
}
