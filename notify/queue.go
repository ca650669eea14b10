package notify

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The capture mode's advisory locks (migration 5, pgredis.queueing): the
// worker holds QueueModeKey as a session lock while it is in queue mode,
// and every capturing transaction holds WriterKey shared (taken before it
// tries QueueModeKey shared), so the worker can wait out the writers that
// decided before a switch.
const (
	QueueModeKey = LockKey + 2
	WriterKey    = LockKey + 3
)

// Queued is one row drained from the capture queue: the payload a
// notification would have carried, and its transaction's place in the
// drain order (its last sequence number, then the row's id).
type Queued struct {
	LastSeq int64
	ID      int64
	Payload string
}

// Drain deletes and returns about n rows of the queue, whole committed
// transactions, in order (pgredis.drain). It runs in a REPEATABLE READ
// transaction, so the function's statements see one snapshot. With n = 0
// it only records how far the queue was drained, for the writers' bound.
//
// The transaction's three statements go in one batch: one round trip
// instead of three. Under load the drain runs on the writers' cores, and
// each round trip is a wake-up that waits its turn behind them
// (BENCHMARKS.md, issue 18). A failed drain leaves conn outside any
// transaction, ready for the next.
func Drain(ctx context.Context, conn *pgx.Conn, n int) ([]Queued, error) {
	b := &pgx.Batch{}
	b.Queue("BEGIN ISOLATION LEVEL REPEATABLE READ")
	b.Queue("SELECT last_seq, id, payload FROM pgredis.drain($1)", n)
	b.Queue("COMMIT")
	res := conn.SendBatch(ctx, b)
	out, err := drained(res)
	if cerr := res.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if !conn.IsClosed() && conn.PgConn().TxStatus() != 'I' {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if _, rerr := conn.Exec(rctx, "ROLLBACK"); rerr != nil {
				_ = conn.Close(rctx)
			}
		}
		return nil, fmt.Errorf("error draining the capture queue: %w", err)
	}
	return out, nil
}

// drained reads a drain batch's results: the BEGIN, the rows, the COMMIT
// (whose tag says whether the transaction really committed).
func drained(res pgx.BatchResults) ([]Queued, error) {
	if _, err := res.Exec(); err != nil {
		return nil, err
	}
	rows, err := res.Query()
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Queued, error) {
		var x Queued
		err := r.Scan(&x.LastSeq, &x.ID, &x.Payload)
		return x, err
	})
	if err != nil {
		return nil, err
	}
	tag, err := res.Exec()
	if err != nil {
		return nil, err
	}
	if tag.String() != "COMMIT" {
		return nil, fmt.Errorf("the drain's transaction ended with %s", tag.String())
	}
	return out, nil
}

// DiscardQueue empties the capture queue (a claim's reconcile covers it)
// and returns how many rows it held.
func DiscardQueue(ctx context.Context, q Querier) (int64, error) {
	var n int64
	if err := q.QueryRow(ctx, "SELECT pgredis.discard_queue()").Scan(&n); err != nil {
		return 0, fmt.Errorf("error discarding the capture queue: %w", err)
	}
	return n, nil
}

// QueueDepth counts the rows waiting in the capture queue.
func QueueDepth(ctx context.Context, q Querier) (int64, error) {
	var n int64
	if err := q.QueryRow(ctx, "SELECT pgredis.queue_depth()").Scan(&n); err != nil {
		return 0, fmt.Errorf("error reading the capture queue's depth: %w", err)
	}
	return n, nil
}

// CanQueue reports whether the queue exists (migration 5 ran) and this
// role may drain it.
func CanQueue(ctx context.Context, q Querier) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, `SELECT to_regprocedure('pgredis.drain(integer)') IS NOT NULL
		AND has_function_privilege('pgredis.drain(integer)', 'EXECUTE')
		AND has_function_privilege('pgredis.discard_queue()', 'EXECUTE')`).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("error checking the capture queue: %w", err)
	}
	return ok, nil
}

// NotifyWaiters counts the backends waiting for the cluster-wide lock a
// notifying commit takes (PreCommit_Notify): the sign that notifying
// commits contend.
func NotifyWaiters(ctx context.Context, q Querier) (int, error) {
	var n int
	err := q.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'object' AND NOT granted
		AND classid = 'pg_database'::regclass AND objid = 0`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("error reading pg_locks: %w", err)
	}
	return n, nil
}

// Writers lists the transactions holding WriterKey shared (by virtual
// transaction id): those that may still append to the queue.
func Writers(ctx context.Context, q Querier) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT l.virtualtransaction FROM pg_locks l WHERE `+lockWhere, WriterKey)
	if err != nil {
		return nil, fmt.Errorf("error reading pg_locks: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("error reading pg_locks: %w", err)
	}
	return out, nil
}

// WritersLeft reports how many of the transactions in vxids still hold
// WriterKey.
func WritersLeft(ctx context.Context, q Querier, vxids []string) (int, error) {
	var n int
	err := q.QueryRow(ctx, `SELECT count(*) FROM pg_locks l WHERE `+lockWhere+` AND l.virtualtransaction = ANY($2)`, WriterKey, vxids).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("error reading pg_locks: %w", err)
	}
	return n, nil
}

// LockQueueMode takes QueueModeKey exclusively on conn, waiting at most
// the conn's lock_timeout: it is granted once every transaction that got
// it shared (a notifying writer) has ended. ok is false on the timeout.
func LockQueueMode(ctx context.Context, conn *pgx.Conn) (ok bool, err error) {
	_, err = conn.Exec(ctx, "SELECT pg_advisory_lock($1)", QueueModeKey)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "55P03" {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("error taking the queue-mode lock: %w", err)
	}
	return true, nil
}

// UnlockQueueMode releases QueueModeKey: writers notify again.
func UnlockQueueMode(ctx context.Context, conn *pgx.Conn) error {
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", QueueModeKey); err != nil {
		return fmt.Errorf("error releasing the queue-mode lock: %w", err)
	}
	return nil
}

// Header reads a change payload's sequence number and transaction id
// without decoding its entries; ok is false for a control message or a
// payload without a transaction id.
func Header(p string) (seq, txid int64, ok bool) {
	if !strings.HasPrefix(p, "p2 ") {
		return 0, 0, false
	}
	line, _, _ := strings.Cut(p, "\n")
	f := strings.Split(line, " ")
	if len(f) != 5 {
		return 0, 0, false
	}
	seq, err1 := strconv.ParseInt(f[2], 10, 64)
	txid, err2 := strconv.ParseInt(f[4], 10, 64)
	if err1 != nil || err2 != nil || txid <= 0 {
		return 0, 0, false
	}
	return seq, txid, true
}

// QueueModeHeld reports whether some session holds QueueModeKey.
func QueueModeHeld(ctx context.Context, q Querier) (bool, error) {
	var held bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks l WHERE `+lockWhere+`)`, QueueModeKey).Scan(&held); err != nil {
		return false, fmt.Errorf("error reading pg_locks: %w", err)
	}
	return held, nil
}

// DialConn opens a connection with the listening session's keepalives, so
// a lock it holds is freed as soon after a vanished worker host as the
// worker lock is.
func DialConn(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	cfg = cfg.Copy()
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	for _, kv := range keepalives {
		if _, set := cfg.RuntimeParams[kv[0]]; !set {
			cfg.RuntimeParams[kv[0]] = kv[1]
		}
	}
	DeferParams(cfg)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("error connecting to PostgreSQL: %w", err)
	}
	return conn, nil
}
