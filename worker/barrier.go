package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// BarrierTTL is how long a barrier's answer stays in Redis.
const BarrierTTL = time.Minute

// BarrierKey is the list a barrier with id is answered on: what
// pgredis.barrier() returns when the prefix it recorded is statePrefix.
func BarrierKey(statePrefix, id string) string { return statePrefix + "barrier:" + id }

// validBarrierID accepts what pgredis.barrier() makes (32 hex digits) and
// little else: any role may send a control message, and the id becomes
// part of a Redis key.
func validBarrierID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// execer is what RecordStatePrefix needs of a connection or pool.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// RecordStatePrefix stores the state prefix pgredis.barrier() names its
// lists under (migrate up and every worker taking the lock record theirs).
func RecordStatePrefix(ctx context.Context, db execer, prefix string) error {
	_, err := db.Exec(ctx, `UPDATE pgredis.barrier_prefix SET state_prefix = $1 WHERE state_prefix IS DISTINCT FROM $1`, prefix)
	if err != nil {
		return fmt.Errorf("error recording the state prefix %q for pgredis.barrier(): %w", prefix, err)
	}
	return nil
}

// addBarriers queues barriers to answer, once each.
func (c *controller) addBarriers(ids []string) {
	if c.barrierSet == nil {
		c.barrierSet = map[string]bool{}
	}
	for _, id := range ids {
		if validBarrierID(id) && !c.barrierSet[id] {
			c.barrierSet[id] = true
			c.barriers = append(c.barriers, id)
		}
	}
}

// answerBarriers pushes the answer of every barrier seen so far, once
// every change before them is in Redis: after a batch is applied, unless
// a table waits for a reconcile (a change the batch could not apply), in
// which case the repair answers them. A quarantined table does not hold
// barriers back: it may not be mirrored for a long time.
func (m *machine) answerBarriers(ctx context.Context) error {
	if len(m.ctl.barriers) == 0 || len(m.due()) > 0 {
		return nil
	}
	ids := m.ctl.barriers
	ws := make([]write, len(ids))
	for i, id := range ids {
		ws[i] = write{key: BarrierKey(m.cfg.StatePrefix, id), push: true, value: "1", ttlMS: BarrierTTL.Milliseconds()}
	}
	if err := m.st.apply(ctx, ws); err != nil {
		return err
	}
	m.ctl.barriers, m.ctl.barrierSet = nil, nil
	// Answered: a takeover need not answer them again (if this fails,
	// the next worker answers them twice, which BLPOP does not mind).
	return m.src.forgetBarriers(ctx, ids)
}

// barriers returns the barriers recorded and not answered yet.
func (s *pgSource) barriers(ctx context.Context) ([]string, error) {
	rows, err := s.w.pool.Query(ctx, `SELECT id FROM pgredis.barriers ORDER BY created`)
	if err != nil {
		return nil, fmt.Errorf("error reading the pending barriers: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("error reading the pending barriers: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("error reading the pending barriers: %w", err)
	}
	return ids, nil
}

// forgetBarriers deletes answered barriers, and any older than their
// answer's lifetime (no application waits for those any more).
func (s *pgSource) forgetBarriers(ctx context.Context, ids []string) error {
	_, err := s.w.pool.Exec(ctx, `DELETE FROM pgredis.barriers WHERE id = ANY($1) OR created < now() - $2::interval`,
		ids, fmt.Sprintf("%d seconds", int(BarrierTTL.Seconds())))
	if err != nil {
		return fmt.Errorf("error deleting answered barriers: %w", err)
	}
	return nil
}
