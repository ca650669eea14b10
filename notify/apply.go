package notify

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgredis/pgredis/internal/spec"
)

// LockPolicy bounds how long a step waits for its table's lock. Creating
// or dropping a trigger needs a lock that conflicts with every writer of
// the table; while the step waits behind a long transaction, the
// application's later writes queue behind the step. A short lock_timeout
// and retries with backoff keep that queue short.
type LockPolicy struct {
	// Timeout is each attempt's lock_timeout (must be positive).
	Timeout time.Duration
	// Retries is how many attempts follow one that timed out.
	Retries int
	// Backoff is the pause before retry n (from 1); nil doubles from
	// 250ms up to 10s, with jitter.
	Backoff func(retry int) time.Duration
	// Monitor is a second session through which a waiting attempt looks
	// up who blocks it (pg_blocking_pids); nil reports nothing.
	Monitor Querier
	// Waiting is told, once per attempt, what a waiting attempt waits for.
	// It runs on another goroutine than Apply's caller.
	Waiting func(Wait)
}

// Wait is an attempt waiting for a lock.
type Wait struct {
	Table    string // the step's table
	Attempt  int
	Attempts int
	Lock     string // the relation and lock mode waited for
	Blockers []Blocker
}

func (w Wait) String() string {
	var held []string
	for _, b := range w.Blockers {
		held = append(held, b.String())
	}
	return fmt.Sprintf("%s: waiting for %s (attempt %d of %d), blocked by %s", w.Table, w.Lock, w.Attempt, w.Attempts, strings.Join(held, ", "))
}

// Blocker is a session holding (or queued ahead for) a conflicting lock.
type Blocker struct {
	PID           int
	Application   string
	User          string
	Client        string
	State         string
	InTransaction time.Duration
}

func (b Blocker) String() string {
	s := fmt.Sprintf("pid %d (application %s, user %s, from %s", b.PID, quoteOrNone(b.Application), quoteOrNone(b.User), b.Client)
	if b.State != "" {
		s += ", state " + b.State
	}
	if b.InTransaction > 0 {
		s += ", its transaction open for " + b.InTransaction.Round(100*time.Millisecond).String()
	}
	return s + ")"
}

func quoteOrNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return fmt.Sprintf("%q", s)
}

// LockError is a step that could not get its table's lock within its
// attempts. Steps before it are committed; a rerun continues.
type LockError struct {
	Table    string
	Attempts int
	Timeout  time.Duration
	// Last is the last wait seen (nil when none was observed).
	Last *Wait
	Err  error
}

func (e *LockError) Error() string {
	who := "another session holds a conflicting lock"
	if e.Last != nil && len(e.Last.Blockers) > 0 {
		var held []string
		for _, b := range e.Last.Blockers {
			held = append(held, b.String())
		}
		who = "blocked by " + strings.Join(held, ", ")
	}
	return fmt.Sprintf("could not lock table %s within %v in %d attempt(s): %s", e.Table, e.Timeout, e.Attempts, who)
}

func (e *LockError) Unwrap() error { return e.Err }

// Apply runs one step in a transaction of its own on conn: its DDL and
// its registry row commit together, so a crash between steps leaves every
// table either as it was or as planned, each consistent with its registry
// row, and a rerun plans what is left. Under lock_timeout, retried on a
// lock timeout or deadlock as the policy says. An unchanged step does
// nothing.
func Apply(ctx context.Context, conn *pgx.Conn, s Step, p LockPolicy) error {
	if s.Action == ActionUnchanged {
		return nil
	}
	if p.Timeout <= 0 {
		return fmt.Errorf("lock timeout must be positive, not %v", p.Timeout)
	}
	attempts := p.Retries + 1
	var last *Wait
	for attempt := 1; ; attempt++ {
		w, err := s.attempt(ctx, conn, p, attempt, attempts)
		if w != nil {
			last = w
		}
		if err == nil {
			return nil
		}
		if !lockFailure(err) || ctx.Err() != nil {
			return fmt.Errorf("error %s %s: %w", s.verb(), s.Spec, err)
		}
		if attempt >= attempts {
			if last == nil && p.Monitor != nil {
				// The waits were too short to catch: name who holds a
				// conflicting lock now.
				last = s.holders(ctx, p.Monitor, attempts)
			}
			return &LockError{Table: s.Spec.String(), Attempts: attempts, Timeout: p.Timeout, Last: last, Err: err}
		}
		pause := defaultBackoff(attempt)
		if p.Backoff != nil {
			pause = p.Backoff(attempt)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("error %s %s: %w", s.verb(), s.Spec, ctx.Err())
		case <-time.After(pause):
		}
	}
}

