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
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
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
  pgredis resync [--dry-run [--exit-code]] [TABLE...]
                            reconcile Redis with the tables once
  pgredis status [--json] [--exit-code]
                            show each table's trigger, keys in Redis, the workers, the lag and readiness
  pgredis version           print the version

Environment:
  DATABASE_URL          PostgreSQL URL (required)
  REDIS_URL             redis:// or rediss:// URL (default redis://127.0.0.1:6379/0)
  PGREDIS_TABLES        tables to sync: "users; public.orders key=order:{id} format=hash"
  PGREDIS_STATE_PREFIX  prefix of pgredis's own Redis keys (default pgredis:)
  PGREDIS_HTTP_ADDR     worker's /metrics, /healthz and /readyz address (off when empty)

Run 'pgredis CMD --help' for a command's flags and the variables it reads; the
README.md and docs/ document everything. Exit status: 0 done, 1 error, 2 bad command line,
3 not ready (status --exit-code) or drift (resync --exit-code).
`

// usageError is a mistake on the command line: exit 2 with usage.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// cmdUsageError is a mistake on a command's command line: exit 2,
// pointing at that command's help.
type cmdUsageError struct{ cmd, msg string }

func (e cmdUsageError) Error() string { return e.msg }

// exitCode is a result, not a failure, that a script tests with the exit
// status: drift found (resync --dry-run --exit-code), not ready (status
// --exit-code). msg goes to stderr.
type exitCode struct {
	code int
	msg  string
}

func (e exitCode) Error() string { return e.msg }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// go-redis logs dial failures itself, on stderr and in its own format;
	// pgredis reports them once, as its own error (the worker routes them
	// to its logger at debug level instead).
	redis.SetLogger(quietRedis{})
	err := dispatch(ctx, args, stdout, stderr)
	var ue usageError
	var ce cmdUsageError
	var ec exitCode
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "pgredis: %s; run 'pgredis --help' for usage\n", oneLine(ue.msg))
		return 2
	case errors.As(err, &ce):
		fmt.Fprintf(stderr, "pgredis %s: %s; run 'pgredis %s --help' for usage\n", ce.cmd, oneLine(ce.msg), ce.cmd)
		return 2
	case errors.As(err, &ec):
		fmt.Fprintf(stderr, "pgredis: %s\n", oneLine(ec.msg))
		return ec.code
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
	case "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "help":
		if len(rest) == 0 {
			fmt.Fprint(stdout, usage)
			return nil
		}
		return dispatch(ctx, append(rest, "--help"), stdout, stderr)
	case "--version":
		fmt.Fprintln(stdout, versionLine())
		return nil
	case "version":
		fs := flags("version", "version", stdout)
		if err := parseFlags(fs, rest); err != nil {
			return err
		}
		if err := noArgs(fs); err != nil {
			return err
		}
		fmt.Fprintln(stdout, versionLine())
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

// flags makes a command's flag set; parseFlags prints its help on --help.
func flags(name, synopsis string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses flags anywhere among the arguments (resync TABLE
// --dry-run), up to a "--" after which everything is an argument. On
// --help it prints the command's help, to the flag set's output, once.
func parseFlags(fs *flag.FlagSet, args []string) error {
	out := fs.Output()
	fs.SetOutput(io.Discard)
	defer fs.SetOutput(out)
	var pos []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			printHelp(out, fs, pos)
			return err
		}
		if err != nil {
			return cmdUsageError{cmd: helpKey(fs, pos), msg: strings.TrimPrefix(err.Error(), "flag provided but not defined: ") + flagHint(err)}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	// Leave the arguments where fs.Args finds them.
	return fs.Parse(append([]string{"--"}, pos...))
}

// flagHint completes the flag package's "flag provided but not defined".
func flagHint(err error) string {
	if strings.HasPrefix(err.Error(), "flag provided but not defined") {
		return " is not a flag of this command"
	}
	return ""
}

// noArgs rejects arguments to a command that takes none.
func noArgs(fs *flag.FlagSet) error {
	if fs.NArg() > 0 {
		return cmdUsageError{cmd: fs.Name(), msg: fmt.Sprintf("takes no arguments, got %q", fs.Arg(0))}
	}
	return nil
}
