package worker

import (
	"context"
	"errors"

	"github.com/pgredis/pgredis/notify"
)

// refresh handles a control message that says a table's capture changed:
// DDL on it or its partitions (the event trigger), a partition truncated,
// a trigger enabled again or triggers installed on a partition (the
// periodic check). Its trigger functions are regenerated when its columns
// changed since they were generated, then it is reconciled, which covers
// every write the old functions rendered or could not describe. The
// changes before the message are written first: they are older.
func (m *machine) refresh(ctx context.Context, names []string) error {
	if err := m.app.flush(ctx); err != nil {
		return err
	}
	regenerated := false
	for _, name := range names {
		picked, err := pick(m.tables, []string{name})
		if err != nil {
			continue // no longer synced by this worker
		}
		// Every entry of a table listed more than once: the first call
		// regenerates them all (notify.Regenerate), the others find
		// nothing stale.
		for _, t := range picked {
			if m.refreshOne(ctx, name, t) {
				regenerated = true
			}
		}
	}
	if !regenerated {
		return nil
	}
	// Payloads of the table's old version that still arrive are unknown
	// to the reloaded worker, which reconciles for them.
	tables, err := m.src.reload(ctx)
	if err != nil {
		return err
	}
	m.retable(tables)
	return nil
}

// refreshOne regenerates one entry's trigger functions when stale and
// marks it for a reconcile; it reports whether it regenerated.
func (m *machine) refreshOne(ctx context.Context, name string, t *table) bool {
	done, err := m.regenerate(ctx, t.Table)
	if err != nil && ctx.Err() != nil {
		return false
	}
	m.dirty[t] = true
	switch {
	case errors.Is(err, notify.ErrUnfit):
		// The periodic check reports it (readiness, status, the log).
		m.cfg.Logger.Debug("cannot regenerate the table's trigger functions", "table", name, "error", err)
	case err != nil:
		m.cfg.Logger.Error("cannot regenerate the table's trigger functions for its changed columns; run pgredis migrate up", "table", name, "error", err)
	case done:
		m.cfg.Logger.Info("the table's columns changed; its trigger functions were regenerated", "table", name)
		return true
	}
	return false
}
