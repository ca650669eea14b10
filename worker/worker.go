package worker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgredis/pgredis/internal/spec"
	"github.com/pgredis/pgredis/notify"
)

// Worker mirrors the installed tables into Redis. Any number may run: the
// one holding the worker lock applies, the others stand by.
type Worker struct {
	cfg  Config
	pool *pgxpool.Pool

	started atomic.Bool
	stopMu  sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
	active  atomic.Bool
	// settled is set by a tenure that reconciled and ran healthy, so the
	// reconnect backoff starts over (only the run goroutine uses it).
	settled bool
	errMu   sync.Mutex
	err     error
	mon     monitor
}

// New prepares a worker; Start connects.
func New(cfg Config) (*Worker, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	return &Worker{cfg: cfg, done: make(chan struct{})}, nil
}

// pinned returns a copy of the connection config with the rendering
// settings pinned, so reconcile renders exactly like the trigger.
func (w *Worker) pinned() *pgx.ConnConfig {
	c := w.cfg.PG.Copy()
	if c.RuntimeParams == nil {
		c.RuntimeParams = map[string]string{}
	}
	for _, s := range notify.Settings {
		c.RuntimeParams[s[0]] = s[1]
	}
	c.RuntimeParams["application_name"] = w.cfg.ApplicationName
	return c
}

// connect opens the pool and checks both stores answer and the installed
// tables are the configured ones, so a misconfigured worker fails at once
// with a message instead of standing by forever.
func (w *Worker) connect(ctx context.Context) error {
	pc, err := pgxpool.ParseConfig("")
	if err != nil {
		return err
	}
	pc.ConnConfig = w.pinned()
	notify.DeferParams(pc.ConnConfig)
	pc.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return fmt.Errorf("error configuring PostgreSQL pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return fmt.Errorf("error connecting to PostgreSQL: %w", err)
	}
	w.pool = pool
	if err := notify.CheckEncoding(ctx, pool); err != nil {
		pool.Close()
		return fatalError{err}
	}
	if err := w.cfg.Redis.Ping(ctx).Err(); err != nil {
		pool.Close()
		return fmt.Errorf("error connecting to Redis: %w", err)
	}
	if _, err := w.loadTables(ctx, true); err != nil {
		pool.Close()
		return err
	}
	return nil
}

// loadTables reads the registry and checks it matches the configuration.
// strict also refuses a table whose triggers are missing: at start (a
// worker or resync started before migrate up). Once the worker runs, the
// periodic check reports missing triggers (readiness, the log) and the
// other tables stay live, so a reconnect or a reload does not refuse them.
func (w *Worker) loadTables(ctx context.Context, strict bool) (map[string]*table, error) {
	installed, err := notify.LoadInstalled(ctx, w.pool)
	if err != nil {
		return nil, err
	}
	// By entry: a table listed more than once has a registry row each.
	byName := map[string]notify.Installed{}
	for _, in := range installed {
		byName[in.Table.ID()] = in
	}
	tables := map[string]*table{}
	for _, st := range w.cfg.Tables {
		in, ok := byName[st.ID()]
		if !ok {
			return nil, fatalError{registryMismatch{fmt.Sprintf("table %s has no pgredis trigger installed", st)}}
		}
		// Meaning, not spelling: the default key written out or columns=
		// in another order is the same spec.
		same, err := notify.SameSpec(ctx, w.pool, st, in)
		if err != nil {
			return nil, err
		}
		if !same {
			return nil, fatalError{registryMismatch{fmt.Sprintf("table %s is installed as '%s' but PGREDIS_TABLES says '%s'", st, in.Table.Written(), st.Written())}}
		}
		// The registry says what migrate up installed; the catalog says
		// whether the triggers are still there (not dropped by hand).
		n, err := notify.TriggersInstalled(ctx, w.pool, st)
		if err != nil {
			return nil, err
		}
		if want := len(notify.TriggerNames()); strict && n < want {
			return nil, fmt.Errorf("table %s is registered but %d of its %d pgredis triggers are missing: run pgredis migrate up with this PGREDIS_TABLES", st, want-n, want)
		}
		delete(byName, st.ID())
		tables[in.Version] = newTable(in)
	}
	for name := range byName {
		return nil, fatalError{registryMismatch{fmt.Sprintf("table %s has a pgredis trigger but is not in PGREDIS_TABLES", name)}}
	}
	w.checkShape(ctx, installed)
	return tables, nil
}

