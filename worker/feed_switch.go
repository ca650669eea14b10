package worker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/pgredis/pgredis/notify"
)

// sample looks at the load and switches when the decider says so.
func (c *feed) sample(ctx context.Context) error {
	if !c.enabled {
		return nil
	}
	waiters, err := notify.NotifyWaiters(ctx, c.pool)
	if err != nil {
		return err
	}
	var depth int64
	if c.mode != capNotify {
		if depth, err = notify.QueueDepth(ctx, c.pool); err != nil {
			return err
		}
	}
	c.cfg.Metrics.captureSampled(depth, waiters)
	if c.mode == capQueue && time.Since(c.vacuumed) >= time.Second {
		// Drained rows leave dead entries at the low end of the queue's
		// index, which every drain walks; autovacuum visits a database
		// once a minute at best. The owner's VACUUM removes them (another
		// role's only warns and skips).
		// It runs beside the drains; TRUNCATE false: truncating the
		// table's empty tail would take a lock the writers' inserts wait
		// for.
		c.vacuumed = time.Now()
		if c.vacuuming.CompareAndSwap(false, true) {
			go func() {
				defer c.vacuuming.Store(false)
				if _, err := c.pool.Exec(ctx, "VACUUM (SKIP_LOCKED, TRUNCATE false) pgredis.queue"); err != nil {
					c.cfg.Logger.Debug("cannot vacuum the capture queue", "error", err)
				}
			}()
		}
	}
	if c.mode == capToQueue && time.Since(c.started) > 10*time.Second {
		c.cfg.Logger.Warn("the switch to queue mode waits for transactions that notify (long-running ones?)", "waiting_seconds", time.Since(c.started).Seconds())
		c.started = time.Now()
	}
	if c.alternate > 0 {
		return nil
	}
	want := capNotify
	switch c.setting {
	case CaptureQueue:
		want = capQueue
	case CaptureNotify:
	default:
		if c.mode != capNotify && c.mode != capQueue {
			return nil
		}
		want = c.dec.decide(c.mode, sample{at: time.Now(), waiters: waiters, txns: c.txns})
	}
	return c.switchTo(ctx, want)
}

// flip alternates the mode (Config.CaptureAlternate, for tests).
func (c *feed) flip(ctx context.Context) error {
	switch c.mode {
	case capNotify:
		return c.switchTo(ctx, capQueue)
	case capQueue:
		return c.switchTo(ctx, capNotify)
	}
	return nil
}

// switchTo starts a switch to want, if it is not the mode in force.
func (c *feed) switchTo(ctx context.Context, want capMode) error {
	switch {
	case c.mode == capNotify && want == capQueue:
		c.startSwitch(capToQueue)
		// Writers measure the queue's bound from here.
		conn, err := c.drainer(ctx)
		if err != nil {
			return err
		}
		if _, err := notify.Drain(ctx, conn, 0); err != nil {
			return err
		}
		if err := c.dialLock(ctx); err != nil {
			return err
		}
		c.abort.Store(false)
		lconn := c.lockConn
		c.lockWait = true
		go func() {
			for {
				ok, err := notify.LockQueueMode(ctx, lconn)
				if ok || err != nil || c.abort.Load() {
					c.lockRes <- lockResult{ok: ok, err: err}
					return
				}
			}
		}()
	case c.mode == capQueue && want == capNotify:
		// Hand on what is queued now, so the wait below holds back less.
		if err := c.drainAll(ctx); err != nil {
			return err
		}
		c.startSwitch(capToNotify)
		if err := notify.UnlockQueueMode(ctx, c.lockConn); err != nil {
			return err
		}
		c.waitWriters(ctx)
	}
	return nil
}

func (c *feed) startSwitch(to capMode) {
	c.heldBytes, c.overflowed = 0, false
	if c.mode == capQueue {
		// Only a transaction handed on by notification may go on so:
		// what it appended was handed on from the queue, and what it
		// notifies now must wait for the merge.
		c.lastTx = 0
	}
	c.mode = to
	c.held, c.heldAny, c.mark = nil, false, ""
	c.started = time.Now()
	c.cfg.Metrics.captureMode(to.gauge())
	c.cfg.Logger.Debug("capture mode switching", "to", to.String())
}

// waitWriters waits, on its own goroutine, until every transaction that
// holds the writers' lock now has ended: the queue then holds all they
// appended. Only the holders seen now count, so new writers cannot
// starve it; it reads pg_locks and never requests the lock, so a writer
// waiting on a row lock cannot deadlock with it.
func (c *feed) waitWriters(ctx context.Context) {
	c.writersWait = true
	go func() {
		vx, err := notify.Writers(ctx, c.pool)
		for err == nil && len(vx) > 0 {
			var n int
			if n, err = notify.WritersLeft(ctx, c.pool, vx); err != nil || n == 0 {
				break
			}
			select {
			case <-ctx.Done():
				err = ctx.Err()
			case <-time.After(time.Millisecond):
			}
		}
		c.writers <- err
	}()
}