func (s Step) verb() string {
	switch s.Action {
	case ActionRemove:
		return "removing the triggers of"
	case ActionUpdate:
		return "updating the triggers of"
	default:
		return "installing triggers on"
	}
}

func defaultBackoff(retry int) time.Duration {
	d := min(250*time.Millisecond<<min(retry-1, 10), 10*time.Second)
	return d/2 + rand.N(d/2+1)
}

// lockFailure is an error a retry can get past: a lock_timeout, or a
// deadlock PostgreSQL broke by cancelling this transaction.
func lockFailure(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "55P03" || pe.Code == "40P01")
}

// LockSQL is the statement that takes the step's table lock first: share
// row exclusive (what CREATE TRIGGER needs) to install, access exclusive
// (what DROP TRIGGER needs) to remove. ONLY: the triggers are the named
// table's, and locking inheritance children would wait on their writers
// for nothing. Empty for a removal whose table no longer exists.
func (s Step) LockSQL() string {
	if s.Gone {
		return ""
	}
	mode := "SHARE ROW EXCLUSIVE"
	if s.Action == ActionRemove {
		mode = "ACCESS EXCLUSIVE"
	}
	return fmt.Sprintf("LOCK TABLE ONLY %s IN %s MODE", s.Spec.Ident(), mode)
}

// LockTimeoutSQL sets an attempt's lock_timeout.
func LockTimeoutSQL(d time.Duration) string {
	return fmt.Sprintf("SET LOCAL lock_timeout = '%dms'", d.Milliseconds())
}

func (s Step) attempt(ctx context.Context, conn *pgx.Conn, p LockPolicy, attempt, attempts int) (seen *Wait, err error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, LockTimeoutSQL(p.Timeout)); err != nil {
		return nil, err
	}
	if p.Monitor != nil {
		pid, err := BackendPID(ctx, conn.PgConn())
		if err != nil {
			return nil, err
		}
		stop := watch(ctx, p, Wait{Table: s.Spec.String(), Attempt: attempt, Attempts: attempts}, pid)
		defer func() { seen = stop() }()
	}
	if s.Action == ActionRemove {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, s.Spec.Ident()).Scan(&exists); err != nil {
			return nil, err
		}
		s.Gone = !exists
	}
	if lock := s.LockSQL(); lock != "" {
		if _, err := tx.Exec(ctx, lock); err != nil {
			return nil, err
		}
	}
	if s.table != nil {
		// Render from the catalog as it is under the lock: the table may
		// have been altered since the plan.
		fresh, err := Resolve(ctx, tx, []spec.Table{s.Spec}, "")
		if err != nil {
			return nil, err
		}
		n := fresh[0].normalized()
		s.table, s.SQL = &n, n.InstallSQL()
	}
	if err := s.run(ctx, tx); err != nil {
		return nil, err
	}
	return nil, tx.Commit(ctx)
}

// run executes the step in tx: its DDL and its registry row.
func (s Step) run(ctx context.Context, tx pgx.Tx) error {
	for _, stmt := range s.SQL {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return err
		}
	}
	if s.Action == ActionRemove {
		_, err := tx.Exec(ctx, `DELETE FROM pgredis.tables WHERE schema_name = $1 AND table_name = $2 AND entry = $3`, s.Spec.Schema, s.Spec.Name, s.Spec.Entry)
		return err
	}
	t := *s.table
	h, err := catalogHash(ctx, tx, t.Table)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `
INSERT INTO pgredis.tables (schema_name, table_name, spec, key_template, version, render_sql, fetch_sql, install_hash, catalog_hash, entry)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (schema_name, table_name, entry) DO UPDATE SET spec = EXCLUDED.spec, key_template = EXCLUDED.key_template,
	version = EXCLUDED.version, render_sql = EXCLUDED.render_sql, fetch_sql = EXCLUDED.fetch_sql,
	install_hash = EXCLUDED.install_hash, catalog_hash = EXCLUDED.catalog_hash, installed_at = now()`,
		t.Schema, t.Name, t.Canonical(), t.Key.String(), t.Version(), t.RenderSQL(), t.FetchSQL(), installHash(s.SQL), h, t.Entry)
	return err
}

