package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/pgredis/pgredis/worker"
)

func runResync(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flags("resync", "resync [--dry-run] [TABLE...]", stdout)
	dry := fs.Bool("dry-run", false, "report the drift without changing Redis")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	e, err := loadEnv()
	if err != nil {
		return err
	}
	cfg, err := workerConfig(ctx, e)
	if err != nil {
		return err
	}
	defer cfg.Redis.Close()
	var failed int
	_, err = worker.Resync(ctx, cfg, fs.Args(), *dry, func(r worker.Report) {
		verb := "written"
		if r.DryRun {
			verb = "to write"
		}
		if r.Error != "" {
			failed++
			fmt.Fprintf(stdout, "%s: error: %s\n", r.Table, r.Error)
			return
		}
		fmt.Fprintf(stdout, "%s: rows scanned %d, keys %s %d, keys %s %d, keys already correct %d (%s)\n",
			r.Table, r.Scanned, verb, r.Written, map[bool]string{true: "to delete", false: "deleted"}[r.DryRun], r.Deleted, r.Unchanged,
			r.Duration.Round(time.Millisecond))
	})
	if err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d table(s) could not be reconciled; see above", failed)
	}
	return nil
}
