package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgredis/pgredis/internal/spec"
	"github.com/pgredis/pgredis/notify"
)

// captureState is what the periodic capture check remembers between runs.
type captureState struct {
	// disabled tables had a disabled trigger at the last check: once it is
	// enabled again, the writes it missed are repaired by a reconcile.
	disabled map[string]bool
	// asked counts the checks that found the table's trigger functions
	// stale and asked the apply loop to regenerate them (the request is
	// lost with a session that ends, so it is repeated); still stale at
	// the next check means it could not.
	asked map[string]int
	// reported is the last problem logged per table, to log changes only.
	reported map[string]string
}

// checkCapture runs with the periodic unfit-table check. Where the event
// trigger cannot follow DDL (migrate up's role was no superuser) or did
// not (a trigger enabled again with ENABLE ALWAYS only), it does the same,
// later: the active worker puts the triggers on partitions and inheritance
// children that lack them and takes them off tables that left, asks for a
// reconcile of such a table and of one whose disabled trigger came back,
// and asks the apply loop to regenerate trigger functions generated for
// columns the table no longer has. Every worker reports what it cannot fix
// (a disabled trigger, a table swapped in by renames that it may not
// alter) in unfit, which readiness, the metric and the log show.
func (w *Worker) checkCapture(ctx context.Context, installed []notify.Installed, unfit map[string]string) {
	st := &w.mon.capture
	if st.disabled == nil {
		st.disabled, st.asked, st.reported = map[string]bool{}, map[string]int{}, map[string]string{}
	}
	active := w.Active()
	log := w.cfg.Logger
	for _, in := range installed {
		name := in.Table.String()
		// A table listed more than once is checked entry by entry; what
		// is found is reported, and refreshed, for the table.
		id := in.Table.ID()
		// A table whose own triggers are missing (dropped by hand, or a
		// table swapped in by renames) is migrate up's to repair: it is
		// only reported, as a worker starting on it refuses to.
		denied := ""
		if n, err := notify.TriggersInstalled(ctx, w.pool, in.Table); active && err == nil && n == len(notify.TriggerNames()) && in.Entry == "" {
			changes, err := w.syncTriggers(ctx, in.Table)
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == "42501" { // insufficient_privilege
				denied = w.triggerFix(ctx, in.Table, pe)
			} else if err != nil {
				log.Debug("cannot install the table's triggers on its partitions", "table", name, "error", err)
			} else if len(changes) > 0 {
				log.Warn("some writes to the table were not captured (a partition or table without pgredis triggers); installed them and reconciling the table",
					"table", name, "changes", strings.Join(changes, "; "))
				w.requestRefresh(ctx, name)
			}
		}
		problems, err := notify.CaptureProblems(ctx, w.pool, in.Table)
		if err != nil {
			log.Debug("cannot check the table's triggers", "table", name, "error", err)
			continue
		}
		disabled, stale := false, false
		var msgs []string
		uncaptured := false
		for _, p := range problems {
			switch p.Kind {
			case "missing":
				uncaptured = true
			case "disabled":
				disabled = true
			case "stale":
				stale = true
				if active && st.asked[id] == 0 {
					// The apply loop regenerates them; report only if it cannot.
					continue
				}
			}
			msgs = append(msgs, p.String())
		}
		if stale && active {
			st.asked[id]++
			w.requestRefresh(ctx, name)
		} else if !stale {
			delete(st.asked, id)
		}
		if st.disabled[id] && !disabled && active {
			log.Info("the table's pgredis trigger fires again; reconciling the table", "table", name)
			w.requestRefresh(ctx, name)
		}
		st.disabled[id] = disabled
		if uncaptured && denied != "" {
			// Writes to those partitions reach Redis only by a reconcile:
			// one at every check until the fix, so the mirror converges
			// (attached rows included) while it waits.
			msgs = append([]string{denied}, msgs...)
			w.requestRefresh(ctx, name)
		}
		msg := strings.Join(msgs, "; ")
		switch prev := unfit[name]; {
		case msg == "":
		case prev == "" || strings.Contains(prev, "pgredis triggers are missing"):
			// Which triggers, on which table, and the fix: more than the
			// count of missing ones says.
			unfit[name] = msg
		case !strings.Contains(prev, msg):
			unfit[name] = prev + "; " + msg
		}
		if msg != st.reported[id] {
			if msg != "" {
				log.Error("writes to the table are not captured as installed", "table", name, "problem", msg)
			}
			st.reported[id] = msg
		}
	}
}

// triggerFix says what lets pgredis capture a table's partitions when the
// worker's role may not put triggers on them (only a table's owner, or a
// member of its owner role, may create and ENABLE ALWAYS a trigger).
func (w *Worker) triggerFix(ctx context.Context, t spec.Table, pe *pgconn.PgError) string {
	var me, owner string
	err := w.pool.QueryRow(ctx, `SELECT current_user::text, pg_catalog.pg_get_userbyid(c.relowner)::text
		FROM pg_catalog.pg_class c WHERE c.oid = $1::regclass`, t.Ident()).Scan(&me, &owner)
	if err != nil {
		return fmt.Sprintf("the worker's role may not put pgredis triggers on the table's partitions (%s): run pgredis migrate up as the table's owner", pe.Message)
	}
	return fmt.Sprintf("the worker's role %s may not put pgredis triggers on partitions of %s (%s): run GRANT %s TO %s so the worker installs them itself, or pgredis migrate up as %s; until then the worker reconciles the table at every check",
		pgx.Identifier{me}.Sanitize(), t.String(), pe.Message, pgx.Identifier{owner}.Sanitize(), pgx.Identifier{me}.Sanitize(), pgx.Identifier{owner}.Sanitize())
}

// syncTriggers runs pgredis.sync_triggers with a short lock timeout: a
// trigger created on a partition waits for writers of that partition, and
// the worker must not queue the application's writes behind it for long.
func (w *Worker) syncTriggers(ctx context.Context, t spec.Table) ([]string, error) {
	var changes []string
	err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '2s'"); err != nil {
			return err
		}
		var err error
		changes, err = notify.SyncTriggers(ctx, tx, t)
		return err
	})
	return changes, err
}

// requestRefresh asks the apply loop, in order with the changes around it,
// to refresh a table: regenerate stale trigger functions, then reconcile.
func (w *Worker) requestRefresh(ctx context.Context, name string) {
	c := notify.Control{Kind: "refresh", ID: "0", Tables: []string{name}}
	if _, err := w.pool.Exec(ctx, "SELECT pg_notify($1, $2)", notify.Channel, c.Encode()); err != nil {
		w.cfg.Logger.Debug("cannot ask for a refresh of the table", "table", name, "error", err)
	}
}
