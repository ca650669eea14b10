package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/pgredis/pgredis/notify"
)

// active is a worker while it holds the lock: the single applier.
type active struct {
	*Worker
	sess   *notify.Session
	store  *store
	tables map[string]*table // by installed version
	lost   <-chan error
	once   *oneShot

	pending pending
	// dirty tables need a reconcile before the mirror is exact again;
	// all means every table (after a claim was lost, or on start).
	dirty map[*table]bool
	all   bool
	// redisDown is set while Redis fails; changes read meanwhile are
	// dropped, since the reconcile that follows its return covers them.
	redisDown bool
	down      outage
	retry     *time.Timer
	// queued are control messages held back until the reconcile is done.
	queued []string
	// log collects what the batch applies, for metrics and the status key.
	log appliedLog
	// onProgress relays a requested resync's progress to the requester.
	onProgress func(Progress)
}

// oneShot makes a tenure a resync: reconcile the named tables, then apply
// changes until the marker sent after the reconcile comes back.
type oneShot struct {
	names   []string
	dryRun  bool
	mark    string
	reports []Report
	marked  bool
}

// errSessionLost wraps the listening session's end.
var errSessionLost = errors.New("listening session lost")

func (a *active) loop(ctx context.Context) error {
	log := a.cfg.Logger
	a.dirty = map[*table]bool{}
	if a.once != nil {
		if err := a.runOneShot(ctx); err != nil {
			return err
		}
		if a.once.dryRun {
			return nil
		}
	} else {
		a.all = true
	}
	check := time.NewTicker(a.cfg.CheckInterval)
	defer check.Stop()
	a.retry = time.NewTimer(0)
	defer a.retry.Stop()
	for {
		if (a.all || len(a.dirty) > 0) && !a.redisDown {
			if err := a.repair(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				if errors.Is(err, errSessionLost) || isPGFailure(err) || a.once != nil {
					return err
				}
				if errors.Is(err, ErrFenced) {
					if err := a.fenced(ctx); err != nil {
						return err
					}
					continue
				}
				a.markDown(err)
			} else {
				a.healthy()
				if len(a.queued) > 0 {
					queued := a.queued
					a.queued = nil
					if err := a.processOrDown(ctx, queued); err != nil {
						return err
					}
					if a.once != nil && a.once.marked {
						return nil
					}
					continue
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-a.lost:
			return fmt.Errorf("%w: %w", errSessionLost, err)
		case <-a.retry.C:
			if a.redisDown {
				if err := a.cfg.Redis.Ping(ctx).Err(); err == nil {
					a.redisDown = false
					a.all = true
				} else {
					a.down.attempt++
					a.retry.Reset(backoff(a.down.attempt, a.cfg.MaxBackoff))
				}
			}
		case <-check.C:
			if a.redisDown || a.all {
				continue
			}
			owned, err := a.store.owned(ctx)
			switch {
			case err != nil:
				a.markDown(err)
			case !owned:
				log.Warn("Redis lost this worker's claim (restarted, flushed or replaced); rebuilding the mirror")
				a.all = true
			}
		case p := <-a.sess.Payloads():
			batch := []string{p}
		drain:
			for len(batch) < a.cfg.BatchSize {
				select {
				case p := <-a.sess.Payloads():
					batch = append(batch, p)
				default:
					break drain
				}
			}
			if a.redisDown || a.all {
				// The coming reconcile covers these changes; control
				// messages wait for it (or are refused while Redis is out).
				if err := a.hold(ctx, batch); err != nil {
					return err
				}
				continue
			}
			if err := a.processOrDown(ctx, batch); err != nil {
				return err
			}
			if a.once != nil && a.once.marked {
				return nil
			}
		}
	}
}

// processOrDown applies a batch; an error it can recover from (Redis out
// or refusing, a lost claim) switches mode instead of ending the tenure.
func (a *active) processOrDown(ctx context.Context, batch []string) error {
	err := a.process(ctx, batch)
	if err == nil || ctx.Err() != nil {
		return nil
	}
	if a.once != nil {
		return err
	}
	if errors.Is(err, ErrFenced) {
		return a.fenced(ctx)
	}
	var fatal fatalError
	if errors.As(err, &fatal) || isPGFailure(err) {
		return err
	}
	a.markDown(err)
	return nil
}

// hold keeps the control messages of a batch the apply loop skips: they
// run after the coming reconcile. A resync asked for while Redis is out is
// answered at once with the reason, so it fails instead of waiting.
func (a *active) hold(ctx context.Context, batch []string) error {
	a.cfg.Metrics.deferred(batch, a.redisDown)
	for _, p := range batch {
		if !strings.HasPrefix(p, "c1 ") {
			continue
		}
		m, err := notify.Decode(p)
		if err != nil {
			continue
		}
		if a.redisDown && m.Control.Kind == "resync" {
			msg := "the worker cannot write to Redis right now: " + a.down.reason
			if err := a.reply(ctx, m.Control.ID, replyMsg{Error: msg, Done: true}); err != nil {
				return err
			}
			continue
		}
		a.queued = append(a.queued, p)
	}
	return nil
}

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
func (a *active) markDown(err error) {
	a.cfg.Metrics.applyError(errorKind(err))
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
	if state := kind + "\x00" + fix; state != a.down.logged || (tbl != "" && !a.down.named[tbl]) {
		args := []any{"error", err, "fix", fix}
		if tbl != "" {
			args = append(args, "table", tbl)
		}
		a.cfg.Logger.Error("Redis is "+kind+"; changes will be reconciled when it accepts them again", args...)
		if state != a.down.logged {
			a.down.named = map[string]bool{}
		}
		a.down.logged = state
		a.down.named[tbl] = true
	}
	if !a.redisDown && a.down.since.IsZero() {
		a.down.since = time.Now()
	}
	a.down.reason = err.Error()
	a.redisDown = true
	a.all = true
	a.down.attempt++
	a.retry.Reset(backoff(a.down.attempt, a.cfg.MaxBackoff))
}

// healthy ends an outage after a successful repair.
func (a *active) healthy() {
	if !a.down.since.IsZero() {
		a.cfg.Logger.Info("Redis is back; mirror reconciled", "down_for_seconds", time.Since(a.down.since))
	}
	a.down = outage{}
	a.Worker.settled = true
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

// fenced handles a refused write: when Redis lost the claim (restarted
// empty, flushed) the mirror is rebuilt. When another token holds it, a
// worker claimed the mirror: if this one still holds the lock, that was a
// worker that had lost it without noticing yet, and this one reclaims;
// otherwise this one is that worker and stands down.
func (a *active) fenced(ctx context.Context) error {
	a.cfg.Metrics.applyError("fenced")
	owner, err := a.cfg.Redis.Get(ctx, a.store.ownerKey).Result()
	// The token is ours when only some of a cluster's per-slot owner keys
	// were lost: that is a rebuild too.
	if err == nil && owner != "" && owner != a.store.token {
		held, err := notify.LockHeldBy(ctx, a.pool, a.sess.PID())
		if err != nil {
			return pgErr(err)
		}
		if !held {
			return fmt.Errorf("another worker claimed the mirror (owner token %.8s...) and this worker lost its lock; standing down", owner)
		}
		a.cfg.Logger.Warn("a worker that had lost the lock claimed the mirror; this worker holds the lock, so it reclaims the mirror and rebuilds it", "owner", owner)
	} else {
		a.cfg.Logger.Warn("Redis lost this worker's claim (restarted, flushed or replaced); rebuilding the mirror")
	}
	a.all = true
	return nil
}

// repair claims the mirror if needed and reconciles the dirty tables.
func (a *active) repair(ctx context.Context) error {
	if a.all {
		// Whatever was pending is older than the snapshots to come.
		a.pending.reset()
		if err := a.checkSession(ctx); err != nil {
			return err
		}
		if err := a.store.claim(ctx); err != nil {
			return err
		}
		for _, t := range a.tables {
			a.dirty[t] = true
		}
		a.all = false
	}
	for _, t := range a.sortedDirty() {
		rep, err := a.reconcile(ctx, t, false)
		if err != nil {
			if errors.Is(err, ErrFenced) {
				a.all = true
				return err
			}
			var rerr redis.Error
			if errors.As(err, &rerr) {
				return tableError{table: t.Table.String(), err: err}
			}
			if isShapeError(err) {
				// The table no longer renders (a column dropped or renamed):
				// say so, leave it for migrate up, and go on with the rest.
				a.cfg.Logger.Error("cannot reconcile table; run pgredis migrate up with a fitting PGREDIS_TABLES", "table", t.Table.String(), "error", err)
				delete(a.dirty, t)
				continue
			}
			return err
		}
		delete(a.dirty, t)
		a.cfg.Logger.Info("table reconciled", "table", rep.Table, "rows_scanned", rep.Scanned,
			"keys_written", rep.Written, "keys_deleted", rep.Deleted, "keys_unchanged", rep.Unchanged,
			"duration_seconds", rep.Duration)
	}
	return nil
}

func (a *active) sortedDirty() []*table {
	var ts []*table
	for t := range a.dirty {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Table.String() < ts[j].Table.String() })
	return ts
}

// checkSession confirms the listening session still holds the lock before
// claiming the mirror: a session can die (and the lock pass to a standby)
// before this worker notices, and a claim then would fence off the worker
// that now holds the lock.
func (a *active) checkSession(ctx context.Context) error {
	select {
	case err := <-a.lost:
		return fmt.Errorf("%w: %w", errSessionLost, err)
	default:
	}
	held, err := notify.LockHeldBy(ctx, a.pool, a.sess.PID())
	if err != nil {
		return pgErr(err)
	}
	if !held {
		return fmt.Errorf("%w: the worker lock is no longer held by this worker's session", errSessionLost)
	}
	return nil
}

// process applies a batch of notifications in order.
func (a *active) process(ctx context.Context, batch []string) error {
	a.log.reset()
	for i, p := range batch {
		m, err := notify.Decode(p)
		if err != nil {
			a.cfg.Logger.Error("cannot decode a notification (sent by something other than a pgredis trigger of this version?); reconciling every table", "error", err, "payload_prefix", prefix(p))
			a.all = true
			return a.hold(ctx, batch[i+1:])
		}
		if m.Control != nil {
			if err := a.flush(ctx); err != nil {
				return err
			}
			if err := a.control(ctx, m.Control); err != nil {
				return err
			}
			continue
		}
		t := a.tables[m.Version]
		if t == nil {
			if err := a.reload(ctx); err != nil {
				return err
			}
			if t = a.tables[m.Version]; t == nil {
				a.cfg.Logger.Error("notification from a trigger this worker does not know; reconciling every table", "version", m.Version)
				a.all = true
				return a.hold(ctx, batch[i+1:])
			}
		}
		for _, c := range m.Changes {
			if err := a.change(ctx, t, c); err != nil {
				return err
			}
			a.log.note(t.Table.String(), opName(c.Op), m.Stamp)
		}
	}
	if err := a.flush(ctx); err != nil {
		return err
	}
	a.committed(0)
	return nil
}

func prefix(s string) string {
	if len(s) > 60 {
		return s[:60]
	}
	return s
}

func (a *active) change(ctx context.Context, t *table, c notify.Change) error {
	switch c.Op {
	case notify.OpSet:
		w, err := t.set(c.Key, c.Value)
		if err != nil {
			a.cfg.Logger.Error("cannot apply a change; reconciling the table", "table", t.Table.String(), "error", err)
			a.dirty[t] = true
			return nil
		}
		a.pending.put(pendingWrite{write: w, table: t})
	case notify.OpDelete:
		a.pending.put(pendingWrite{write: t.del(c.Key), table: t})
	case notify.OpFetch:
		key, err := t.fetchKey(c.Args)
		if err != nil {
			a.cfg.Logger.Error("cannot apply a change; reconciling the table", "table", t.Table.String(), "error", err)
			a.dirty[t] = true
			return nil
		}
		a.pending.put(pendingWrite{write: write{key: key}, table: t, fetch: t, args: c.Args})
	case notify.OpTruncate:
		if err := a.flush(ctx); err != nil {
			return err
		}
		return a.truncate(ctx, t)
	case notify.OpReconcile:
		if c.Value != "" {
			a.cfg.Logger.Error("the table's trigger could not describe a change; run pgredis migrate up with a fitting PGREDIS_TABLES if the table was altered", "table", t.Table.String(), "reason", c.Value)
		}
		if err := a.flush(ctx); err != nil {
			return err
		}
		a.dirty[t] = true
	}
	return nil
}

// reload rereads the registry: migrate up may have reinstalled a trigger
// while this worker ran.
func (a *active) reload(ctx context.Context) error {
	tables, err := a.loadTables(ctx)
	var mismatch registryMismatch
	if errors.As(err, &mismatch) {
		return fatalError{fmt.Errorf("pgredis migrate up changed the installed tables while this worker ran (%s): restart the worker with the PGREDIS_TABLES that migrate up ran with", mismatch.problem)}
	}
	var fatal fatalError
	if errors.As(err, &fatal) {
		return fatalError{fmt.Errorf("the installed tables changed under the worker: %w", err)}
	}
	if err != nil {
		return err
	}
	a.tables = tables
	return nil
}

// flush writes the pending changes, reading rows that were too large to
// travel in their notification.
func (a *active) flush(ctx context.Context) error {
	if len(a.pending.order) == 0 {
		return nil
	}
	var fetches []int
	b := &pgx.Batch{}
	for i, pw := range a.pending.order {
		if pw.fetch != nil {
			args := make([]any, len(pw.args))
			for j, s := range pw.args {
				args[j] = s
			}
			b.Queue(pw.fetch.FetchSQL, args...)
			fetches = append(fetches, i)
		}
	}
	if len(fetches) > 0 {
		res := a.pool.SendBatch(ctx, b)
		for _, i := range fetches {
			pw := &a.pending.order[i]
			var k, v string
			err := res.QueryRow().Scan(&k, &v)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				pw.write = pw.fetch.del(pw.key)
			case err != nil:
				res.Close()
				return pgErr(fmt.Errorf("error reading a large row of %s: %w", pw.fetch.Table, err))
			default:
				w, err := pw.fetch.set(k, v)
				if err != nil {
					res.Close()
					return err
				}
				pw.write = w
			}
		}
		if err := res.Close(); err != nil {
			return pgErr(fmt.Errorf("error reading large rows: %w", err))
		}
	}
	writes := make([]write, len(a.pending.order))
	for i, pw := range a.pending.order {
		writes[i] = pw.write
	}
	if err := a.store.apply(ctx, writes); err != nil {
		var rerr redis.Error
		if errors.As(err, &rerr) && !errors.Is(err, ErrFenced) {
			return tableError{table: a.pending.tables(), err: err}
		}
		return err
	}
	a.pending.reset()
	a.committed(len(writes))
	return nil
}

// control handles a message from another pgredis process.
func (a *active) control(ctx context.Context, c *notify.Control) error {
	switch c.Kind {
	case "mark":
		if a.once != nil && c.ID == a.once.mark {
			a.once.marked = true
		}
	case "beat":
		return a.beat(ctx, c)
	case "refresh":
		return a.refresh(ctx, c.Tables)
	case "resync":
		defer a.logResync(c, time.Now())()
		tables, err := a.pick(c.Tables)
		if err != nil {
			return a.reply(ctx, c.ID, replyMsg{Error: err.Error(), Done: true})
		}
		a.onProgress = func(p Progress) { _ = a.reply(ctx, c.ID, replyMsg{Progress: &p}) }
		defer func() { a.onProgress = nil }()
		for _, t := range tables {
			rep, err := a.reconcile(ctx, t, c.DryRun)
			if err != nil {
				if errors.Is(err, ErrFenced) || !isShapeError(err) {
					_ = a.reply(ctx, c.ID, replyMsg{Error: err.Error(), Done: true})
					return err
				}
				rep.Error = err.Error()
			}
			if err := a.reply(ctx, c.ID, replyMsg{Report: &rep}); err != nil {
				return err
			}
		}
		return a.reply(ctx, c.ID, replyMsg{Done: true})
	}
	return nil
}

// pick resolves table names (all when none) to installed tables.
func (a *active) pick(names []string) ([]*table, error) {
	var all []*table
	for _, t := range a.tables {
		all = append(all, t)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Table.String() < all[j].Table.String() })
	if len(names) == 0 {
		return all, nil
	}
	var out []*table
	for _, n := range names {
		var found *table
		for _, t := range all {
			if t.Table.Named(n) {
				found = t
			}
		}
		if found == nil {
			return nil, fmt.Errorf("table %s is not synced", n)
		}
		out = append(out, found)
	}
	return out, nil
}

