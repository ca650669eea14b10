package worker

import (
	"errors"
	"strings"
	"time"
)

// quarantined is a table whose last reconcile failed on its own trouble.
type quarantined struct {
	reason  string
	fix     string
	attempt int
	retryAt time.Time
}

// quarantineTable reports a table's own trouble (once per reason) and
// schedules its retry with backoff.
func (m *machine) quarantineTable(t *table, err error) {
	q := m.quarantine[t]
	if q == nil {
		q = &quarantined{}
		m.quarantine[t] = q
	}
	q.attempt++
	wait := backoff(q.attempt, max(m.cfg.MaxBackoff, time.Minute))
	q.retryAt = m.now().Add(wait)
	if q.reason != err.Error() {
		q.reason, q.fix = err.Error(), troubleFix(err)
		args := []any{"table", t.Table.String(), "error", err, "fix", troubleFix(err), "retry_in_seconds", wait}
		if keys := failedKeys(err); len(keys) > 0 {
			args = append(args, "key", strings.Join(keys, ","))
		}
		m.cfg.Logger.Error("table quarantined: part of it cannot be mirrored now; everything else stays live, and it is retried with backoff", args...)
		m.cfg.Metrics.tableQuarantined(t.Table.String())
		m.publish()
	}
}

// release ends a table's quarantine after a good reconcile.
func (m *machine) release(t *table) {
	if _, ok := m.quarantine[t]; !ok {
		return
	}
	delete(m.quarantine, t)
	m.cfg.Logger.Info("table mirrored again; quarantine lifted", "table", t.Table.String())
	m.publish()
}

func (m *machine) publish() {
	out := make(map[string]string, len(m.quarantine))
	for t, q := range m.quarantine {
		out[t.Table.String()] = q.reason + "; fix: " + q.fix
	}
	m.report(out)
	m.cfg.Metrics.quarantineSize(len(out))
}

// failedKeys names the keys a table's trouble is limited to, if known.
func failedKeys(err error) []string {
	var ref *refusedWrites
	var un *unrenderable
	switch {
	case errors.As(err, &ref):
		return ref.keys
	case errors.As(err, &un):
		return un.keys
	}
	return nil
}

// troubleFix names the fix for a table's own trouble.
func troubleFix(err error) string {
	var ref *refusedWrites
	if errors.As(err, &ref) {
		return refusalFix(ref.cause.Error())
	}
	if isShapeError(err) {
		return "the table no longer fits its spec: run pgredis migrate up with a fitting PGREDIS_TABLES (or undo the change); it is reconciled as soon as it fits again"
	}
	return "a row of the table cannot be rendered or written: fix the row (see the error) or sync fewer columns with columns=/exclude=; the table is reconciled as soon as it succeeds"
}
