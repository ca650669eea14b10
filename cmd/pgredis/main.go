// Command pgredis keeps Redis an exact mirror of chosen PostgreSQL tables.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = "unknown"
)

const usage = `pgredis keeps Redis an exact, continuously updated mirror of PostgreSQL tables.

Usage:
  pgredis migrate up        install pgredis's schema and the triggers for PGREDIS_TABLES
  pgredis migrate down      remove every pgredis object from the database
  pgredis migrate version   print the applied migration version
  pgredis worker            LISTEN and apply changes to Redis until SIGTERM/SIGINT
  pgredis resync [--dry-run] [TABLE...]
                            reconcile Redis with the tables once
  pgredis status [--json]   show each table's trigger, keys in Redis, the active worker and its lag
  pgredis version           print the version

Environment:
  DATABASE_URL          PostgreSQL URL (required)
  REDIS_URL             redis:// or rediss:// URL (default redis://127.0.0.1:6379/0)
  PGREDIS_TABLES        tables to sync: "users; public.orders key=order:{id} format=hash"
  PGREDIS_STATE_PREFIX  prefix of pgredis's own Redis keys (default pgredis:)
  PGREDIS_HTTP_ADDR     worker's /metrics, /healthz and /readyz address (off when empty)

Run 'pgredis CMD --help' for a command's options; the README documents everything.
`

// usageError is a mistake on the command line: exit 2 with usage.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err := dispatch(ctx, args, stdout, stderr)
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "pgredis: %s\nRun 'pgredis --help' for usage.\n", ue.msg)
		return 2
	default:
		printFatal(stderr, err)
		return 1
	}
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command given"}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	case "version", "--version":
		fmt.Fprintf(stdout, "pgredis %s (commit %s)\n", version, commit)
		return nil
	case "migrate":
		return runMigrate(ctx, rest, stdout)
	case "worker":
		return runWorker(ctx, rest, stdout)
	case "resync":
		return runResync(ctx, rest, stdout)
	case "status":
		return runStatus(ctx, rest, stdout)
	default:
		return usageError{fmt.Sprintf("unknown command %q", cmd)}
	}
}

// flags parses a command's flags; --help prints its usage to stdout.
func flags(name, synopsis string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: pgredis %s\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.Usage()
		return err
	}
	if err != nil {
		return usageError{err.Error()}
	}
	return nil
}
