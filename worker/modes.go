package worker

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/pgredis/pgredis/internal/spec"
	"github.com/pgredis/pgredis/notify"
)

// The active worker is a small state machine. Each mode is a method that
// runs until something changes and returns the next mode, so every
// transition is in one place and tested without a server (modes_test.go):
//
//	claim ──> repair ──> apply <──> serve
//	  ^  \                 │ ^
//	  │   `──> down <──────┘ │  (Redis fails or refuses: from any mode)
//	  └───────────┘──────────┘  (Redis answers again; the claim was lost)
//
// claim takes the mirror (a new owner token) and marks every table for
// repair; repair reconciles the tables marked; apply applies batches of
// changes in order; serve runs the resync requests that came in a batch;
// down waits for Redis, dropping changes (the claim and repair after it
// cover them) and answering resync requests at once. A one-shot resync
// starts in oneShot, then applies until its marker comes back.
type mode int

const (
	modeClaim mode = iota
	modeRepair
	modeApply
	modeServe
	modeDown
	modeOneShot
	modeAudit
	modeDone
)

func (m mode) String() string {
	return [...]string{"claim", "repair", "apply", "serve", "down", "one-shot", "audit", "done"}[m]
}

// machine is one tenure's active worker: the modes and what they share.
type machine struct {
	cfg *Config
	src source
	st  mirror
	rec tableReconciler
	app *applier
	ctl controller
	// carry is what the last batch left after a transaction boundary, to
	// start the next one: logically still in the channel.
	carry []string

	tables map[string]*table // by installed version
	// dirty tables need a reconcile before the mirror is exact again.
	dirty map[*table]bool
	// quarantine holds tables whose own trouble (a shape that no longer
	// fits, a value that cannot be rendered or written) failed their last
	// reconcile; they are retried with backoff while the others stay live.
	quarantine map[*table]*quarantined
	down       outage
	once       *oneShot

	checkC <-chan time.Time
	retry  *time.Timer
	// auditC paces the continuous audit: one table per tick. Each tick
	// checks the next table with a paced dry run beside the apply loop
	// (reads only); a table that shows drift is then reconciled in the
	// loop, as the single writer, in audit mode.
	auditC     <-chan time.Time
	auditNext  int
	auditing   bool
	auditBusy  bool
	auditRes   chan auditResult
	auditStop  context.CancelFunc
	auditDone  chan struct{}
	auditTable *table
	// ident is Redis's identity when this worker claimed the mirror, and
	// evicted its evicted_keys then.
	ident   string
	evicted int64
	// evictLogged is when evictions that may take the mirror's keys were
	// last reported while the claim survived them; evictRepair is when
	// every table is reconciled for them, evictAttempt its backoff.
	evictLogged  time.Time
	evictRepair  time.Time
	evictAttempt int

	// beat records a heartbeat whose changes reached Redis.
	beat func(ctx context.Context, c *notify.Control)
	// settled tells the worker a tenure got to work (reconnect backoff
	// starts over).
	settled func()
	// report publishes the quarantined tables (table -> reason) to
	// readiness and the status key.
	report func(map[string]string)
	// regenerate rewrites a table's trigger functions for its columns as
	// they are now (see refresh); true when it did.
	regenerate func(ctx context.Context, t spec.Table) (bool, error)
	now        func() time.Time
}

// oneShot makes a tenure a resync: reconcile the named tables, then apply
// changes until the marker sent after the reconcile comes back.
type oneShot struct {
	names   []string
	dryRun  bool
	mark    string
	reports []Report
}

// errSessionLost wraps the listening session's end.
var errSessionLost = errors.New("listening session lost")

func newMachine(cfg *Config, src source, st mirror, rec tableReconciler, tables map[string]*table) *machine {
	m := &machine{
		cfg: cfg, src: src, st: st, rec: rec, tables: tables,
		dirty:      map[*table]bool{},
		quarantine: map[*table]*quarantined{},
		retry:      time.NewTimer(time.Hour),
		beat:       func(context.Context, *notify.Control) {},
		settled:    func() {},
		report:     func(map[string]string) {},
		regenerate: func(context.Context, spec.Table) (bool, error) { return false, nil },
		now:        time.Now,
		auditRes:   make(chan auditResult, 1),
	}
	m.retry.Stop()
	m.app = &applier{cfg: cfg, st: st, src: src, dirty: func(t *table) { m.dirty[t] = true }}
	m.app.refused = func(t *table, err error) {
		m.quarantineTable(t, err)
		m.dirty[t] = true
	}
	return m
}

