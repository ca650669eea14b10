package worker

import (
	"context"
)

// auditResult is a paced dry run's finding.
type auditResult struct {
	t   *table
	rep Report
	err error
}

// startAudit checks the next table beside the apply loop: a paced dry
// run, which only reads, so the loop goes on applying meanwhile.
func (m *machine) startAudit(ctx context.Context) {
	if m.auditBusy {
		return
	}
	ts, _ := pick(m.tables, nil)
	if len(ts) == 0 {
		return
	}
	t := ts[m.auditNext%len(ts)]
	m.auditNext++
	if m.quarantine[t] != nil {
		return // its own retry covers it
	}
	actx, cancel := context.WithCancel(ctx)
	m.auditBusy, m.auditStop, m.auditDone = true, cancel, make(chan struct{})
	go func() {
		defer close(m.auditDone)
		rep, err := m.rec.audit(actx, t)
		m.auditRes <- auditResult{t: t, rep: rep, err: err}
	}()
}

// stopAudit ends a check in flight (the tenure is over).
func (m *machine) stopAudit() {
	if m.auditStop != nil {
		m.auditStop()
		<-m.auditDone
		m.auditStop = nil
	}
}

// auditChecked takes a dry run's finding: drift (or a change applied
// while it read) sends the table to audit mode to be repaired.
func (m *machine) auditChecked(res auditResult) mode {
	m.auditBusy = false
	m.auditStop()
	m.auditStop = nil
	if res.err != nil {
		// The apply path and the next check meet any real failure.
		m.cfg.Logger.Debug("audit check failed", "table", res.t.Table.String(), "error", res.err)
		return m.next()
	}
	if res.rep.Written+res.rep.Deleted+res.rep.Expired+res.rep.Indexes > 0 && m.quarantine[res.t] == nil {
		m.auditTable = res.t
		return modeAudit
	}
	return m.next()
}

// audit repairs a table its check found drifted, as the single writer,
// and counts what it repaired by cause.
func (m *machine) audit(ctx context.Context) (mode, error) {
	t := m.auditTable
	m.auditTable = nil
	if t == nil {
		return m.next(), nil
	}
	m.auditing = true
	defer func() { m.auditing = false }()
	err := m.reconcileTables(ctx, []*table{t}, false, nil, func(t *table, rep Report) error {
		delete(m.dirty, t)
		m.audited(rep)
		return nil
	})
	if err != nil {
		return m.failed(ctx, err)
	}
	return m.next(), nil
}

// audited logs and counts the drift an audit repaired, by cause.
func (m *machine) audited(rep Report) {
	changed := rep.Written - rep.Missing
	m.cfg.Metrics.driftCause(rep.Table, "changed", changed)
	m.cfg.Metrics.driftCause(rep.Table, "missing", rep.Missing)
	m.cfg.Metrics.driftCause(rep.Table, "extra", rep.Deleted)
	m.cfg.Metrics.driftCause(rep.Table, "expired", rep.Expired)
	m.cfg.Metrics.driftCause(rep.Table, "index", rep.Indexes)
	if rep.Written+rep.Deleted+rep.Indexes > 0 {
		m.cfg.Logger.Warn("audit repaired drift", "table", rep.Table, "keys_changed", changed, "keys_missing", rep.Missing,
			"keys_extra", rep.Deleted, "keys_expired", rep.Expired, "index_entries_repaired", rep.Indexes)
	}
}
