package main

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"github.com/pgredis/pgredis/internal/spec"
	"github.com/pgredis/pgredis/notify"
)

func (b *bench) reconcileFigures(ctx context.Context) error {
	specs, err := spec.Parse("big")
	if err != nil {
		return err
	}
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	tables, err := notify.Resolve(ctx, conn, specs, "pgredis:")
	conn.Release()
	if err != nil {
		return err
	}
	// The baseline streams the very SET commands pgredis would send,
	// rendered by the same expressions, as RESP through redis-cli --pipe.
	resp := `SELECT '*3' || E'\r\n$3\r\nSET\r\n$' || octet_length(k) || E'\r\n' || k || E'\r\n$' || octet_length(v) || E'\r\n' || v || E'\r' FROM (` +
		tables[0].RenderSQL() + `) q`
	var pipe, empty, again, rss []float64
	for r := 0; r < b.runs; r++ {
		steps := []func() error{
			func() error {
				d, err := b.pipe(ctx, resp)
				pipe = append(pipe, d)
				return err
			},
			func() error {
				d, kb, err := b.resync(ctx, false)
				empty, rss = append(empty, d), append(rss, float64(kb)/1024)
				if err != nil {
					return err
				}
				d, _, err = b.resync(ctx, true)
				again = append(again, d)
				return err
			},
		}
		for _, step := range rotate(steps, r) {
			if err := step(); err != nil {
				return err
			}
		}
		log.Printf("round %d: pipe %.3f s, resync into empty Redis %.3f s (max RSS %.0f MB), resync again %.3f s", r+1, pipe[r], empty[r], rss[r], again[r])
	}
	p := median(pipe)
	e, a := median(empty), median(again)
	b.add(result{
		figure: fmt.Sprintf("reconcile %d rows, empty Redis", b.big), value: secs(e), baseline: secs(p) + " (pipe)",
		score: fmt.Sprintf("%.2f", e/p), target: "<= 0.8", met: met(e/p <= 0.8),
	})
	mrss := median(rss)
	b.add(result{
		figure: "reconcile, resync max RSS", value: fmt.Sprintf("%.0f MB", mrss), baseline: "-",
		score: fmt.Sprintf("%.0f MB", mrss), target: "<= 150 MB", met: met(mrss <= 150),
	})
	b.add(result{
		figure: "reconcile, nothing to fix (writes 0 keys)", value: secs(a), baseline: secs(p) + " (pipe)",
		score: fmt.Sprintf("%.2f", a/p), target: "<= 0.5", met: met(a/p <= 0.5),
	})
	return nil
}

// pipe empties Redis and times psql | redis-cli --pipe.
func (b *bench) pipe(ctx context.Context, query string) (float64, error) {
	if err := b.rdb.FlushDB(ctx).Err(); err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, "bash", "-o", "pipefail", "-c", `psql -XAtq -v ON_ERROR_STOP=1 -d "$DB" -c "$Q" | redis-cli -u "$REDIS" --pipe`)
	cmd.Env = append(os.Environ(), "DB="+b.dbURL, "Q="+query, "REDIS="+b.redisURL,
		"PGOPTIONS=-c TimeZone=UTC -c DateStyle=ISO,MDY -c IntervalStyle=postgres -c extra_float_digits=1")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start).Seconds()
	if err != nil || !bytes.Contains(out, []byte("errors: 0, replies: "+strconv.Itoa(b.big))) {
		return d, fmt.Errorf("psql | redis-cli --pipe: %v: %s", err, out)
	}
	return d, nil
}

var resyncRe = regexp.MustCompile(`rows scanned (\d+), keys written (\d+), keys deleted (\d+), keys already correct (\d+)`)

// resync times pgredis resync big; expectClean says Redis is already
// correct, so it must write nothing. It returns the maximum RSS in KiB.
func (b *bench) resync(ctx context.Context, expectClean bool) (float64, int64, error) {
	if !expectClean {
		if err := b.rdb.FlushDB(ctx).Err(); err != nil {
			return 0, 0, err
		}
	}
	cmd := b.pgredisCmd(ctx, "resync", "big")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start).Seconds()
	if err != nil {
		return d, 0, fmt.Errorf("pgredis resync: %w: %s", err, out.String())
	}
	var kb int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		kb = ru.Maxrss
	}
	m := resyncRe.FindStringSubmatch(out.String())
	if m == nil {
		return d, kb, fmt.Errorf("unexpected resync output: %s", out.String())
	}
	scanned, _ := strconv.Atoi(m[1])
	written, _ := strconv.Atoi(m[2])
	if scanned != b.big || (expectClean && written != 0) || (!expectClean && written != b.big) {
		return d, kb, fmt.Errorf("resync did not do what it should (clean Redis: %v): %s", expectClean, joinLines(out.String()))
	}
	return d, kb, nil
}
