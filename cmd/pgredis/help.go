package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"reflect"
	"strings"
	"text/tabwriter"
)

// cmdDoc is what 'pgredis CMD --help' says about a command.
type cmdDoc struct {
	synopsis string
	about    string
	// env lists the variables the command reads; "redis" stands for
	// REDIS_URL and every PGREDIS_REDIS_* variable, "all" for every one.
	env []string
}

var docs = map[string]cmdDoc{
	"migrate": {
		synopsis: "migrate up|down|version",
		about:    "Manages pgredis's objects in the database; see 'pgredis migrate up --help' and the others.",
		env:      []string{"DATABASE_URL", "PGREDIS_TABLES", "PGREDIS_STATE_PREFIX"},
	},
	"migrate up": {
		synopsis: "migrate up [--dry-run] [--lock-timeout D] [--lock-retries N]",
		about: "Applies pgredis's embedded migrations, then installs or updates the triggers for exactly\n" +
			"the tables in PGREDIS_TABLES, removing pgredis triggers from tables no longer listed.\n" +
			"Every table is checked against the catalog before anything changes. Idempotent.",
		env: []string{"DATABASE_URL", "PGREDIS_TABLES", "PGREDIS_STATE_PREFIX"},
	},
	"migrate down": {
		synopsis: "migrate down",
		about:    "Removes every pgredis object (triggers, functions, the pgredis schema and its\nmigrations record). User tables and data, and Redis, are untouched.",
		env:      []string{"DATABASE_URL"},
	},
	"migrate version": {
		synopsis: "migrate version",
		about:    "Prints the applied migration version and whether it is dirty; changes nothing.",
		env:      []string{"DATABASE_URL"},
	},
	"worker": {
		synopsis: "worker",
		about: "LISTENs and applies every change to Redis until SIGTERM/SIGINT (exit 0). Reconciles every\n" +
			"table on start and after every reconnect. Any number may run: one applies, the others stand by.",
		env: []string{"all"},
	},
	"resync": {
		synopsis: "resync [--dry-run [--exit-code]] [TABLE...]",
		about: "Reconciles Redis with all (or the named) synced tables once and prints, per table, rows\n" +
			"scanned, keys written, keys deleted and keys already correct. TABLE is a name as in\n" +
			"PGREDIS_TABLES (products, public.products, PRODUCTS, \"Settings\"); a table listed more than once\n" +
			"is reconciled entry by entry, a line each. Safe while a worker runs.\n" +
			"Exit status: 0 done, 1 error, 2 bad command line; with --dry-run --exit-code, 3 when drift was found.",
		env: []string{"DATABASE_URL", "redis", "PGREDIS_TABLES", "PGREDIS_STATE_PREFIX", "PGREDIS_LOG_FORMAT", "PGREDIS_LOG_LEVEL",
			"PGREDIS_PROGRESS_INTERVAL", "PGREDIS_STANDBY_POLL"},
	},
	"status": {
		synopsis: "status [--json] [--exit-code]",
		about: "Prints, per table, its trigger and spec, whether it still fits it and its keys in Redis; the\n" +
			"active worker and the standbys; the last applied change, the lag now and the last heartbeat.\n" +
			"Exit status: 0 done, 1 error (PostgreSQL or Redis unreachable, ...), 2 bad command line;\n" +
			"with --exit-code, 3 when the mirror is not ready (a trigger missing, a table unfit, no active\n" +
			"worker, or no heartbeat within PGREDIS_HEARTBEAT_TIMEOUT), the reason on stderr.",
		env: []string{"DATABASE_URL", "redis", "PGREDIS_TABLES", "PGREDIS_STATE_PREFIX", "PGREDIS_HEARTBEAT_TIMEOUT"},
	},
	"version": {
		synopsis: "version",
		about:    "Prints the version and commit pgredis was built from.",
	},
}

