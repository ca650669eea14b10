package notify

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// startupSafe are the only startup parameters a stock PgBouncer accepts
// (it tracks them per client and sets them on whichever server it hands
// out); any other one is refused with "unsupported startup parameter"
// unless listed in ignore_startup_parameters. options is the user's own
// choice and stays where they put it.
var startupSafe = map[string]bool{
	"client_encoding":             true,
	"datestyle":                   true,
	"timezone":                    true,
	"standard_conforming_strings": true,
	"application_name":            true,
	"options":                     true,
}

// DeferParams moves every runtime parameter of cfg that a stock PgBouncer
// would refuse at startup into one set_config statement run right after
// connecting, so pgredis connects directly and through a session pool
// alike. On a direct connection the session ends up with the same
// settings: set_config(..., false) is session-wide, as a startup
// parameter is, and parses the value as a startup parameter would (a list
// such as search_path's stays a list). A hook cfg already has runs first.
// Call it on the config a connection is dialled with, after its last
// RuntimeParams change.
func DeferParams(cfg *pgx.ConnConfig) {
	var names []string
	for k := range cfg.RuntimeParams {
		if !startupSafe[strings.ToLower(k)] {
			names = append(names, k)
		}
	}
	if len(names) == 0 {
		return
	}
	sort.Strings(names)
	calls := make([]string, len(names))
	for i, k := range names {
		calls[i] = fmt.Sprintf("pg_catalog.set_config(%s, %s, false)", quoteLiteral(k), quoteLiteral(cfg.RuntimeParams[k]))
		delete(cfg.RuntimeParams, k)
	}
	sql := "SELECT " + strings.Join(calls, ", ")
	prev := cfg.AfterConnect
	cfg.AfterConnect = func(ctx context.Context, pc *pgconn.PgConn) error {
		if prev != nil {
			if err := prev(ctx, pc); err != nil {
				return err
			}
		}
		if _, err := pc.Exec(ctx, sql).ReadAll(); err != nil {
			return fmt.Errorf("error applying session settings %s: %w", strings.Join(names, ", "), err)
		}
		return nil
	}
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// ErrTransactionPooler is returned by CheckSession for a connection that a
// pooler hands to another client after each transaction.
var ErrTransactionPooler = errors.New("DATABASE_URL reaches PostgreSQL through a transaction-pooling connection pooler (PgBouncer pool_mode=transaction): pgredis needs a session of its own (LISTEN, advisory locks, prepared statements); point DATABASE_URL at PostgreSQL directly or at a session-mode pool (pool_mode=session)")

// CheckSession tells whether conn is a session of its own. A direct
// connection's BackendKeyData carries the backend's PID; a pooler sends
// one of its own, so only then is the pool mode probed: a second
// connection opens a transaction right after conn's statement ended. A
// session pool never lends conn's server to another client while conn is
// open; a transaction pool hands the server conn just released to the
// next transaction (PgBouncer keeps idle servers last-in, first-out).
// Everything runs in the simple protocol, which works through any pooler.
func CheckSession(ctx context.Context, conn *pgx.Conn, cfg *pgx.ConnConfig) error {
	pid, err := BackendPID(ctx, conn.PgConn())
	if err != nil {
		return err
	}
	if pid == conn.PgConn().PID() {
		return nil
	}
	probe := cfg.Copy()
	DeferParams(probe)
	other, err := pgconn.ConnectConfig(ctx, &probe.Config)
	if err != nil {
		return fmt.Errorf("error connecting to PostgreSQL: %w", err)
	}
	defer other.Close(context.WithoutCancel(ctx))
	for range 5 {
		mine, err := BackendPID(ctx, conn.PgConn())
		if err != nil {
			return err
		}
		res, err := other.Exec(ctx, "BEGIN; SELECT pg_catalog.pg_backend_pid(); ROLLBACK").ReadAll()
		if err != nil {
			return fmt.Errorf("error probing the connection pooler: %w", err)
		}
		if len(res) > 1 && len(res[1].Rows) == 1 && string(res[1].Rows[0][0]) == fmt.Sprint(mine) {
			return ErrTransactionPooler
		}
	}
	return nil
}

// BackendPID asks the server for its backend's PID (simple protocol):
// behind a pooler, the PID of the connection's BackendKeyData is the
// pooler's own.
func BackendPID(ctx context.Context, pc *pgconn.PgConn) (uint32, error) {
	res, err := pc.Exec(ctx, "SELECT pg_catalog.pg_backend_pid()").ReadAll()
	if err != nil {
		return 0, fmt.Errorf("error reading the backend's PID: %w", err)
	}
	var pid uint32
	if len(res) != 1 || len(res[0].Rows) != 1 {
		return 0, fmt.Errorf("error reading the backend's PID: no row")
	}
	if _, err := fmt.Sscan(string(res[0].Rows[0][0]), &pid); err != nil {
		return 0, fmt.Errorf("error reading the backend's PID: %w", err)
	}
	return pid, nil
}
