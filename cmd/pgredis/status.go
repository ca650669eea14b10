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

	"github.com/jackc/pgx/v5"

	"github.com/pgredis/pgredis/internal/spec"
	"github.com/pgredis/pgredis/notify"
	"github.com/pgredis/pgredis/worker"
)

// statusReport is what pgredis status prints; --json prints it as is.
type statusReport struct {
	Tables []tableStatus `json:"tables"`
	Worker workerStatus  `json:"worker"`
	// Standbys are the other workers connected to the database.
	Standbys []standby `json:"standbys"`
	// RedisError is set when Redis could not be read.
	RedisError string `json:"redis_error,omitempty"`
	// Ready is false when something keeps the mirror from following the
	// tables; NotReady says the first such thing.
	Ready    bool   `json:"ready"`
	NotReady string `json:"not_ready,omitempty"`
}

type standby struct {
	ApplicationName string `json:"application_name"`
	Host            string `json:"host,omitempty"`
	PID             int    `json:"pid,omitempty"`
	ClientAddr      string `json:"client_addr,omitempty"`
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
	// LagNowSeconds bounds the lag now: every change committed before the
	// last heartbeat was sent is in Redis, and the heartbeat was applied
	// this long ago.
	LagNowSeconds *float64 `json:"lag_now_seconds,omitempty"`
	// Quarantined: tables the worker cannot mirror now, with the reason.
	Quarantined map[string]string `json:"quarantined,omitempty"`
}