// envHelp describes the variables; one without an entry is listed bare.
var envHelp = map[string]string{
	"DATABASE_URL":                    "PostgreSQL URL or key=value string (required)",
	"REDIS_URL":                       "redis:// or rediss:// (TLS) URL, database in the path (default redis://127.0.0.1:6379/0)",
	"PGREDIS_TABLES":                  `tables to sync, ';'-separated: "users; public.orders key=order:{id} format=hash"`,
	"PGREDIS_STATE_PREFIX":            "prefix of pgredis's own Redis keys (default pgredis:)",
	"PGREDIS_LOG_FORMAT":              "text or json (default text)",
	"PGREDIS_LOG_LEVEL":               "debug, info, warn or error (default info)",
	"PGREDIS_BATCH_SIZE":              "most notifications applied in one Redis round trip, at least 1 (default 256)",
	"PGREDIS_STANDBY_POLL":            "how often a standby tries to take over (default 1s)",
	"PGREDIS_CHECK_INTERVAL":          "how often the active worker checks Redis still holds its claim (default 1s)",
	"PGREDIS_STOP_TIMEOUT":            "longest wait for a clean stop after SIGTERM/SIGINT (default 4s)",
	"PGREDIS_MAX_BACKOFF":             "cap of the reconnect backoff (default 10s)",
	"PGREDIS_HTTP_ADDR":               "host:port of /metrics, /healthz and /readyz (off when empty)",
	"PGREDIS_HEARTBEAT_INTERVAL":      "how often the worker probes both stores and sends a heartbeat (default 1s)",
	"PGREDIS_HEARTBEAT_TIMEOUT":       "not ready when no heartbeat was applied for this long; above the interval (default 15s)",
	"PGREDIS_PROGRESS_INTERVAL":       "how often a long reconcile reports progress (default 5s)",
	"PGREDIS_REDIS_CLUSTER":           "true: REDIS_URL names a seed node of a Redis Cluster",
	"PGREDIS_REDIS_SENTINEL_MASTER":   "the master's name under Sentinel",
	"PGREDIS_REDIS_SENTINEL_ADDRS":    "comma-separated host:port of the sentinels",
	"PGREDIS_REDIS_SENTINEL_PASSWORD": "the sentinels' own password",
	"PGREDIS_REDIS_CA_CERT":           "PEM file of a CA to trust for rediss://",
}

// envNames lists the variables pgredis reads, in the order env declares them.
func envNames() []string {
	var names []string
	ty := reflect.TypeFor[env]()
	for i := 0; i < ty.NumField(); i++ {
		if tag := ty.Field(i).Tag.Get("envconfig"); tag != "" {
			names = append(names, tag)
		}
	}
	return names
}

// helpKey names the command a flag set parses: its name when that is a
// command ("migrate up"), else its first word, plus the subcommand once
// that is among the arguments ("migrate" with "up").
func helpKey(fs *flag.FlagSet, pos []string) string {
	key := fs.Name()
	if _, ok := docs[key]; ok {
		return key
	}
	key = strings.Fields(key)[0]
	if len(pos) > 0 {
		if _, ok := docs[key+" "+pos[0]]; ok {
			return key + " " + pos[0]
		}
	}
	return key
}

// printHelp prints a command's usage, flags and variables.
func printHelp(w io.Writer, fs *flag.FlagSet, pos []string) {
	key := helpKey(fs, pos)
	doc, ok := docs[key]
	if !ok {
		doc = cmdDoc{synopsis: fs.Name()}
	}
	fmt.Fprintf(w, "Usage: pgredis %s\n\n", doc.synopsis)
	if doc.about != "" {
		fmt.Fprintf(w, "%s\n\n", doc.about)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "Flags:")
	fs.VisitAll(func(f *flag.Flag) {
		name := "--" + f.Name
		if _, isBool := f.Value.(interface{ IsBoolFlag() bool }); !isBool {
			name += " VALUE"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", name, f.Usage)
	})
	fmt.Fprintf(tw, "  -h, --help\tshow this help\n")
	tw.Flush()
	if vars := expandEnv(doc.env); len(vars) > 0 {
		fmt.Fprintln(w, "\nEnvironment:")
		for _, v := range vars {
			fmt.Fprintf(tw, "  %s\t%s\n", v, envHelp[v])
		}
		tw.Flush()
	}
}

func expandEnv(list []string) []string {
	var out []string
	for _, v := range list {
		switch v {
		case "all":
			return envNames()
		case "redis":
			out = append(out, "REDIS_URL")
			for _, n := range envNames() {
				if strings.HasPrefix(n, "PGREDIS_REDIS_") {
					out = append(out, n)
				}
			}
		default:
			out = append(out, v)
		}
	}
	return out
}

// oneLine keeps an error on one line: libraries (pgx's connect errors,
// one line per address tried) may spread it over several, often
// repeating themselves.
func oneLine(msg string) string {
	if !strings.ContainsAny(msg, "\r\n") {
		return msg
	}
	var parts []string
	seen := map[string]bool{}
	for _, l := range strings.FieldsFunc(msg, func(r rune) bool { return r == '\n' || r == '\r' }) {
		l = strings.TrimSpace(l)
		if l == "" || seen[l] {
			continue
		}
		seen[l] = true
		parts = append(parts, l)
	}
	return strings.Join(parts, " ")
}

// quietRedis drops go-redis's own log lines (see run).
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}