// locked: the queue-mode lock was granted (every notifying writer has
// ended), or the request failed.
func (c *feed) locked(ctx context.Context, r lockResult) error {
	if r.err != nil {
		return r.err
	}
	if c.mode != capToQueue || !r.ok {
		return nil
	}
	return c.sendMark(ctx)
}

// writersDone: every writer that decided to queue has ended.
func (c *feed) writersDone(ctx context.Context, err error) error {
	if err != nil {
		return err
	}
	if c.mode != capToNotify {
		return nil
	}
	return c.sendMark(ctx)
}

// sendMark sends the switch's marker through the channel: it is queued
// after every notification of the transactions that ended before, so once
// it arrives they all have.
func (c *feed) sendMark(ctx context.Context) error {
	c.mark = strconv.FormatUint(rand.Uint64(), 36)
	if _, err := c.pool.Exec(ctx, "SELECT pg_notify($1, $2)", notify.Channel, captureMark(c.mark)); err != nil {
		return fmt.Errorf("error sending the capture switch's marker: %w", err)
	}
	return nil
}

// switched: the marker came back. Everything the old mode captured is in
// hand: the notifications held and the queue; they go on merged.
func (c *feed) switched(ctx context.Context) error {
	var drained []notify.Queued
	for {
		rows, err := c.drainChunk(ctx)
		if err != nil {
			return err
		}
		drained = append(drained, rows...)
		if !wholeChunk(len(rows)) {
			break
		}
	}
	changes, controls := merge(c.held, drained)
	c.held = nil
	to := capQueue
	if c.mode == capToNotify {
		to = capNotify
	}
	c.mode, c.mark = to, ""
	c.cfg.Metrics.captureMode(to.gauge())
	c.cfg.Metrics.captureSwitched(to)
	c.cfg.Logger.Debug("capture mode switched", "to", to.String(), "held", len(changes)+len(controls), "seconds", time.Since(c.started).Seconds())
	for _, p := range append(changes, controls...) {
		if err := c.emit(ctx, p); err != nil {
			return err
		}
	}
	if to == capQueue {
		c.schedule(0)
	}
	return nil
}

// doReset is reset's work, on the capture's goroutine.
func (c *feed) doReset(ctx context.Context) error {
	c.abort.Store(true)
	if c.lockWait {
		// The lock request ends within its lock_timeout.
		c.lockWait = false
		select {
		case r := <-c.lockRes:
			if r.err != nil {
				return r.err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := c.writersEnded(ctx); err != nil {
		return err
	}
	c.closeLock()
	if c.polling {
		c.pollT.Stop()
		c.polling = false
	}
	// What the apply loop has not taken yet and what a switch held are
	// dropped with the queue, but for control messages: they are kept (in
	// order) for the loop.
	var keep []string
	for {
		select {
		case p := <-c.out:
			if strings.HasPrefix(p, "c1 ") {
				keep = append(keep, p)
			}
			continue
		default:
		}
		break
	}
	for _, p := range c.held {
		if strings.HasPrefix(p, "c1 ") && !c.isMark(p) {
			keep = append(keep, p)
		}
	}
	if c.overflowed {
		// Not straight back into a switch the burst would overflow again.
		c.dec.quietUntil = time.Now().Add(30 * time.Second)
	}
	c.mode, c.held, c.heldAny, c.mark = capNotify, nil, false, ""
	c.heldBytes, c.overflowed = 0, false
	c.cfg.Metrics.captureMode(0)
	if c.enabled {
		// The queue-mode lock may still be held by a worker that lost its
		// session without noticing (its connection ends within the
		// keepalive timeout); until then writers queue.
		for {
			held, err := notify.QueueModeHeld(ctx, c.pool)
			if err != nil {
				return err
			}
			if !held {
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
		c.waitWriters(ctx)
		if err := c.writersEnded(ctx); err != nil {
			return err
		}
		n, err := notify.DiscardQueue(ctx, c.pool)
		if err != nil {
			return err
		}
		if n > 0 {
			c.cfg.Logger.Info("discarded the capture queue: the reconcile that follows covers it", "rows", n)
		}
	}
	go func() {
		// The loop reads them once the claim is done.
		for _, p := range keep {
			select {
			case c.out <- p:
			case <-ctx.Done():
				return
			}
		}
	}()
	return nil
}

// writersEnded waits for a writers' wait in flight.
func (c *feed) writersEnded(ctx context.Context) error {
	if !c.writersWait {
		return nil
	}
	c.writersWait = false
	select {
	case err := <-c.writers:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// dialLock opens the connection that holds the queue-mode lock. Its lock
// requests time out after a second, so a reset is never kept waiting
// long; shorter, a request could time out again and again while 32
// notifying commits queue for the notify lock ahead of it.
func (c *feed) dialLock(ctx context.Context) error {
	if c.lockConn != nil && !c.lockConn.IsClosed() {
		return nil
	}
	cfg := c.lockCfg.Copy()
	cfg.RuntimeParams["lock_timeout"] = "1000"
	cfg.RuntimeParams["application_name"] = c.cfg.ApplicationName + " capture"
	conn, err := notify.DialConn(ctx, cfg)
	if err != nil {
		return err
	}
	c.lockConn = conn
	return nil
}
