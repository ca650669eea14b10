package worker

import (
	"context"
	"time"

	"github.com/pgredis/pgredis/notify"
)

// drainChunk drains one chunk of about drainChunk rows; fewer means the
// queue held no more.
func (c *feed) drainChunk(ctx context.Context) ([]notify.Queued, error) {
	conn, err := c.drainer(ctx)
	if err != nil {
		return nil, err
	}
	return notify.Drain(ctx, conn, drainChunk)
}

// drainOnce drains one chunk and hands it on; it returns how many rows
// the chunk held.
func (c *feed) drainOnce(ctx context.Context) (int, error) {
	rows, err := c.drainChunk(ctx)
	if err != nil {
		return 0, err
	}
	for _, r := range rows {
		if err := c.emit(ctx, r.Payload); err != nil {
			return 0, err
		}
	}
	return len(rows), nil
}

// drainAll hands on everything queued now.
func (c *feed) drainAll(ctx context.Context) error {
	for {
		n, err := c.drainOnce(ctx)
		if err != nil || !wholeChunk(n) {
			return err
		}
	}
}

// poll drains in queue mode, then schedules the next drain.
func (c *feed) poll(ctx context.Context) error {
	if c.mode != capQueue {
		return nil
	}
	n, err := c.drainOnce(ctx)
	if err != nil {
		return err
	}
	c.schedule(nextDrain(n, c.cfg.CapturePoll))
	return nil
}

// nextDrain is how long after a drain of n rows the next one runs: at
// once while a drain takes a whole chunk (a backlog), else after poll. A
// drain costs about the same whether it takes ten rows or a thousand, and
// under load it runs on the writers' cores: draining back to back
// whatever the queue held took CPU from the writers for no lag gained
// (BENCHMARKS.md, issue 18).
func nextDrain(n int, poll time.Duration) time.Duration {
	if wholeChunk(n) {
		return 0
	}
	return poll
}

// wholeChunk says a drain of n rows may have left more behind; fewer than
// a chunk means it took everything queued.
func wholeChunk(n int) bool { return n >= drainChunk }

func (c *feed) schedule(d time.Duration) {
	if c.polling {
		c.pollT.Stop()
	}
	c.pollT.Reset(d)
	c.polling = true
}
