package worker

import "time"

// Each committed transaction's changes reach Redis in one fenced script
// call, which Redis runs atomically (docs/architecture.md: "Transactions and the
// barrier"). PostgreSQL queues a transaction's notifications together, at
// commit, in commit order, and a listening backend writes out all it
// found in one pass before it reads the next request; the worker flushes
// only where the transaction id changes.
const (
	// maxTxnKeys is the largest transaction (in keys written) applied in
	// one atomic step; a larger one is applied in parts of this size, and
	// its keys are exact once its last part is in.
	maxTxnKeys = 10000
	// flushAtKeys: at a transaction boundary, the writes of the finished
	// transactions are flushed once this many wait, so script calls stay
	// small and a transaction of up to maxTxnKeys fits in one.
	flushAtKeys = 1000
	// syncStuck only guards against a round trip that never ends (the
	// session's own idle ping ends a dead one well before).
	syncStuck = 30 * time.Second
)

// rest extends a batch whose last payload may not end its transaction
// with the rest of that transaction, if any: what waits in the channel,
// else what a round trip on the listening session shows the server had
// sent. A transaction's notifications are written out in one pass, so
// once part of it arrived, the rest is ahead of the round trip's answer.
// It costs a round trip (a fraction of a millisecond) only when nothing
// else is waiting.
func (m *machine) rest(batch []string) []string {
	select {
	case p := <-m.src.payloads():
		return m.more(append(batch, p))
	default:
	}
	done := m.src.sync()
	stuck := time.NewTimer(syncStuck)
	defer stuck.Stop()
	select {
	case p := <-m.src.payloads():
		return m.more(append(batch, p))
	case <-done:
		select {
		case p := <-m.src.payloads():
			return m.more(append(batch, p))
		default:
			return batch
		}
	case <-stuck.C:
		m.cfg.Logger.Warn("the listening session did not answer a round trip; applying the batch as it is", "wait_seconds", syncStuck.Seconds())
		return batch
	}
}

// more takes what else is waiting, up to another batch.
func (m *machine) more(batch []string) []string { return m.take(batch, m.cfg.BatchSize) }

// take appends up to n payloads that are waiting, without waiting.
func (m *machine) take(batch []string, n int) []string {
	for range n {
		select {
		case p := <-m.src.payloads():
			batch = append(batch, p)
		default:
			return batch
		}
	}
	return batch
}
