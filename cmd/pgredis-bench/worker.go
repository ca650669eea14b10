package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// workerProc is a running pgredis worker.
type workerProc struct {
	pid        int
	reconciled chan struct{} // closed once every table was reconciled
	done       chan error
	mu         sync.Mutex
	log        []string
	reconcile  map[string]int // "table reconciled" lines per table
}

func (b *bench) startWorker(ctx context.Context) (*workerProc, func(), error) {
	cmd := b.pgredisCmd(context.WithoutCancel(ctx), "worker")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("error starting pgredis worker: %w", err)
	}
	w := &workerProc{pid: cmd.Process.Pid, reconciled: make(chan struct{}), done: make(chan error, 1), reconcile: map[string]int{}}
	want := len(strings.Split(b.tables, ";"))
	go func() {
		sc := bufio.NewScanner(stderr)
		n := 0
		for sc.Scan() {
			line := sc.Text()
			w.mu.Lock()
			w.log = append(w.log, line)
			if strings.Contains(line, "table reconciled") {
				w.reconcile[logAttr(line, "table")]++
				if n++; n == want {
					close(w.reconciled)
				}
			}
			w.mu.Unlock()
		}
		w.done <- cmd.Wait()
	}()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-w.done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-w.done
		}
	}
	select {
	case <-w.reconciled:
		return w, stop, nil
	case err := <-w.done:
		return nil, nil, fmt.Errorf("pgredis worker exited: %v: %s", err, w.tail())
	case <-time.After(5 * time.Minute):
		stop()
		return nil, nil, fmt.Errorf("pgredis worker did not reconcile in time: %s", w.tail())
	case <-ctx.Done():
		stop()
		return nil, nil, ctx.Err()
	}
}

func (w *workerProc) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.log[max(0, len(w.log)-10):], "\n")
}

// reconciles counts the worker's log lines that say it reconciled table.
func (w *workerProc) reconciles(table string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.reconcile[table]
}

// logAttr is the value of a slog text line's attribute key, unquoted
// values only (table names are).
func logAttr(line, key string) string {
	i := strings.Index(line, " "+key+"=")
	if i < 0 {
		return ""
	}
	v := line[i+len(key)+2:]
	if j := strings.IndexByte(v, ' '); j >= 0 {
		v = v[:j]
	}
	return v
}

// cpuTicks is the process's user+system time in clock ticks (1/100 s),
// and its context switches summed over threads.
func cpuTicks(pid int) (ticks, switches int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 of the whole line.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	for _, t := range tasks {
		s, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(s), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.HasSuffix(k, "ctxt_switches") {
				n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				switches += n
			}
		}
	}
	return ut + st, switches, nil
}

func (b *bench) workerFigures(ctx context.Context) error {
	if err := b.use(ctx, variants[1]); err != nil {
		return err
	}
	w, stop, err := b.startWorker(ctx)
	if err != nil {
		return err
	}
	defer stop()
	if err := b.idle(ctx, w); err != nil {
		return err
	}
	if err := b.applyRate(ctx); err != nil {
		return err
	}
	if err := b.lag(ctx); err != nil {
		return err
	}
	return b.barrierRoundTrip(ctx)
}

func (b *bench) idle(ctx context.Context, w *workerProc) error {
	// Let the start-up settle (the Go runtime's background work after the
	// reconcile's allocations).
	if err := sleep(ctx, time.Second); err != nil {
		return err
	}
	t0, s0, err := cpuTicks(w.pid)
	if err != nil {
		return err
	}
	if err := sleep(ctx, b.idleT); err != nil {
		return err
	}
	t1, s1, err := cpuTicks(w.pid)
	if err != nil {
		return err
	}
	cpu := float64(t1-t0) / 100
	b.add(result{
		figure: fmt.Sprintf("idle worker, %s without writes", b.idleT), value: fmt.Sprintf("%.2f s CPU, %d wakeups", cpu, s1-s0),
		baseline: "-", score: fmt.Sprintf("%.2f s", cpu), target: "< 0.05 s", met: met(cpu < 0.05),
	})
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// applyRate times one INSERT ... SELECT into t2 and the worker catching
// up with it after the commit.
func (b *bench) applyRate(ctx context.Context) error {
	var stmt, catchup []float64
	for r := 0; r < b.runs; r++ {
		// Empty t2 and wait until the worker deleted its keys: the key
		// count drops by t2's rows (DBSIZE is O(1); a SCAN would compete
		// with the worker's own sweep).
		var had int64
		if err := b.pool.QueryRow(ctx, "SELECT count(*) FROM t2").Scan(&had); err != nil {
			return err
		}
		before, err := b.rdb.DBSize(ctx).Result()
		if err != nil {
			return err
		}
		if _, err := b.pool.Exec(ctx, "TRUNCATE t2"); err != nil {
			return err
		}
		if err := b.waitDBSize(ctx, func(n int64) bool { return n <= before-had }); err != nil {
			return fmt.Errorf("after TRUNCATE t2: %w", err)
		}
		base, err := b.rdb.DBSize(ctx).Result()
		if err != nil {
			return err
		}
		start := time.Now()
		if _, err := b.pool.Exec(ctx, fmt.Sprintf(`INSERT INTO t2 SELECT g, 'product ' || g, (g %% 1000) + 0.99, g %% 50, '2024-01-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, %d) g`, b.apply)); err != nil {
			return err
		}
		committed := time.Now()
		deadline := committed.Add(2 * time.Minute)
		for {
			n, err := b.rdb.DBSize(ctx).Result()
			if err != nil {
				return err
			}
			if n >= base+int64(b.apply) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the worker applied %d of %d rows in 2 minutes", n-base, b.apply)
			}
			time.Sleep(500 * time.Microsecond)
		}
		stmt = append(stmt, committed.Sub(start).Seconds())
		catchup = append(catchup, time.Since(committed).Seconds())
		log.Printf("round %d: INSERT %.3f s, all keys in Redis %.3f s after commit", r+1, stmt[r], catchup[r])
	}
	s, c := median(stmt), median(catchup)
	b.add(result{
		figure: fmt.Sprintf("apply, INSERT ... SELECT %d rows: catch-up after commit", b.apply), value: secs(c), baseline: secs(s) + " (statement)",
		score: fmt.Sprintf("%.2f", c/s), target: "<= 1.0", met: met(c/s <= 1.0),
	})
	rate := float64(b.apply) / c
	b.add(result{
		figure: "apply rate (rows / catch-up)", value: fmt.Sprintf("%.0f rows/s", rate), baseline: "-",
		score: fmt.Sprintf("%.0f rows/s", rate), target: ">= 150000", met: met(rate >= 150000),
	})
	return nil
}

