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
// every write the old functions rendered or could not describe.
func (a *active) refresh(ctx context.Context, names []string) error {
	regenerated := false
	for _, name := range names {
		picked, err := a.pick([]string{name})
		if err != nil {
			continue // no longer synced by this worker
		}
		t := picked[0]
		done, err := notify.Regenerate(ctx, a.pool, t.Table)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil
		case errors.Is(err, notify.ErrUnfit):
			// The periodic check reports it (readiness, status, the log).
			a.cfg.Logger.Debug("cannot regenerate the table's trigger functions", "table", name, "error", err)
		case err != nil:
			a.cfg.Logger.Error("cannot regenerate the table's trigger functions for its changed columns; run pgredis migrate up", "table", name, "error", err)
		case done:
			a.cfg.Logger.Info("the table's columns changed; its trigger functions were regenerated", "table", name)
			regenerated = true
		}
		a.dirty[t] = true
	}
	if !regenerated {
		return nil
	}
	// Payloads of the table's old version that still arrive are unknown
	// to the reloaded worker, which reconciles for them.
	if err := a.reload(ctx); err != nil {
		return err
	}
	dirty := map[string]bool{}
	for t := range a.dirty {
		dirty[t.Table.String()] = true
	}
	clear(a.dirty)
	for _, t := range a.tables {
		if dirty[t.Table.String()] {
			a.dirty[t] = true
		}
	}
	return nil
}