// run steps through the modes from start until the tenure ends.
func (m *machine) run(ctx context.Context, start mode) error {
	defer m.retry.Stop()
	defer m.stopAudit()
	md := start
	for md != modeDone {
		next, err := m.step(ctx, md)
		if ctx.Err() != nil {
			if m.once != nil {
				return ctx.Err()
			}
			return nil
		}
		if err != nil {
			return err
		}
		if next != md {
			m.cfg.Logger.Debug("worker mode", "from", md.String(), "to", next.String())
		}
		md = next
	}
	return nil
}

func (m *machine) step(ctx context.Context, md mode) (mode, error) {
	switch md {
	case modeClaim:
		return m.claim(ctx)
	case modeRepair:
		return m.repair(ctx)
	case modeApply:
		return m.apply(ctx)
	case modeServe:
		return m.serve(ctx)
	case modeDown:
		return m.redisDown(ctx)
	case modeOneShot:
		return m.oneShot(ctx)
	case modeAudit:
		return m.audit(ctx)
	}
	return modeDone, fmt.Errorf("unknown worker mode %d", md)
}

// claim takes the mirror and marks every table for repair.
func (m *machine) claim(ctx context.Context) (mode, error) {
	// Whatever was pending, or carried over to the next batch, is older
	// than the snapshots to come: applied after them, it would undo them.
	m.app.reset()
	m.carry = nil
	// Queued changes are older than the snapshots to come too.
	if err := m.src.resetCapture(ctx); err != nil {
		return m.failed(ctx, err)
	}
	if err := m.src.holdsLock(ctx); err != nil {
		return m.failed(ctx, err)
	}
	// Barriers whose notification came before this tenure listened (a
	// takeover) or was dropped (Redis down) are answered after the
	// repair: every change before them is in the repair's snapshots.
	ids, err := m.src.barriers(ctx)
	if err != nil {
		return m.failed(ctx, err)
	}
	m.ctl.addBarriers(ids)
	if err := m.st.claim(ctx); err != nil {
		return m.failed(ctx, err)
	}
	ident, err := m.st.identity(ctx)
	if err != nil {
		return m.failed(ctx, err)
	}
	mem, err := m.st.memory(ctx)
	if err != nil {
		return m.failed(ctx, err)
	}
	m.ident, m.evicted = ident, mem.evicted
	for _, t := range m.tables {
		m.dirty[t] = true
	}
	return modeRepair, nil
}

// repair reconciles the dirty tables (those quarantined only when their
// retry is due).
func (m *machine) repair(ctx context.Context) (mode, error) {
	err := m.reconcileTables(ctx, m.due(), false, nil, func(t *table, _ Report) error {
		delete(m.dirty, t)
		return nil
	})
	if err != nil {
		return m.failed(ctx, err)
	}
	m.healthy()
	if err := m.answerBarriers(ctx); err != nil {
		return m.failed(ctx, err)
	}
	return m.next(), nil
}

// next is where apply, repair and serve go when they are done.
func (m *machine) next() mode {
	switch {
	case m.once != nil && m.ctl.marked:
		return modeDone
	case len(m.due()) > 0:
		return modeRepair
	case len(m.ctl.requests) > 0:
		return modeServe
	}
	return modeApply
}

// apply waits for the next batch of changes (or a claim check) and
// applies it.
func (m *machine) apply(ctx context.Context) (mode, error) {
	if len(m.carry) > 0 {
		return m.batch(ctx, m.carried())
	}
	select {
	case <-ctx.Done():
		return modeDone, nil
	case err := <-m.src.lost():
		return m.failed(ctx, fmt.Errorf("%w: %w", errSessionLost, err))
	case <-m.checkC:
		return m.check(ctx)
	case <-m.auditC:
		m.startAudit(ctx)
		return modeApply, nil
	case res := <-m.auditRes:
		return m.auditChecked(res), nil
	case p := <-m.src.payloads():
		return m.batch(ctx, m.drain(p))
	}
}

// carried starts the next batch with the payloads the last one left
// (they came after a transaction boundary past the batch size).
func (m *machine) carried() []string {
	b := m.carry
	m.carry = nil
	return b
}

// drain reads what else is waiting, up to a batch.
func (m *machine) drain(first string) []string {
	return m.take([]string{first}, m.cfg.BatchSize-1)
}

