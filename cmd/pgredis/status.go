package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pgredis/pgredis/internal/spec"
	"github.com/pgredis/pgredis/notify"
	"github.com/pgredis/pgredis/worker"
)

// statusReport is what pgredis status prints; --json prints it as is.
type statusReport struct {
	Tables []tableStatus `json:"tables"`
	Worker workerStatus  `json:"worker"`
	// RedisError is set when Redis could not be read.
	RedisError string `json:"redis_error,omitempty"`
}

type tableStatus struct {
	Table string `json:"table"`
	// Trigger is installed, missing or partial.
	Trigger  string `json:"trigger"`
	Triggers int    `json:"triggers_installed"`
	Spec     string `json:"spec,omitempty"`
	// Unfit says why the table no longer fits its installed spec.
	Unfit     string `json:"unfit,omitempty"`
	Keys      *int64 `json:"keys,omitempty"`
	KeysError string `json:"keys_error,omitempty"`
}

type workerStatus struct {
	Active          bool   `json:"active"`
	ApplicationName string `json:"application_name,omitempty"`
	Host            string `json:"host,omitempty"`
	PID             int    `json:"pid,omitempty"`
	BackendPID      int    `json:"backend_pid,omitempty"`
	ClientAddr      string `json:"client_addr,omitempty"`
	// From the status key the active worker keeps in Redis.
	HeartbeatAt   *time.Time `json:"heartbeat_at,omitempty"`
	LastChangeAt  *time.Time `json:"last_change_at,omitempty"`
	LastAppliedAt *time.Time `json:"last_applied_at,omitempty"`
	LagSeconds    *float64   `json:"lag_seconds,omitempty"`
	// Quarantined: tables the worker cannot mirror now, with the reason.
	Quarantined map[string]string `json:"quarantined,omitempty"`
}

func runStatus(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flags("status", "status [--json]", stdout)
	asJSON := fs.Bool("json", false, "print the status as JSON, for scripts")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	e, err := loadEnv()
	if err != nil {
		return err
	}
	return writeStatus(ctx, e, *asJSON, stdout)
}

func writeStatus(ctx context.Context, e *env, asJSON bool, stdout io.Writer) error {
	rep, err := collectStatus(ctx, e)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printStatus(stdout, rep)
	return nil
}

func collectStatus(ctx context.Context, e *env) (*statusReport, error) {
	pgcfg, err := e.pgConfig()
	if err != nil {
		return nil, err
	}
	conn, err := connectPG(ctx, pgcfg)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	installed, err := notify.LoadInstalled(ctx, conn)
	if err != nil {
		return nil, err
	}
	var names []spec.Table
	for _, in := range installed {
		names = append(names, in.Table)
	}
	if e.Tables != "" {
		configured, err := spec.Parse(e.Tables)
		if err != nil {
			return nil, err
		}
		for _, c := range configured {
			if !slices.ContainsFunc(names, func(t spec.Table) bool { return t.String() == c.String() }) {
				names = append(names, c)
			}
		}
	}
	rdb, err := e.redis()
	if err != nil {
		return nil, err
	}
	defer rdb.Close()
	rep := &statusReport{Tables: []tableStatus{}}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := rdb.Ping(rctx).Err(); err != nil {
		rep.RedisError = redactErr(err)
	}
	for _, t := range names {
		n, err := notify.TriggersInstalled(ctx, conn, t)
		if err != nil {
			return nil, err
		}
		ts := tableStatus{Table: t.String(), Triggers: n, Trigger: "installed"}
		switch {
		case n == 0:
			ts.Trigger = "missing"
		case n < len(notify.TriggerNames()):
			ts.Trigger = "partial"
		}
		for _, in := range installed {
			if in.Table.String() == t.String() {
				st, key := in.Table, in.Key
				st.Key = &key
				ts.Spec = strings.TrimPrefix(st.Canonical(), st.Ident()+" ")
				if _, err := notify.Resolve(ctx, conn, []spec.Table{in.Table}, ""); err != nil {
					ts.Unfit = err.Error()
				}
				if rep.RedisError == "" {
					keys, err := worker.CountKeys(rctx, rdb, in.Key)
					if err != nil {
						ts.KeysError = err.Error()
					} else {
						ts.Keys = &keys
					}
				}
			}
		}
		rep.Tables = append(rep.Tables, ts)
	}
	info, ok, err := notify.ActiveWorker(ctx, conn)
	if err != nil {
		return nil, err
	}
	if ok {
		rep.Worker = workerStatus{Active: true, ApplicationName: info.ApplicationName, BackendPID: info.PID, ClientAddr: info.ClientAddr}
		rep.Worker.Host, rep.Worker.PID = parseAppName(info.ApplicationName)
	}
	if rep.RedisError == "" {
		st, found, err := worker.ReadStatus(rctx, rdb, e.StatePrefix)
		if err != nil {
			rep.RedisError = err.Error()
		} else if found {
			rep.Worker.HeartbeatAt = &st.BeatAt
			rep.Worker.Quarantined = st.Quarantined
			if !st.LastChangeAt.IsZero() {
				rep.Worker.LastChangeAt, rep.Worker.LastAppliedAt = &st.LastChangeAt, &st.LastAppliedAt
				rep.Worker.LagSeconds = &st.LagSeconds
			}
		}
	}
	return rep, nil
}

