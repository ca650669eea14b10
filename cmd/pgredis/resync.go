package main

import (
	"context"
	"fmt"
	"io"
	"os"
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
	return resync(ctx, e, fs.Args(), *dry, stdout, os.Stderr, isTerminal(os.Stderr))
}

// resync runs the resync; progress goes to stderr, drawn in place when
// it is a terminal.
func resync(ctx context.Context, e *env, names []string, dry bool, stdout, stderr io.Writer, tty bool) error {
	cfg, err := workerConfig(ctx, e)
	if err != nil {
		return err
	}
	defer cfg.Redis.Close()
	if cfg.Logger, err = e.loggerTo(stderr); err != nil {
		return err
	}
	progress := &progressPrinter{out: stderr, tty: tty, log: cfg.Logger}
	cfg.Progress, cfg.ProgressInterval = progress.show, e.ProgressInterval
	if tty {
		cfg.ProgressInterval = 250 * time.Millisecond
	}
	defer progress.clear()
	var failed int
	_, err = worker.Resync(ctx, cfg, names, dry, func(r worker.Report) {
		progress.clear()
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