// check confirms Redis still holds this worker's claim, and releases
// quarantined tables whose retry is due.
func (m *machine) check(ctx context.Context) (mode, error) {
	owned, err := m.st.owned(ctx)
	if err != nil {
		return m.failed(ctx, err)
	}
	if !owned {
		return m.lostClaim(ctx)
	}
	ident, err := m.st.identity(ctx)
	if err != nil {
		return m.failed(ctx, err)
	}
	if ident != "" && m.ident != "" && ident != m.ident {
		m.cfg.Logger.Warn("Redis restarted or failed over (its run_id or replication id changed), possibly from an older snapshot; rebuilding the mirror", "was", m.ident, "now", ident)
		m.cfg.Metrics.driftCause("", "restored", 1)
		return modeClaim, nil
	}
	if err := m.checkEvictions(ctx); err != nil {
		return m.failed(ctx, err)
	}
	for t, q := range m.quarantine {
		if !m.now().Before(q.retryAt) {
			m.dirty[t] = true
		}
	}
	return m.next(), nil
}

// batch applies a batch of notifications in order. Control messages are
// kept by the controller and handled once the changes before them are in
// Redis: beats at once, resync requests in serve.
func (m *machine) batch(ctx context.Context, batch []string) (mode, error) {
	m.app.log.reset()
	var txn int64 // the transaction whose changes are being queued
	// received is how many payloads had arrived when the batch began: a
	// batch is extended (rest) only to finish the transaction it ends
	// with, not to wait for later ones, which would hold every change
	// back until a batch filled up under a steady load.
	received := len(batch)
	for i := 0; i < len(batch); i++ {
		p := batch[i]
		// A large transaction makes a long batch: what is done with can go.
		batch[i] = ""
		msg, err := notify.Decode(p)
		if err != nil {
			m.cfg.Logger.Error("cannot decode a notification (sent by something other than a pgredis trigger of this version?); reconciling every table", "error", err, "payload_prefix", prefix(p))
			return m.rebuild(ctx, batch[i+1:])
		}
		if msg.Control != nil {
			if msg.Control.Kind == "overflow" {
				m.cfg.Logger.Error("the capture queue reached its bound (the worker did not drain it, so writers stopped appending) or a capture switch held too much; rebuilding the mirror")
				return m.rebuild(ctx, batch[i+1:])
			}
			if err := m.control(ctx, msg.Control); err != nil {
				return m.failed(ctx, err)
			}
			if i == len(batch)-1 && txn != 0 {
				// Sent inside a transaction (a barrier), its changes
				// may go on after it.
				batch = m.rest(batch)
			}
			continue
		}
		if msg.Txid != txn || msg.Txid == 0 {
			// The transaction before this message is complete: flush only
			// here, so no script call holds part of a transaction.
			if i >= m.cfg.BatchSize || i >= received {
				batch[i] = p
				m.carry = batch[i:]
				break
			}
			if len(m.app.pending.order) >= flushAtKeys {
				if err := m.app.flush(ctx); err != nil {
					return m.failed(ctx, err)
				}
			}
			txn = msg.Txid
		}
		t := m.tables[msg.Version]
		if t == nil {
			tables, err := m.src.reload(ctx)
			if err != nil {
				return m.failed(ctx, err)
			}
			m.retable(tables)
			if t = m.tables[msg.Version]; t == nil {
				m.cfg.Logger.Error("notification from a trigger this worker does not know; reconciling every table", "version", msg.Version)
				return m.rebuild(ctx, batch[i+1:])
			}
		}
		for _, c := range msg.Changes {
			if err := m.app.change(ctx, t, c); err != nil {
				return m.failed(ctx, err)
			}
			m.app.log.note(t.Table.String(), opName(c.Op), msg.Stamp)
		}
		if len(m.app.pending.order) >= maxTxnKeys {
			// A transaction this large is applied in parts.
			if err := m.app.flush(ctx); err != nil {
				return m.failed(ctx, err)
			}
		}
		if i == len(batch)-1 && msg.Txid != 0 {
			batch = m.rest(batch)
		}
	}
	if err := m.app.flush(ctx); err != nil {
		return m.failed(ctx, err)
	}
	m.app.committed(0)
	for _, b := range m.ctl.takeBeats() {
		m.beat(ctx, b)
	}
	if err := m.answerBarriers(ctx); err != nil {
		return m.failed(ctx, err)
	}
	return m.next(), nil
}

