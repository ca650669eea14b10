package worker

import (
	"context"
	"time"

	"github.com/pgredis/pgredis/notify"
)

// drainChunk drains one chunk of about drainChunk rows; fewer means the
// queue held no more.
func (c *feed) drainChunk(ctx context.Context) ([]notify.Queued, int, error) {
	conn, err := c.drainer(ctx)
	if err != nil {
		return nil, 0, err
	}
	rows, err := notify.Drain(ctx, conn, drainChunk)
	if err != nil {
		return nil, 0, err
	}
	return rows, len(rows), nil
}

// drainOnce drains one chunk and hands it on; it returns how many rows
// the chunk held.
func (c *feed) drainOnce(ctx context.Context) (int, error) {
	rows, n, err := c.drainChunk(ctx)
	if err != nil {
		return 0, err
	}
	for _, r := range rows {
		if err := c.emit(ctx, r.Payload); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// drainAll hands on everything queued now.
func (c *feed) drainAll(ctx context.Context) error {
	for {
		n, err := c.drainOnce(ctx)
		if err != nil || n < drainChunk {
			return err
		}
	}
}

// poll drains in queue mode: at once again while a drain takes a whole
// chunk (a backlog), else after CapturePoll. A drain costs about the same
// whether it takes ten rows or a thousand, and under load it runs on the
// writers' cores: draining back to back whatever the queue held took
// CPU from the writers for no lag gained (BENCHMARKS.md, issue 18).
func (c *feed) poll(ctx context.Context) error {
	if c.mode != capQueue {
		return nil
	}
	n, err := c.drainOnce(ctx)
	if err != nil {
		return err
	}
	if n >= drainChunk {
		c.schedule(0)
	} else {
		c.schedule(c.cfg.CapturePoll)
	}
	return nil
}

func (c *feed) schedule(d time.Duration) {
	if c.polling {
		c.pollT.Stop()
	}
	c.pollT.Reset(d)
	c.polling = true
}
