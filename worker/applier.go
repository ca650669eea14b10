package worker

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/pgredis/pgredis/notify"
)

// applier turns decoded changes into Redis writes: it coalesces a batch
// (one write per key, the last one wins), reads the rows too large for
// their notification, and writes the batch through the fenced store.
type applier struct {
	cfg     *Config
	st      mirror
	src     source
	pending pending
	// log collects what the batch applies, for metrics and the status key.
	log appliedLog
	// dirty is told about a table a change could not be applied to: only
	// a reconcile makes it exact again.
	dirty func(*table)
	// refused is told about a table a value of which Redis refuses.
	refused func(*table, error)
}

// change queues one change of table t.
func (a *applier) change(ctx context.Context, t *table, c notify.Change) error {
	switch c.Op {
	case notify.OpSet:
		w, err := t.set(c.Key, c.Value)
		if err != nil {
			a.cfg.Logger.Error("cannot apply a change; reconciling the table", "table", t.Table.String(), "key", c.Key, "error", err)
			a.dirty(t)
			return nil
		}
		a.pending.put(pendingWrite{write: w, table: t})
	case notify.OpDelete:
		a.pending.put(pendingWrite{write: t.del(c.Key), table: t})
	case notify.OpFetch:
		key, err := t.fetchKey(c.Args)
		if err != nil {
			a.cfg.Logger.Error("cannot apply a change; reconciling the table", "table", t.Table.String(), "error", err)
			a.dirty(t)
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
		a.dirty(t)
	}
	return nil
}

// flush writes the pending changes.
func (a *applier) flush(ctx context.Context) error {
	if len(a.pending.order) == 0 {
		return nil
	}
	if err := a.src.readLarge(ctx, a.pending.order); err != nil {
		var re renderError
		if errors.As(err, &re) {
			// One row that cannot be written must not stall the batch:
			// its table is reconciled (and quarantined if it still fails).
			a.cfg.Logger.Error("cannot apply a large row; reconciling the table", "error", err)
			for _, pw := range a.pending.order {
				if pw.fetch != nil {
					a.dirty(pw.fetch)
				}
			}
			a.pending.dropFetches()
		} else {
			return err
		}
	}
	writes := make([]write, len(a.pending.order))
	for i, pw := range a.pending.order {
		writes[i] = pw.write
	}
	if err := a.st.apply(ctx, writes); err != nil {
		var ref *refusedWrites
		if errors.As(err, &ref) {
			// The rest of the batch is in Redis: the tables of the
			// refused keys are quarantined, nothing else stops.
			byTable := map[*table]*refusedWrites{}
			var order []*table
			for _, k := range ref.keys {
				i, ok := a.pending.index[k]
				if !ok || a.pending.order[i].table == nil {
					continue
				}
				t := a.pending.order[i].table
				if byTable[t] == nil {
					byTable[t] = &refusedWrites{cause: ref.cause}
					order = append(order, t)
				}
				byTable[t].keys = append(byTable[t].keys, k)
			}
			for _, t := range order {
				a.refused(t, byTable[t])
			}
			a.pending.reset()
			a.committed(len(writes) - len(ref.keys))
			return nil
		}
		if isRedisFailure(err) {
			return tableError{table: a.pending.tables(), err: err}
		}
		return err
	}
	a.pending.reset()
	a.committed(len(writes))
	return nil
}

// truncate deletes every key of the table (and its index sets).
func (a *applier) truncate(ctx context.Context, t *table) error {
	err := a.st.scan(ctx, t.glob, func(found []string) error {
		var dels []write
		for _, k := range found {
			if t.Key.Matches(k) {
				dels = append(dels, t.del(k))
			}
		}
		return a.st.apply(ctx, dels)
	})
	if err != nil || len(t.Indexes) == 0 {
		return err
	}
	return truncateIndexes(ctx, a.st, a.cfg.StatePrefix, t)
}

// reset drops what is pending: the reconcile to come covers it.
func (a *applier) reset() {
	a.pending.reset()
	a.log.reset()
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

// dropFetches removes the fetch entries (their tables are reconciled).
func (p *pending) dropFetches() {
	kept := p.order[:0]
	clear(p.index)
	for _, pw := range p.order {
		if pw.fetch == nil {
			p.index[pw.key] = len(kept)
			kept = append(kept, pw)
		}
	}
	p.order = kept
}