// retable switches to a reread registry, carrying the dirty marks and
// quarantines over by table name (and entry, for a table listed more
// than once).
func (m *machine) retable(tables map[string]*table) {
	byName := map[string]*table{}
	for _, t := range tables {
		byName[t.Table.ID()] = t
	}
	dirty, quarantine := m.dirty, m.quarantine
	m.tables, m.dirty, m.quarantine = tables, map[*table]bool{}, map[*table]*quarantined{}
	for t := range dirty {
		if n := byName[t.Table.ID()]; n != nil {
			m.dirty[n] = true
		}
	}
	for t, q := range quarantine {
		if n := byName[t.Table.ID()]; n != nil {
			m.quarantine[n] = q
		}
	}
	m.publish()
}

// control takes a control message; a resync request is acknowledged at
// once (or refused when too many wait).
func (m *machine) control(ctx context.Context, c *notify.Control) error {
	if c.Kind == "refresh" {
		return m.refresh(ctx, c.Tables)
	}
	if refused := m.ctl.add(c); refused != nil {
		return m.src.reply(ctx, c.ID, replyMsg{Error: "too many resync requests are waiting for the worker; try again later", Done: true})
	}
	if c.Kind == "resync" {
		return m.src.reply(ctx, c.ID, replyMsg{Accepted: true})
	}
	return nil
}

// rebuild abandons a batch the worker cannot follow: every table is
// reconciled, and the control messages in the rest of the batch are kept.
func (m *machine) rebuild(ctx context.Context, rest []string) (mode, error) {
	m.cfg.Metrics.deferred(rest, false)
	for _, p := range rest {
		if msg, err := notify.Decode(p); err == nil && msg.Control != nil {
			if err := m.control(ctx, msg.Control); err != nil {
				return m.failed(ctx, err)
			}
		}
	}
	m.ctl.dropBeats()
	return modeClaim, nil
}

// serve runs the waiting resync requests; each is answered exactly once.
func (m *machine) serve(ctx context.Context) (mode, error) {
	reqs := m.ctl.takeRequests()
	for i, req := range reqs {
		tables, err := pick(m.tables, req.Tables)
		if err != nil {
			if err := m.src.reply(ctx, req.ID, replyMsg{Error: err.Error(), Done: true}); err != nil {
				m.ctl.requests = append(reqs[i+1:], m.ctl.requests...)
				return m.failed(ctx, err)
			}
			continue
		}
		served := m.logResync(req, tables, m.now())
		progress := func(p Progress) { _ = m.src.reply(ctx, req.ID, replyMsg{Progress: &p}) }
		err = m.reconcileTables(ctx, tables, req.DryRun, progress, func(t *table, rep Report) error {
			if !req.DryRun {
				delete(m.dirty, t)
			}
			return m.src.reply(ctx, req.ID, replyMsg{Report: &rep})
		})
		if err == nil {
			err = m.src.reply(ctx, req.ID, replyMsg{Done: true})
			served()
		} else {
			_ = m.src.reply(ctx, req.ID, replyMsg{Error: err.Error(), Done: true})
		}
		if err != nil {
			// The rest are refused by the failure's policy.
			m.ctl.requests = append(reqs[i+1:], m.ctl.requests...)
			return m.failed(ctx, err)
		}
	}
	return m.next(), nil
}

// redisDown waits for Redis to answer again. Changes read meanwhile are
// dropped (the claim and repair that follow cover them); a resync request
// is answered at once with the reason, so it fails instead of waiting;
// beats are dropped, so nothing piles up however long Redis is out.
func (m *machine) redisDown(ctx context.Context) (mode, error) {
	select {
	case <-ctx.Done():
		return modeDone, nil
	case err := <-m.src.lost():
		return m.failed(ctx, fmt.Errorf("%w: %w", errSessionLost, err))
	case <-m.retry.C:
		if err := m.st.ping(ctx); err != nil {
			m.down.attempt++
			m.retry.Reset(backoff(m.down.attempt, m.cfg.MaxBackoff))
			return modeDown, nil
		}
		return modeClaim, nil
	case p := <-m.src.payloads():
		batch := m.drain(p)
		m.cfg.Metrics.deferred(batch, true)
		for _, p := range batch {
			msg, err := notify.Decode(p)
			if err != nil || msg.Control == nil || msg.Control.Kind != "resync" {
				continue
			}
			if err := m.src.reply(ctx, msg.Control.ID, replyMsg{Error: m.refusal(), Done: true}); err != nil {
				return m.failed(ctx, err)
			}
		}
		return modeDown, nil
	}
}

