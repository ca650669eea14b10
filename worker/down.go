package worker

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// outage is the Redis-down (or Redis-refusing) mode's state.
type outage struct {
	since   time.Time
	attempt int
	reason  string
	logged  string
	named   map[string]bool
}

// markDown enters (or stays in) Redis-down mode: changes are dropped until
// Redis answers again, then every table is reconciled. It logs once per
// state change, not per retry, and backs off its retries.
func (m *machine) markDown(err error) {
	m.cfg.Metrics.applyError("redis")
	kind, fix := "unavailable", "the worker retries on its own"
	var rerr redis.Error
	if errors.As(err, &rerr) {
		kind, fix = "refusing writes", refusalFix(rerr.Error())
	}
	var te tableError
	tbl := ""
	if errors.As(err, &te) {
		tbl = te.table
	}
	// Once per state, and once more for each table it names.
	if state := kind + "\x00" + fix; state != m.down.logged || (tbl != "" && !m.down.named[tbl]) {
		args := []any{"error", err, "fix", fix}
		if tbl != "" {
			args = append(args, "table", tbl)
		}
		m.cfg.Logger.Error("Redis is "+kind+"; changes will be reconciled when it accepts them again", args...)
		if state != m.down.logged {
			m.down.named = map[string]bool{}
		}
		m.down.logged = state
		m.down.named[tbl] = true
	}
	if m.down.since.IsZero() {
		m.down.since = m.now()
	}
	m.down.reason = err.Error()
	m.down.attempt++
	m.retry.Reset(backoff(m.down.attempt, m.cfg.MaxBackoff))
}

// healthy ends an outage after a successful repair.
func (m *machine) healthy() {
	if !m.down.since.IsZero() {
		m.cfg.Logger.Info("Redis is back; mirror reconciled", "down_for_seconds", m.now().Sub(m.down.since))
	}
	m.down = outage{}
	m.settled()
}

// refusalFix names the fix for a command Redis refused.
func refusalFix(msg string) string {
	switch {
	case strings.Contains(msg, "OOM"):
		return "Redis is out of memory: raise maxmemory or free memory; the worker retries"
	case strings.Contains(msg, "bulk"), strings.Contains(msg, "Protocol error"):
		return "a value is larger than Redis accepts (proto-max-bulk-len): raise it, or sync fewer columns with columns="
	case strings.Contains(msg, "READONLY"):
		return "REDIS_URL points at a read-only replica: point it at the primary"
	case strings.Contains(msg, "NOPERM"), strings.Contains(msg, "NOAUTH"):
		return "the Redis user lacks a permission pgredis needs (EVAL, SET, HSET, UNLINK, SCAN, MGET, GET)"
	default:
		return "see the error; the worker retries"
	}
}

// tableError names the table an error happened on.
type tableError struct {
	table string
	err   error
}

func (e tableError) Error() string { return fmt.Sprintf("table %s: %v", e.table, e.err) }
func (e tableError) Unwrap() error { return e.err }
