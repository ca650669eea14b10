package worker

import "time"

// Each committed transaction's changes reach Redis in one fenced script
// call, which Redis runs atomically (README: "Transactions and the
// barrier"). PostgreSQL queues a transaction's notifications together, at
// commit, in commit order, and sends them to the listener in one go; the
// worker flushes only where the transaction id changes.
const (
	// maxTxnKeys is the largest transaction (in keys written) applied in
	// one atomic step; a larger one is applied in parts of this size, and
	// its keys are exact once its last part is in.
	maxTxnKeys = 10000
	// flushAtKeys: at a transaction boundary, the writes of the finished
	// transactions are flushed once this many wait, so script calls stay
	// small and a transaction of up to maxTxnKeys fits in one.
	flushAtKeys = 1000
	// txnGrace is how long the worker waits for more of a transaction
	// whose last received notification ends a batch: the rest is on its
	// way (the server sent it in the same burst) unless the transaction
	// is complete. It costs this much lag only for a change that arrives
	// alone with nothing after it.
	txnGrace = 3 * time.Millisecond
)

// rest extends a batch whose last payload may not end its transaction:
// it waits up to txnGrace for the next payload, then takes what else is
// waiting, up to another batch.
func (m *machine) rest(batch []string) []string {
	t := time.NewTimer(txnGrace)
	defer t.Stop()
	select {
	case p := <-m.src.payloads():
		batch = append(batch, p)
	case <-t.C:
		return batch
	}
	for range m.cfg.BatchSize {
		select {
		case p := <-m.src.payloads():
			batch = append(batch, p)
		default:
			return batch
		}
	}
	return batch
}
