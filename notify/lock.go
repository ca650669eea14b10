package notify

import (
	"context"
	"fmt"
	"github.com/pgredis/pgredis/internal/spec"
)

// WorkerInfo describes the session holding the worker lock.
type WorkerInfo struct {
	PID             int
	ApplicationName string
	ClientAddr      string
}

// bigint advisory locks appear in pg_locks split into two 32-bit halves.
const lockWhere = `l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
	AND l.classid = ((($1::bigint) >> 32) & 4294967295)::oid AND l.objid = (($1::bigint) & 4294967295)::oid
	AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`

// WorkerLockHeld reports whether some session holds the worker lock.
func WorkerLockHeld(ctx context.Context, q Querier) (bool, error) {
	var held bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks l WHERE `+lockWhere+`)`, LockKey).Scan(&held); err != nil {
		return false, fmt.Errorf("error reading pg_locks: %w", err)
	}
	return held, nil
}

// ActiveWorker describes the worker holding the lock; ok is false if none.
func ActiveWorker(ctx context.Context, q Querier) (info WorkerInfo, ok bool, err error) {
	rows, err := q.Query(ctx, `SELECT a.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local')
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE `+lockWhere, LockKey)
	if err != nil {
		return info, false, fmt.Errorf("error reading pg_locks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := rows.Scan(&info.PID, &info.ApplicationName, &info.ClientAddr); err != nil {
			return info, false, err
		}
		ok = true
	}
	return info, ok, rows.Err()
}

// TriggersInstalled counts pgredis's triggers on the table (0 if the table
// does not exist).
func TriggersInstalled(ctx context.Context, q Querier, t spec.Table) (int, error) {
	var n int
	err := q.QueryRow(ctx, `SELECT count(*) FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = $1 AND c.relname = $2 AND g.tgname = ANY($3)`,
		t.Schema, t.Name, EntryTriggerNames(t)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("error reading triggers of %s: %w", t, err)
	}
	return n, nil
}

// LockHeldBy reports whether the backend with pid holds the worker lock.
// A worker checks it before claiming the mirror: its own session may have
// died (and the lock passed on) before it noticed.
func LockHeldBy(ctx context.Context, q Querier, pid uint32) (bool, error) {
	var held bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks l WHERE `+lockWhere+` AND l.pid = $2)`, LockKey, int64(pid)).Scan(&held); err != nil {
		return false, fmt.Errorf("error reading pg_locks: %w", err)
	}
	return held, nil
}
