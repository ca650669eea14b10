package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/pgredis/pgredis/internal/spec"
	"github.com/pgredis/pgredis/worker"
)

func runResync(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flags("resync", "resync [--dry-run [--exit-code]] [TABLE...]", stdout)
	dry := fs.Bool("dry-run", false, "report the drift without changing Redis")
	exit := fs.Bool("exit-code", false, "exit 3 when drift was found (with --dry-run) or repaired")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	for _, n := range fs.Args() {
		if _, _, err := spec.ParseName(n); err != nil {
			return cmdUsageError{cmd: "resync", msg: fmt.Sprintf("TABLE %s: %s", n, err)}
		}
	}
	e, err := loadEnv()
	if err != nil {
		return err
	}
	drift, err := resyncCount(ctx, e, fs.Args(), *dry, stdout, os.Stderr, isTerminal(os.Stderr))
	if err != nil {
		return err
	}
	if *exit && drift > 0 {
		what := "repaired"
		if *dry {
			what = "found"
		}
		return exitCode{code: 3, msg: fmt.Sprintf("drift %s in %d table(s)", what, drift)}
	}
	return nil
}

// resync runs the resync; progress goes to stderr, drawn in place when
// it is a terminal.
func resync(ctx context.Context, e *env, names []string, dry bool, stdout, stderr io.Writer, tty bool) error {
	_, err := resyncCount(ctx, e, names, dry, stdout, stderr, tty)
	return err
}

// resyncCount is resync, also returning how many tables had drift.
func resyncCount(ctx context.Context, e *env, names []string, dry bool, stdout, stderr io.Writer, tty bool) (int, error) {
	cfg, err := workerConfig(ctx, e)
	if err != nil {
		return 0, err
	}
	defer cfg.Redis.Close()
	if cfg.Logger, err = e.loggerTo(stderr); err != nil {
		return 0, err
	}
	cfg.Logger = slog.New(quietShape{cfg.Logger.Handler()})
	host, _ := os.Hostname()
	cfg.ApplicationName = fmt.Sprintf("pgredis resync %s pid %d", host, os.Getpid())
	names, err = configuredNames(cfg.Tables, names)
	if err != nil {
		return 0, err
	}
	unfit, err := precheck(ctx, e, cfg.Tables, cfg.Redis)
	if err != nil {
		return 0, err
	}
	progress := &progressPrinter{out: stderr, tty: tty, log: cfg.Logger}
	cfg.Progress, cfg.ProgressInterval = progress.show, e.ProgressInterval
	if tty {
		cfg.ProgressInterval = 250 * time.Millisecond
	}
	defer progress.clear()
	var failed, drift int
	_, err = worker.Resync(ctx, cfg, names, dry, func(r worker.Report) {
		progress.clear()
		verb := "written"
		if r.DryRun {
			verb = "to write"
		}
		if r.Error != "" {
			failed++
			if why, ok := unfit[r.Table]; ok {
				r.Error = "no longer fits its spec: " + why + " (run pgredis migrate up with a fitting PGREDIS_TABLES)"
			}
			fmt.Fprintf(stdout, "%s: error: %s\n", r.Table, r.Error)
			return
		}
		if r.Written > 0 || r.Deleted > 0 || r.Indexes > 0 {
			drift++
		}
		index := ""
		if r.Indexes > 0 {
			index = fmt.Sprintf(", index entries %s %d", map[bool]string{true: "to repair", false: "repaired"}[r.DryRun], r.Indexes)
		}
		fmt.Fprintf(stdout, "%s: rows scanned %d, keys %s %d, keys %s %d, keys already correct %d%s (%s)\n",
			r.Table, r.Scanned, verb, r.Written, map[bool]string{true: "to delete", false: "deleted"}[r.DryRun], r.Deleted, r.Unchanged,
			index, r.Duration.Round(time.Millisecond))
	})
	if err != nil {
		return drift, err
	}
	if failed > 0 {
		return drift, fmt.Errorf("%d table(s) could not be reconciled; see above", failed)
	}
	return drift, nil
}

// configuredNames reads TABLE arguments by PGREDIS_TABLES's rules
// (products, PRODUCTS, public.products, "Settings") and returns each as
// the quoted name of the entry it names, or says none does.
func configuredNames(tables []spec.Table, names []string) ([]string, error) {
	var out []string
	for _, n := range names {
		found := false
		for _, t := range tables {
			if t.Named(n) {
				out, found = append(out, t.Ident()), true
				break
			}
		}
		if !found {
			var listed []string
			for _, t := range tables {
				listed = append(listed, t.String())
			}
			return nil, fmt.Errorf("table %s is not in PGREDIS_TABLES (it lists %s); unquoted names fold to lower case, quote a name to keep its case", n, strings.Join(listed, ", "))
		}
	}
	return out, nil
}