func (m *machine) refusal() string {
	return "the worker cannot write to Redis right now: " + m.down.reason
}

// oneShot reconciles a one-shot resync's tables, then sends its marker
// and applies changes until the marker comes back.
func (m *machine) oneShot(ctx context.Context) (mode, error) {
	o := m.once
	tables, err := pick(m.tables, o.names)
	if err != nil {
		return modeDone, fatalError{err}
	}
	if !o.dryRun {
		if err := m.src.holdsLock(ctx); err != nil {
			return modeDone, err
		}
		if err := m.st.claim(ctx); err != nil {
			return modeDone, err
		}
	}
	err = m.reconcileTables(ctx, tables, o.dryRun, nil, func(_ *table, rep Report) error {
		o.reports = append(o.reports, rep)
		return nil
	})
	if err != nil || o.dryRun {
		return modeDone, err
	}
	m.ctl.mark = o.mark
	if err := m.src.mark(ctx, o.mark); err != nil {
		return modeDone, err
	}
	return modeApply, nil
}

// reconcileTables is the one loop over tables and the one error policy
// shared by start-up, repair, one-shot resync and resync on request: a
// table's own trouble is reported for it and the loop goes on with the
// rest; anything else (a store down, the claim lost) ends the loop.
func (m *machine) reconcileTables(ctx context.Context, tables []*table, dry bool, progress func(Progress), done func(*table, Report) error) error {
	for _, t := range tables {
		rep, err := m.rec.reconcile(ctx, t, dry, progress)
		switch {
		case err == nil:
			if !dry && !m.auditing {
				m.release(t)
			}
			// A one-shot resync reports its tables on its own output.
			if !dry && !m.auditing && m.once == nil {
				m.cfg.Logger.Info("table reconciled", "table", rep.Table, "rows_scanned", rep.Scanned,
					"keys_written", rep.Written, "keys_deleted", rep.Deleted, "keys_unchanged", rep.Unchanged,
					"duration_seconds", rep.Duration)
			}
		case isTableTrouble(err) && ctx.Err() == nil:
			rep.Error = err.Error()
			if !dry {
				m.quarantineTable(t, err)
			}
		default:
			if isRedisFailure(err) {
				return tableError{table: t.Table.String(), err: err}
			}
			return err
		}
		if err := done(t, rep); err != nil {
			return err
		}
	}
	return nil
}

// due is the dirty tables to reconcile now, in name order: a quarantined
// one only once its retry is due.
func (m *machine) due() []*table {
	var ts []*table
	for t := range m.dirty {
		if q := m.quarantine[t]; q != nil && m.now().Before(q.retryAt) {
			continue
		}
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Table.String() < ts[j].Table.String() })
	return ts
}

// failed is the tenure's error policy: a lost claim is retaken, Redis
// failing or refusing enters down mode, anything else (PostgreSQL, the
// configuration) ends the tenure, so the worker reconnects and
// reconciles. Resync requests waiting are answered with the reason.
func (m *machine) failed(ctx context.Context, err error) (mode, error) {
	m.ctl.dropBeats()
	if ctx.Err() != nil {
		return modeDone, nil
	}
	if m.once != nil {
		return modeDone, err
	}
	if errors.Is(err, ErrFenced) {
		m.cfg.Metrics.applyError("fenced")
		return m.fenced(ctx)
	}
	if isRedisFailure(err) {
		m.markDown(err)
		if rerr := m.refuseRequests(ctx, m.refusal()); rerr != nil {
			return m.failed(ctx, rerr)
		}
		return modeDown, nil
	}
	m.cfg.Metrics.applyError(errorKind(err))
	// Best effort: the pool may still answer when only the session died.
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_ = m.refuseRequests(rctx, "the worker lost its PostgreSQL session: "+err.Error())
	return modeDone, err
}

// refuseRequests answers every waiting resync request with reason.
func (m *machine) refuseRequests(ctx context.Context, reason string) error {
	for _, r := range m.ctl.takeRequests() {
		if err := m.src.reply(ctx, r.ID, replyMsg{Error: reason, Done: true}); err != nil {
			return err
		}
	}
	return nil
}

func prefix(s string) string {
	if len(s) > 60 {
		return s[:60]
	}
	return s
}