// registryMismatch is a difference between PGREDIS_TABLES and what
// migrate up installed. At start the fix is migrate up with this
// configuration; once the worker runs, migrate up ran with a newer one
// (a release), and the fix is to restart with that (see reload).
type registryMismatch struct{ problem string }

func (e registryMismatch) Error() string {
	return e.problem + ": run pgredis migrate up with this PGREDIS_TABLES"
}

// checkShape warns when a table no longer fits its installed spec (a
// column dropped, renamed or added since migrate up).
func (w *Worker) checkShape(ctx context.Context, installed []notify.Installed) {
	for _, in := range installed {
		resolved, err := notify.Resolve(ctx, w.pool, []spec.Table{in.Table}, "")
		switch {
		case err != nil:
			w.cfg.Logger.Error("table no longer fits its spec; run pgredis migrate up with a fitting PGREDIS_TABLES", "table", in.Table.String(), "error", err)
		case resolved[0].Version() != in.Version:
			w.cfg.Logger.Warn("table changed shape since pgredis migrate up; run it again to sync the new shape", "table", in.Table.String())
		}
	}
}

// Start connects and checks the configuration (giving up after 30s), then
// runs in the background until Stop or ctx ends. A Worker starts once.
func (w *Worker) Start(ctx context.Context) error {
	if !w.started.CompareAndSwap(false, true) {
		return errors.New("the worker was already started: a Worker runs once, create another with worker.New")
	}
	connectCtx, cancelConnect := context.WithTimeout(ctx, 30*time.Second)
	defer cancelConnect()
	if err := w.connect(connectCtx); err != nil {
		w.started.Store(false)
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	w.stopMu.Lock()
	w.cancel = cancel
	w.stopMu.Unlock()
	runDone := make(chan struct{})
	w.startMonitor(runCtx, runDone)
	go func() {
		w.run(runCtx)
		close(runDone)
		// The pool closes only after the monitor, which probes it, ended.
		w.waitMonitor()
		w.pool.Close()
		close(w.done)
	}()
	return nil
}

// Stop ends the worker: an in-flight batch is abandoned (the next worker's
// reconcile re-derives it), the lock released. It returns when done, or
// with an error when ctx ends first. Stopping a worker never started, or
// stopped, does nothing.
func (w *Worker) Stop(ctx context.Context) error {
	w.stopMu.Lock()
	cancel := w.cancel
	w.stopMu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("error stopping the worker: %w", ctx.Err())
	}
}

// Done is closed when the worker has stopped.
func (w *Worker) Done() <-chan struct{} { return w.done }

// Err is the error that stopped the worker on its own, if any.
func (w *Worker) Err() error {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	return w.err
}

// Active reports whether this worker holds the lock and applies.
func (w *Worker) Active() bool { return w.active.Load() }