// waitDBSize waits until the Redis database's key count satisfies ok.
func (b *bench) waitDBSize(ctx context.Context, ok func(int64) bool) error {
	deadline := time.Now().Add(3 * time.Minute)
	for {
		n, err := b.rdb.DBSize(ctx).Result()
		if err != nil {
			return err
		}
		if ok(n) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still %d keys after 3 minutes", n)
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
}

// lag updates the probe row every 50 ms and times how long after the
// commit Redis shows the new value, alternating periods with and without
// a pgbench update load on t.
func (b *bench) lag(ctx context.Context) error {
	var v int64
	idle, loaded, loadTPS, err := b.alternateLoad(ctx, "lag", func() ([]time.Duration, error) { return b.probe(ctx, &v, b.lagT) })
	if err != nil {
		return err
	}
	b.add(result{
		figure: fmt.Sprintf("lag p99 under pgbench load (%.0f TPS)", median(loadTPS)), value: ms(percentile(loaded, .99)),
		baseline: ms(percentile(idle, .99)) + " (idle)", score: ms(percentile(loaded, .99)), target: "<= 10 ms", met: met(percentile(loaded, .99) <= 10*time.Millisecond),
	})
	b.add(result{
		figure: "lag p50 idle", value: ms(percentile(idle, .5)),
		baseline: ms(percentile(loaded, .5)) + " (load)", score: ms(percentile(idle, .5)), target: "<= 2 ms", met: met(percentile(idle, .5) <= 2*time.Millisecond),
	})
	return nil
}

// alternateLoad runs measure in periods with and without the 2-client
// pgbench update load on t, alternated and rotated each round, and
// returns the idle and loaded samples and the load's TPS per round.
func (b *bench) alternateLoad(ctx context.Context, what string, measure func() ([]time.Duration, error)) (idle, loaded []time.Duration, loadTPS []float64, err error) {
	script, cleanup, err := b.updateScript()
	if err != nil {
		return nil, nil, nil, err
	}
	defer cleanup()
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
				// Let pgbench connect and reach full speed.
				_ = sleep(ctx, 500*time.Millisecond)
			}
			ds, err := measure()
			wg.Wait()
			cancel()
			if err != nil {
				return nil, nil, nil, err
			}
			if perr != nil {
				return nil, nil, nil, perr
			}
			if load {
				loaded = append(loaded, ds...)
				loadTPS = append(loadTPS, tps)
			} else {
				idle = append(idle, ds...)
			}
			log.Printf("%s round %d load=%v: p50 %s p99 %s max %s over %d samples", what, r+1, load, ms(percentile(ds, .5)), ms(percentile(ds, .99)), ms(percentile(ds, 1)), len(ds))
		}
	}
	return idle, loaded, loadTPS, nil
}

// probe updates the probe row every 50 ms for d and returns each lag.
func (b *bench) probe(ctx context.Context, v *int64, d time.Duration) ([]time.Duration, error) {
	var out []time.Duration
	tick := time.NewTicker(50 * time.Millisecond)
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
		committed := time.Now()
		for {
			s, err := b.rdb.Get(ctx, "probe:1").Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				return nil, err
			}
			var row struct{ V int64 }
			if s != "" {
				if err := json.Unmarshal([]byte(s), &row); err != nil {
					return nil, fmt.Errorf("probe:1 holds %q: %w", s, err)
				}
			}
			if row.V >= *v {
				break
			}
			if time.Since(committed) > 10*time.Second {
				return nil, fmt.Errorf("probe value %d not in Redis 10 s after its commit", *v)
			}
			time.Sleep(100 * time.Microsecond)
		}
		out = append(out, time.Since(committed))
	}
	return out, nil
}