// parseAppName reads the host and pid out of the application_name a
// worker sets: "pgredis worker <host> pid <pid>".
func parseAppName(name string) (string, int) {
	f := strings.Fields(name)
	if len(f) != 5 || f[0] != "pgredis" || f[1] != "worker" || f[3] != "pid" {
		return "", 0
	}
	pid, _ := strconv.Atoi(f[4])
	return f[2], pid
}

func printStatus(w io.Writer, rep *statusReport) {
	if len(rep.Tables) == 0 {
		fmt.Fprintln(w, "no table is synced (run pgredis migrate up with PGREDIS_TABLES)")
	}
	for _, t := range rep.Tables {
		state := "trigger installed"
		switch t.Trigger {
		case "missing":
			state = "trigger NOT installed (run pgredis migrate up)"
		case "partial":
			state = fmt.Sprintf("trigger partly installed (%d of %d; run pgredis migrate up)", t.Triggers, len(notify.TriggerNames()))
		}
		line := fmt.Sprintf("table %s: %s", t.Table, state)
		if t.Spec != "" {
			line += " (" + t.Spec + ")"
		}
		if t.Unfit != "" {
			line += ", NO LONGER FITS ITS SPEC: " + t.Unfit + " (run pgredis migrate up with a fitting PGREDIS_TABLES)"
		}
		switch {
		case t.Keys != nil:
			line += fmt.Sprintf(", %d keys in Redis", *t.Keys)
		case t.KeysError != "":
			line += ", keys unknown: " + t.KeysError
		}
		fmt.Fprintln(w, line)
	}
	ws := rep.Worker
	if ws.Active {
		who := ws.ApplicationName
		if ws.Host != "" {
			who = fmt.Sprintf("host %s pid %d", ws.Host, ws.PID)
		}
		fmt.Fprintf(w, "worker: active (%s, backend pid %d, from %s)\n", who, ws.BackendPID, ws.ClientAddr)
	} else {
		fmt.Fprintln(w, "worker: none active")
	}
	if ws.LastChangeAt != nil {
		fmt.Fprintf(w, "last change: committed %s, applied %s (lag %s)\n", ws.LastChangeAt.Format(time.RFC3339Nano),
			ws.LastAppliedAt.Format(time.RFC3339Nano), time.Duration(*ws.LagSeconds*float64(time.Second)).Round(time.Microsecond))
	} else if ws.HeartbeatAt != nil {
		fmt.Fprintln(w, "last change: none applied since the worker started")
	}
	if ws.HeartbeatAt != nil {
		fmt.Fprintf(w, "last heartbeat: %s (%s ago)\n", ws.HeartbeatAt.Format(time.RFC3339Nano), time.Since(*ws.HeartbeatAt).Round(time.Millisecond))
	}
	for _, t := range slices.Sorted(maps.Keys(ws.Quarantined)) {
		fmt.Fprintf(w, "table %s: quarantined (%s)\n", t, ws.Quarantined[t])
	}
	if rep.RedisError != "" {
		fmt.Fprintf(w, "redis: %s\n", rep.RedisError)
	}
}