func (w *Worker) run(ctx context.Context) {
	log := w.cfg.Logger
	var failures int
	for {
		began := time.Now()
		err := w.tenure(ctx, nil)
		if ctx.Err() != nil {
			return
		}
		var fatal fatalError
		if errors.As(err, &fatal) {
			log.Error("worker stopped", "error", err)
			w.errMu.Lock()
			w.err = err
			w.errMu.Unlock()
			return
		}
		if w.settled || time.Since(began) > time.Minute {
			// A tenure that got to work ends a run of failures: the next
			// reconnect starts quick again.
			failures = 0
			w.settled = false
		}
		failures++
		// The pool's idle connections likely died with the session (a
		// terminated backend, a restarted server): start it afresh.
		w.pool.Reset()
		wait := backoff(failures, w.cfg.MaxBackoff)
		log.Warn("worker lost its session; reconnecting", "error", err, "retry_in_seconds", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// fatalError ends the worker instead of a reconnect: retrying cannot help.
type fatalError struct{ error }

func (e fatalError) Unwrap() error { return e.error }

// backoff is capped exponential backoff with full jitter.
func backoff(attempt int, max time.Duration) time.Duration {
	d := 100 * time.Millisecond << min(attempt, 10)
	if d > max {
		d = max
	}
	return d/2 + rand.N(d/2+1)
}

// tenure is one session's life: connect, stand by until the lock is free,
// then LISTEN, reconcile and apply until the session or Redis fails for
// good. With until set (a one-shot resync), it returns once until says so.
func (w *Worker) tenure(ctx context.Context, oneShot *oneShot) error {
	sess, err := notify.Dial(ctx, w.pinned(), w.cfg.Buffer)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = sess.Close(cctx)
	}()
	standing := false
	for {
		ok, err := sess.TryLock(ctx)
		if err != nil {
			return err
		}
		if ok {
			break
		}
		if oneShot != nil {
			return errLocked
		}
		if !standing {
			w.cfg.Logger.Info("another worker is active; standing by")
			standing = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(w.cfg.StandbyPoll):
		}
	}
	tables, err := w.loadTables(ctx, false)
	if err != nil {
		return err
	}
	if err := RecordStatePrefix(ctx, w.pool, w.cfg.StatePrefix); err != nil {
		// Only the barrier's list name depends on it; migrate up records it too.
		w.cfg.Logger.Warn("cannot record the state prefix: pgredis.barrier() may name a list this worker does not answer on; run pgredis migrate up with this PGREDIS_STATE_PREFIX", "error", err)
	}
	// LISTEN before the first reconcile: whatever commits after this is
	// delivered, whatever committed before is in the reconcile's snapshot.
	if err := sess.Listen(ctx, notify.Channel); err != nil {
		return err
	}
	lost := sess.Go(ctx, w.cfg.IdlePing)
	// The feed hands the apply loop notifications, or the queue in queue
	// mode (feed.go); its failure ends the tenure as the session's does.
	fctx, stopFeed := context.WithCancel(ctx)
	f := newFeed(&w.cfg, w.pool, sess, w.pinned())
	if oneShot != nil {
		f.setting = CaptureNotify
	}
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		f.run(fctx)
	}()
	defer func() {
		stopFeed()
		<-fed
	}()
	lostAll := make(chan error, 1)
	go func() {
		select {
		case err := <-lost:
			lostAll <- err
		case err := <-f.failed:
			lostAll <- fmt.Errorf("capture: %w", err)
		case <-fctx.Done():
		}
	}()
	w.active.Store(true)
	defer w.active.Store(false)
	if oneShot == nil {
		w.cfg.Logger.Info("worker is active", "backend_pid", sess.PID())
	}
	st := &store{rdb: w.cfg.Redis, ownerKey: w.cfg.StatePrefix + "owner"}
	m := newMachine(&w.cfg, &pgSource{w: w, sess: sess, feed: f, lostCh: lostAll}, st,
		&reconciler{cfg: &w.cfg, pool: w.pool, store: st}, tables)
	m.once = oneShot
	check := time.NewTicker(w.cfg.CheckInterval)
	defer check.Stop()
	m.checkC = check.C
	if w.cfg.AuditInterval > 0 && oneShot == nil {
		// One table per tick: every table is verified within the interval.
		audit := time.NewTicker(max(w.cfg.AuditInterval/time.Duration(max(len(tables), 1)), 100*time.Millisecond))
		defer audit.Stop()
		m.auditC = audit.C
	}
	m.beat = func(ctx context.Context, c *notify.Control) { w.recordBeat(ctx, st, &m.app.log, c) }
	m.settled = func() { w.settled = true }
	m.report = w.setQuarantined
	m.regenerate = func(ctx context.Context, t spec.Table) (bool, error) { return notify.Regenerate(ctx, w.pool, t) }
	defer w.setQuarantined(nil)
	if oneShot != nil {
		return m.run(ctx, modeOneShot)
	}
	return m.run(ctx, modeClaim)
}

var errLocked = errors.New("another worker holds the lock")
