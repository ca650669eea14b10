package worker

import (
	"context"
	"time"
)

// Progress is how far a reconcile got through a table.
type Progress struct {
	Table string `json:"table"`
	Done  int64  `json:"rows_done"`
	// Total estimates the table's rows (pg_class.reltuples); -1 when
	// PostgreSQL has no estimate yet (never analyzed).
	Total   int64         `json:"rows_total"`
	Elapsed time.Duration `json:"elapsed_ns"`
}

// Rate is rows per second so far.
func (p Progress) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Done) / p.Elapsed.Seconds()
}

// ETA estimates the time left; negative when unknown.
func (p Progress) ETA() time.Duration {
	r := p.Rate()
	if p.Total < 0 || r <= 0 {
		return -1
	}
	left := max(p.Total-p.Done, 0)
	return time.Duration(float64(left) / r * float64(time.Second))
}

// meter reports a reconcile's progress every ProgressInterval: to the
// resync that asked for it, to Config.Progress, or else as a log line.
type meter struct {
	// pace, when set, holds the rows read to this many per second (the
	// audit's dry runs), sleeping in ctx.
	pace float64
	ctx  context.Context

	fn    func(Progress)
	p     Progress
	start time.Time
	next  time.Time
	every time.Duration
}

func (a *reconciler) meter(ctx context.Context, t *table, fn func(Progress)) *meter {
	if fn == nil {
		fn = a.cfg.Progress
	}
	if fn == nil {
		log := a.cfg.Logger
		fn = func(p Progress) {
			log.Info("reconciling table", ProgressAttrs(p)...)
		}
	}
	m := &meter{fn: fn, p: Progress{Table: t.Table.String(), Total: -1}, start: time.Now(), every: a.cfg.ProgressInterval}
	m.next = m.start.Add(m.every)
	var est float64
	if err := a.pool.QueryRow(ctx, "SELECT reltuples FROM pg_class WHERE oid = $1::regclass", t.Table.Ident()).Scan(&est); err == nil && est >= 0 {
		m.p.Total = int64(est)
	}
	a.cfg.Logger.Debug("reconcile started: streaming the table, then sweeping its keys in Redis", "table", m.p.Table,
		"rows_estimate", m.p.Total, "key_glob", t.glob)
	return m
}

// row counts rows read so far; it reports when the interval passed.
func (m *meter) row(done int64) {
	if done&255 != 0 {
		return
	}
	if m.pace > 0 {
		due := m.start.Add(time.Duration(float64(done) / m.pace * float64(time.Second)))
		if wait := time.Until(due); wait > 0 {
			select {
			case <-time.After(wait):
			case <-m.ctx.Done():
			}
		}
	}
	if now := time.Now(); now.After(m.next) {
		m.p.Done, m.p.Elapsed = done, now.Sub(m.start)
		if m.p.Total >= 0 && done > m.p.Total {
			m.p.Total = done
		}
		m.fn(m.p)
		m.next = now.Add(m.every)
	}
}

// ProgressAttrs are a progress report's log attributes; the ETA (a
// duration, logged as seconds) only when there is an estimate.
func ProgressAttrs(p Progress) []any {
	args := []any{"table", p.Table, "rows_done", p.Done, "rows_total", p.Total, "rows_per_second", int64(p.Rate())}
	if eta := p.ETA(); eta >= 0 {
		args = append(args, "eta_seconds", eta.Round(time.Millisecond))
	}
	return args
}
