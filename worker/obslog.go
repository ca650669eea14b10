package worker

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pgredis/pgredis/notify"
)

// logResync logs a resync another process asked this worker for, when it
// starts and (through the returned func) when it was served; request_id
// is the one the requesting pgredis resync logs.
func (m *machine) logResync(c *notify.Control, picked []*table, start time.Time) func() {
	tables := "all"
	if len(c.Tables) > 0 {
		names := make([]string, len(picked))
		for i, t := range picked {
			names[i] = t.Table.String()
		}
		tables = strings.Join(names, ",")
	}
	m.cfg.Logger.Info("resync requested", "request_id", c.ID, "tables", tables, "dry_run", c.DryRun)
	return func() {
		m.cfg.Logger.Info("resync served", "request_id", c.ID, "tables", tables, "dry_run", c.DryRun,
			"duration_seconds", time.Since(start))
	}
}

// logBatch says at debug level what a batch applied: how many Redis
// writes, and the changes by table and operation.
func (a *applier) logBatch(writes int) {
	log := a.cfg.Logger
	if len(a.log.counts) == 0 || !log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	changes := 0
	byTable := map[string]int{}
	for k, n := range a.log.counts {
		changes += n
		byTable[k.table] += n
	}
	var tables []string
	for _, t := range slices.Sorted(maps.Keys(byTable)) {
		tables = append(tables, t+"="+strconv.Itoa(byTable[t]))
	}
	args := []any{"redis_writes", writes, "changes", changes, "tables", strings.Join(tables, ",")}
	if len(a.log.stamps) > 0 {
		args = append(args, "oldest_change_lag_seconds", time.Since(a.log.stamps[0]))
	}
	log.Debug("batch applied", args...)
}

// observeReconcile counts a finished reconcile and logs it at debug level
// (the apply loop logs the ones it runs at info; this covers every path:
// start-up, a rebuild, a resync asked for or run alone, dry runs).
func (w *reconciler) observeReconcile(rep Report, err error) {
	w.cfg.Metrics.reconciled(rep, err)
	args := []any{"table", rep.Table, "dry_run", rep.DryRun, "rows_scanned", rep.Scanned, "keys_written", rep.Written,
		"keys_deleted", rep.Deleted, "keys_unchanged", rep.Unchanged, "duration_seconds", rep.Duration}
	if err != nil {
		args = append(args, "error", err)
	}
	w.cfg.Logger.Debug("reconcile finished", args...)
}
