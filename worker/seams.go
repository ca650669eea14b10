package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgredis/pgredis/notify"
)

// The modes reach the stores through these seams, so their transitions
// are tested without a server (modes_test.go); the real implementations
// are the store (Redis) and pgSource (PostgreSQL).

// mirror is Redis as the modes see it; *store implements it.
type mirror interface {
	claim(ctx context.Context) error
	owned(ctx context.Context) (bool, error)
	// owner is the token holding the mirror when it is not this worker's.
	owner(ctx context.Context) (string, error)
	apply(ctx context.Context, writes []write) error
	ping(ctx context.Context) error
	// identity changes when Redis restarts or fails over.
	identity(ctx context.Context) (string, error)
	memory(ctx context.Context) (memInfo, error)
	scan(ctx context.Context, glob string, fn func([]string) error) error
}

// source is PostgreSQL as the modes see it: the listening session that
// holds the worker lock, and the pool.
type source interface {
	payloads() <-chan string
	// lost yields the listening session's end.
	lost() <-chan error
	// holdsLock fails unless the session still holds the worker lock.
	holdsLock(ctx context.Context) error
	// reload rereads the registry (migrate up ran meanwhile).
	reload(ctx context.Context) (map[string]*table, error)
	// reply answers a resync request.
	reply(ctx context.Context, id string, m replyMsg) error
	// mark sends a one-shot resync's marker through the change channel.
	mark(ctx context.Context, id string) error
	// sync yields once every notification PostgreSQL sent before the
	// call is in payloads (a round trip on the listening session).
	sync() <-chan struct{}
	// barriers returns the barriers recorded and not answered yet;
	// forgetBarriers deletes answered ones (barrier.go).
	barriers(ctx context.Context) ([]string, error)
	forgetBarriers(ctx context.Context, ids []string) error
	// readLarge reads the rows of the fetch entries in ws, filling in
	// their writes.
	readLarge(ctx context.Context, ws []pendingWrite) error
	// resetCapture brings the capture back to notify mode with an empty
	// queue, before a claim's reconcile (feed.go).
	resetCapture(ctx context.Context) error
}

// tableReconciler reconciles one table (*reconciler implements it).
type tableReconciler interface {
	reconcile(ctx context.Context, t *table, dry bool, progress func(Progress)) (Report, error)
	// audit is a paced dry run, safe beside the apply loop (it only reads).
	audit(ctx context.Context, t *table) (Report, error)
}

// pgSource is the real source: a tenure's session and the worker's pool.
type pgSource struct {
	w      *Worker
	sess   *notify.Session
	feed   *feed
	lostCh <-chan error
}

func (s *pgSource) payloads() <-chan string                { return s.feed.payloads() }
func (s *pgSource) lost() <-chan error                     { return s.lostCh }
func (s *pgSource) sync() <-chan struct{}                  { return s.feed.sync() }
func (s *pgSource) resetCapture(ctx context.Context) error { return s.feed.reset(ctx) }

// holdsLock confirms the listening session still holds the lock before
// claiming the mirror: a session can die (and the lock pass to a standby)
// before this worker notices, and a claim then would fence off the worker
// that now holds the lock.
func (s *pgSource) holdsLock(ctx context.Context) error {
	select {
	case err := <-s.lostCh:
		return fmt.Errorf("%w: %w", errSessionLost, err)
	default:
	}
	held, err := notify.LockHeldBy(ctx, s.w.pool, s.sess.PID())
	if err != nil {
		return err
	}
	if !held {
		return fmt.Errorf("%w: the worker lock is no longer held by this worker's session", errSessionLost)
	}
	return nil
}

func (s *pgSource) reload(ctx context.Context) (map[string]*table, error) {
	tables, err := s.w.loadTables(ctx, false)
	var mismatch registryMismatch
	if errors.As(err, &mismatch) {
		return nil, fatalError{fmt.Errorf("pgredis migrate up changed the installed tables while this worker ran (%s): restart the worker with the PGREDIS_TABLES that migrate up ran with", mismatch.problem)}
	}
	var fatal fatalError
	if errors.As(err, &fatal) {
		return nil, fatalError{fmt.Errorf("the installed tables changed under the worker: %w", err)}
	}
	return tables, err
}

func (s *pgSource) reply(ctx context.Context, id string, m replyMsg) error {
	b, _ := json.Marshal(m)
	if _, err := s.w.pool.Exec(ctx, "SELECT pg_notify($1, $2)", notify.ReplyChannel, id+" "+string(b)); err != nil {
		return fmt.Errorf("error replying to resync: %w", err)
	}
	return nil
}

func (s *pgSource) mark(ctx context.Context, id string) error {
	mark := notify.Control{Kind: "mark", ID: id}
	if _, err := s.w.pool.Exec(ctx, "SELECT pg_notify($1, $2)", notify.Channel, mark.Encode()); err != nil {
		return fmt.Errorf("error sending the resync marker: %w", err)
	}
	return nil
}

func (s *pgSource) readLarge(ctx context.Context, ws []pendingWrite) error {
	var fetches []int
	b := &pgx.Batch{}
	for i, pw := range ws {
		if pw.fetch != nil {
			args := make([]any, len(pw.args))
			for j, a := range pw.args {
				args[j] = a
			}
			b.Queue(pw.fetch.FetchSQL, args...)
			fetches = append(fetches, i)
		}
	}
	if len(fetches) == 0 {
		return nil
	}
	res := s.w.pool.SendBatch(ctx, b)
	for _, i := range fetches {
		pw := &ws[i]
		var k, v string
		err := res.QueryRow().Scan(&k, &v)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			pw.write = pw.fetch.del(pw.key)
		case err != nil:
			res.Close()
			return tableError{table: pw.fetch.Table.String(), err: fmt.Errorf("error reading a large row: %w", err)}
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
	return nil
}
