package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// result is one row of the printed table.
type result struct {
	figure   string
	value    string // pgredis
	baseline string
	score    string // what the target is about, usually a ratio
	target   string
	met      string // "yes", "NO", or "-" for a reference row
}

func (b *bench) add(r result) {
	b.res = append(b.res, r)
	log.Printf("%s: %s (baseline %s) -> %s, target %s", r.figure, r.value, r.baseline, r.score, r.target)
}

func (b *bench) print(w io.Writer, smoke bool) {
	fmt.Fprintf(w, "\npgredis-bench: %d run(s) per figure, medians; t %d rows, apply %d rows, reconcile %d rows\n", b.runs, b.rows, b.apply, b.big)
	if smoke {
		fmt.Fprintln(w, "(smoke run: tiny sizes, the figures mean nothing)")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "figure\tpgredis\tbaseline\tscore\ttarget\tmet")
	fmt.Fprintln(tw, "---\t---\t---\t---\t---\t---")
	for _, r := range b.res {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.figure, r.value, r.baseline, r.score, r.target, r.met)
	}
	tw.Flush()
}

func met(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// percentile of durations, nearest rank.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

func secs(d float64) string { return fmt.Sprintf("%.3f s", d) }

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// pgredisCmd runs the real pgredis binary against the scratch database.
func (b *bench) pgredisCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, b.pgredis, args...)
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+b.dbURL,
		"REDIS_URL="+b.redisURL,
		"PGREDIS_TABLES="+b.tables,
		"PGREDIS_LOG_LEVEL=info",
	)
	return cmd
}

// rotate returns xs rotated by r, so each round starts with another variant.
func rotate[T any](xs []T, r int) []T {
	r %= len(xs)
	return append(slices.Clone(xs[r:]), xs[:r]...)
}

func joinLines(s string) string { return strings.Join(strings.Fields(s), " ") }