type replyMsg struct {
	Report   *Report   `json:"report,omitempty"`
	Progress *Progress `json:"progress,omitempty"`
	Error    string    `json:"error,omitempty"`
	Done     bool      `json:"done,omitempty"`
}

func (a *active) reply(ctx context.Context, id string, m replyMsg) error {
	b, _ := json.Marshal(m)
	if _, err := a.pool.Exec(ctx, "SELECT pg_notify($1, $2)", notify.ReplyChannel, id+" "+string(b)); err != nil {
		return pgErr(fmt.Errorf("error replying to resync: %w", err))
	}
	return nil
}

// pending coalesces a batch: one write per key, the last one wins.
type pending struct {
	order []pendingWrite
	index map[string]int
}

type pendingWrite struct {
	write
	table *table // whose change it is, to name it when Redis refuses
	fetch *table // set: read the row with args at flush
	args  []string
}

// tables names the tables of the pending writes, for an error message.
func (p *pending) tables() string {
	var names []string
	for _, pw := range p.order {
		if pw.table != nil && !slices.Contains(names, pw.table.Table.String()) {
			names = append(names, pw.table.Table.String())
		}
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

func (p *pending) put(w pendingWrite) {
	if p.index == nil {
		p.index = map[string]int{}
	}
	if i, ok := p.index[w.key]; ok {
		p.order[i] = w
		return
	}
	p.index[w.key] = len(p.order)
	p.order = append(p.order, w)
}

func (p *pending) reset() {
	p.order = p.order[:0]
	clear(p.index)
}