func runStatus(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flags("status", "status [--json] [--exit-code]", stdout)
	asJSON := fs.Bool("json", false, "print the status as JSON, for scripts")
	wantExit := fs.Bool("exit-code", false, "exit 3 when the mirror is not ready (reason on stderr)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	e, err := loadEnv()
	if err != nil {
		return err
	}
	rep, err := writeStatusReport(ctx, e, *asJSON, stdout)
	if err != nil {
		return err
	}
	if *wantExit && !rep.Ready {
		return exitCodeNotReady(rep.NotReady)
	}
	return nil
}

// exitCodeNotReady is status --exit-code's result for a mirror not ready.
func exitCodeNotReady(reason string) error {
	return exitCode{code: 3, msg: "not ready: " + reason}
}

func writeStatus(ctx context.Context, e *env, asJSON bool, stdout io.Writer) error {
	_, err := writeStatusReport(ctx, e, asJSON, stdout)
	return err
}

func writeStatusReport(ctx context.Context, e *env, asJSON bool, stdout io.Writer) (*statusReport, error) {
	rep, err := collectStatus(ctx, e)
	if err != nil {
		return nil, err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return rep, enc.Encode(rep)
	}
	printStatus(stdout, rep)
	return rep, nil
}

func collectStatus(ctx context.Context, e *env) (*statusReport, error) {
	// Configuration first: a mistake there is the first thing to fix.
	var configured []spec.Table
	if e.Tables != "" {
		var err error
		if configured, err = spec.Parse(e.Tables); err != nil {
			return nil, err
		}
	}
	conn, err := e.connectPG(ctx)
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
	for _, c := range configured {
		if !slices.ContainsFunc(names, func(t spec.Table) bool { return t.ID() == c.ID() }) {
			names = append(names, c)
		}
	}
	// A table listed more than once has a line per entry, its key in the spec.
	slices.SortFunc(names, func(a, b spec.Table) int { return strings.Compare(a.ID(), b.ID()) })
	rdb, err := e.redis()
	if err != nil {
		return nil, err
	}
	defer rdb.Close()
	rep := &statusReport{Tables: []tableStatus{}, Standbys: []standby{}}
	if err := e.pingRedis(ctx, rdb); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
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
			if in.Table.ID() == t.ID() {
				st, key := in.Table, in.Key
				st.Key = &key
				ts.Spec = strings.TrimPrefix(st.Canonical(), st.Ident()+" ")
				if _, err := notify.Resolve(ctx, conn, []spec.Table{in.Table}, ""); err != nil {
					ts.Unfit = err.Error()
				} else if msg := captureProblems(ctx, conn, in.Table); msg != "" {
					ts.Unfit = msg
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
	if rep.Standbys, err = standbys(ctx, conn, info.ApplicationName); err != nil {
		return nil, err
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
			if rep.Worker.Active {
				now := max(time.Since(st.BeatAt), 0).Seconds()
				rep.Worker.LagNowSeconds = &now
			}
		}
	}
	rep.NotReady = notReady(rep, e.HeartbeatTimeout)
	rep.Ready = rep.NotReady == ""
	return rep, nil
}

// notReady names the first thing that keeps the mirror from following
// the tables, in the order an operator would fix them; "" when ready.
func notReady(rep *statusReport, heartbeatTimeout time.Duration) string {
	if len(rep.Tables) == 0 {
		return "no table is synced (run pgredis migrate up with PGREDIS_TABLES)"
	}
	for _, t := range rep.Tables {
		switch {
		case t.Trigger != "installed":
			return fmt.Sprintf("table %s: trigger %s (run pgredis migrate up)", t.Table, t.Trigger)
		case t.Unfit != "":
			return fmt.Sprintf("table %s no longer fits its spec: %s", t.Table, t.Unfit)
		case t.KeysError != "":
			return fmt.Sprintf("table %s: keys unknown: %s", t.Table, t.KeysError)
		}
	}
	if rep.RedisError != "" {
		return "redis: " + rep.RedisError
	}
	ws := rep.Worker
	switch {
	case !ws.Active:
		return "no worker is active (start pgredis worker)"
	case ws.HeartbeatAt == nil:
		return "the active worker has not applied a heartbeat yet"
	}
	if heartbeatTimeout > 0 {
		if age := time.Since(*ws.HeartbeatAt); age > heartbeatTimeout {
			return fmt.Sprintf("the active worker applied no heartbeat for %s (more than PGREDIS_HEARTBEAT_TIMEOUT %s)", age.Round(time.Millisecond), heartbeatTimeout)
		}
	}
	return ""
}

// standbys lists the workers connected to the database other than the
// active one, one per process (a worker holds several sessions).
func standbys(ctx context.Context, conn *pgx.Conn, active string) ([]standby, error) {
	rows, err := conn.Query(ctx, `SELECT application_name, min(coalesce(host(client_addr), 'local'))
FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'pgredis worker %' AND application_name <> $1
GROUP BY application_name ORDER BY application_name`, active)
	if err != nil {
		return nil, fmt.Errorf("error reading pg_stat_activity: %w", err)
	}
	out := []standby{}
	for rows.Next() {
		var s standby
		if err := rows.Scan(&s.ApplicationName, &s.ClientAddr); err != nil {
			return nil, fmt.Errorf("error reading pg_stat_activity: %w", err)
		}
		s.Host, s.PID = parseAppName(s.ApplicationName)
		out = append(out, s)
	}
	return out, rows.Err()
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
	for _, s := range rep.Standbys {
		who := s.ApplicationName
		if s.Host != "" {
			who = fmt.Sprintf("host %s pid %d", s.Host, s.PID)
		}
		fmt.Fprintf(w, "standby: %s, from %s\n", who, s.ClientAddr)
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
	if ws.LagNowSeconds != nil {
		fmt.Fprintf(w, "lag now: at most %s (every change committed before the last heartbeat is in Redis)\n",
			time.Duration(*ws.LagNowSeconds*float64(time.Second)).Round(time.Millisecond))
	}
	if rep.Ready {
		fmt.Fprintln(w, "ready: yes")
	} else {
		fmt.Fprintf(w, "ready: no, %s\n", rep.NotReady)
	}
	if rep.RedisError != "" {
		fmt.Fprintf(w, "redis: %s\n", rep.RedisError)
	}
}

// captureProblems says what keeps the table's writes from being mirrored
// as installed (a disabled trigger, a partition without triggers, a table
// swapped in by renames); empty when nothing does or it cannot tell.
func captureProblems(ctx context.Context, q notify.Querier, t spec.Table) string {
	problems, err := notify.CaptureProblems(ctx, q, t)
	if err != nil {
		return ""
	}
	var msgs []string
	for _, p := range problems {
		msgs = append(msgs, p.String())
	}
	return strings.Join(msgs, "; ")
}
