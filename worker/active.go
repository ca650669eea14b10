package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

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
	var downSince time.Time
	retry := time.NewTimer(0)
	defer retry.Stop()
	var attempt int
	for {
		if a.all || len(a.dirty) > 0 {
			if !a.redisDown {
				if err := a.repair(ctx); err != nil {
					if ctx.Err() != nil {
						return nil
					}
					if errors.Is(err, errSessionLost) || a.once != nil {
						return err
					}
					if errors.Is(err, ErrFenced) {
						if err := a.fenced(ctx); err != nil {
							return err
						}
						continue
					}
					a.cfg.Metrics.applyError(errorKind(err))
					a.redisDown = true
					downSince = time.Now()
					log.Error("Redis is unavailable; changes will be reconciled when it is back", "error", err)
					attempt = 1
					retry.Reset(backoff(attempt, a.cfg.MaxBackoff))
				} else if downSince != (time.Time{}) {
					log.Info("Redis is back; mirror reconciled", "down_for", time.Since(downSince).Round(time.Millisecond).String())
					downSince = time.Time{}
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-a.lost:
			return fmt.Errorf("%w: %w", errSessionLost, err)
		case <-retry.C:
			if a.redisDown {
				if err := a.cfg.Redis.Ping(ctx).Err(); err == nil {
					a.redisDown = false
					a.all = true
				} else {
					attempt++
					retry.Reset(backoff(attempt, a.cfg.MaxBackoff))
				}
			}
		case <-check.C:
			if a.redisDown || a.all {
				continue
			}
			owned, err := a.store.owned(ctx)
			switch {
			case err != nil:
				a.markDown(err, &downSince, &attempt, retry)
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
				// The coming reconcile covers these changes.
				continue
			}
			if err := a.process(ctx, batch); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				if a.once != nil {
					return err
				}
				if errors.Is(err, ErrFenced) {
					if err := a.fenced(ctx); err != nil {
						return err
					}
					continue
				}
				var fatal fatalError
				if errors.As(err, &fatal) {
					return err
				}
				a.markDown(err, &downSince, &attempt, retry)
			}
			if a.once != nil && a.once.marked {
				return nil
			}
		}
	}
}

func (a *active) markDown(err error, downSince *time.Time, attempt *int, retry *time.Timer) {
	a.cfg.Metrics.applyError(errorKind(err))
	if !a.redisDown {
		a.cfg.Logger.Error("Redis is unavailable; changes will be reconciled when it is back", "error", err)
		*downSince = time.Now()
	}
	a.redisDown = true
	a.all = true
	*attempt = 1
	retry.Reset(backoff(*attempt, a.cfg.MaxBackoff))
}

// fenced handles a refused write: when Redis lost the claim (restarted
// empty, flushed) the mirror is rebuilt; when another worker claimed it,
// this one lost its lock without noticing yet and must stop applying.
func (a *active) fenced(ctx context.Context) error {
	a.cfg.Metrics.applyError("fenced")
	owner, err := a.cfg.Redis.Get(ctx, a.store.ownerKey).Result()
	if err == nil && owner != "" && owner != a.store.token {
		return fmt.Errorf("another worker claimed the mirror (owner token %.8s...); standing down", owner)
	}
	a.cfg.Logger.Warn("Redis lost this worker's claim (restarted, flushed or replaced); rebuilding the mirror")
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
			if isPGError(err) {
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
			"duration", rep.Duration.Round(time.Millisecond).String())
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

func isPGError(err error) bool {
	var pgErr interface{ SQLState() string }
	return errors.As(err, &pgErr)
}

// checkSession confirms the listening session (and so the lock) is alive
// before claiming the mirror.
func (a *active) checkSession(ctx context.Context) error {
	select {
	case err := <-a.lost:
		return fmt.Errorf("%w: %w", errSessionLost, err)
	default:
		return nil
	}
}

// process applies a batch of notifications in order.
func (a *active) process(ctx context.Context, batch []string) error {
	a.log.reset()
	for _, p := range batch {
		m, err := notify.Decode(p)
		if err != nil {
			a.cfg.Logger.Error("cannot decode a notification; reconciling every table", "error", err, "payload_prefix", prefix(p))
			a.all = true
			return nil
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
				return nil
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
		a.pending.put(pendingWrite{write: w})
	case notify.OpDelete:
		a.pending.put(pendingWrite{write: t.del(c.Key)})
	case notify.OpFetch:
		key, err := t.fetchKey(c.Args)
		if err != nil {
			a.cfg.Logger.Error("cannot apply a change; reconciling the table", "table", t.Table.String(), "error", err)
			a.dirty[t] = true
			return nil
		}
		a.pending.put(pendingWrite{write: write{key: key}, fetch: t, args: c.Args})
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
	if err != nil {
		return fatalError{fmt.Errorf("the installed tables changed under the worker: %w", err)}
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
				return fmt.Errorf("error reading a large row of %s: %w", pw.fetch.Table, err)
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
			return fmt.Errorf("error reading large rows: %w", err)
		}
	}
	writes := make([]write, len(a.pending.order))
	for i, pw := range a.pending.order {
		writes[i] = pw.write
	}
	if err := a.store.apply(ctx, writes); err != nil {
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
	case "resync":
		tables, err := a.pick(c.Tables)
		if err != nil {
			return a.reply(ctx, c.ID, replyMsg{Error: err.Error(), Done: true})
		}
		a.onProgress = func(p Progress) { _ = a.reply(ctx, c.ID, replyMsg{Progress: &p}) }
		defer func() { a.onProgress = nil }()
		for _, t := range tables {
			rep, err := a.reconcile(ctx, t, c.DryRun)
			if err != nil {
				if errors.Is(err, ErrFenced) || !isPGError(err) {
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
			if t.Table.String() == n || (t.Schema == "public" && t.Name == n) {
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
		return fmt.Errorf("error replying to resync: %w", err)
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
	fetch *table // set: read the row with args at flush
	args  []string
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