// blockersSQL lists what the backend $1 waits for and who blocks it.
const blockersSQL = `
SELECT 'a ' || l.mode || ' on ' || coalesce((SELECT n.nspname || '.' || c.relname FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = l.relation), l.locktype), b.pid,
	coalesce(a.application_name, ''), coalesce(a.usename::text, ''), coalesce(host(a.client_addr), 'local'),
	coalesce(a.state, ''), coalesce(extract(epoch FROM now() - a.xact_start)::float8, 0)
FROM pg_catalog.pg_locks l
CROSS JOIN LATERAL unnest(pg_blocking_pids($1)) AS b(pid)
LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = b.pid
WHERE l.pid = $1 AND NOT l.granted
ORDER BY b.pid`

// watch polls, on the monitor session, whether backend pid waits for a
// lock; the first time it does, it tells p.Waiting. stop ends the polling
// and returns what it saw. stop lets a query in flight finish rather than
// cancel it: pgx closes a connection whose query is cancelled, and the
// monitor would report nothing after that.
func watch(ctx context.Context, p LockPolicy, w Wait, pid uint32) (stop func() *Wait) {
	quit := make(chan struct{})
	var found *Wait
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Soon at first: a short lock_timeout ends the wait quickly.
		pause := 10 * time.Millisecond
		for {
			select {
			case <-ctx.Done():
				return
			case <-quit:
				return
			case <-time.After(pause):
			}
			pause = min(2*pause, 100*time.Millisecond)
			got, ok := blockers(ctx, p.Monitor, w, pid)
			if !ok {
				continue
			}
			found = &got
			if p.Waiting != nil {
				p.Waiting(got)
			}
			return
		}
	}()
	return func() *Wait {
		close(quit)
		<-done
		return found
	}
}

func blockers(ctx context.Context, q Querier, w Wait, pid uint32) (Wait, bool) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	rows, err := q.Query(ctx, blockersSQL, int64(pid))
	if err != nil {
		return w, false
	}
	defer rows.Close()
	for rows.Next() {
		var b Blocker
		var secs float64
		if err := rows.Scan(&w.Lock, &b.PID, &b.Application, &b.User, &b.Client, &b.State, &secs); err != nil {
			return w, false
		}
		b.InTransaction = time.Duration(secs * float64(time.Second))
		w.Blockers = append(w.Blockers, b)
	}
	return w, rows.Err() == nil && len(w.Blockers) > 0
}

// conflicting lists the table lock modes that conflict with the step's.
func (s Step) conflicting() []string {
	if s.Action == ActionRemove {
		return []string{"AccessShareLock", "RowShareLock", "RowExclusiveLock", "ShareUpdateExclusiveLock",
			"ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"}
	}
	return []string{"RowExclusiveLock", "ShareUpdateExclusiveLock", "ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"}
}

// holders finds the sessions holding a lock on the step's table that
// conflicts with the step's; nil when none does.
func (s Step) holders(ctx context.Context, q Querier, attempts int) *Wait {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	mode := "ShareRowExclusiveLock"
	if s.Action == ActionRemove {
		mode = "AccessExclusiveLock"
	}
	w := Wait{Table: s.Spec.String(), Attempt: attempts, Attempts: attempts, Lock: "a " + mode + " on " + s.Spec.String()}
	rows, err := q.Query(ctx, `
SELECT DISTINCT l.pid, coalesce(a.application_name, ''), coalesce(a.usename::text, ''), coalesce(host(a.client_addr), 'local'),
	coalesce(a.state, ''), coalesce(extract(epoch FROM now() - a.xact_start)::float8, 0)
FROM pg_catalog.pg_locks l
LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
WHERE l.granted AND l.relation = to_regclass($1) AND l.mode = ANY($2) AND l.pid <> pg_backend_pid()
ORDER BY l.pid`, s.Spec.Ident(), s.conflicting())
	if err != nil {
		return nil
	}
	defer rows.Close()
	for rows.Next() {
		var b Blocker
		var secs float64
		if err := rows.Scan(&b.PID, &b.Application, &b.User, &b.Client, &b.State, &secs); err != nil {
			return nil
		}
		b.InTransaction = time.Duration(secs * float64(time.Second))
		w.Blockers = append(w.Blockers, b)
	}
	if rows.Err() != nil || len(w.Blockers) == 0 {
		return nil
	}
	return &w
}
