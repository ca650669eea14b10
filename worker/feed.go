package worker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgredis/pgredis/notify"
)

// feed sits between the listening session and the apply loop: it hands
// the loop one ordered stream of payloads, from notifications in notify
// mode and from the queue in queue mode, and runs the switches between
// them (README: "Capture modes: notify and queue"). It runs on its own
// goroutine, so the loop applies while a switch waits for writers.
type feed struct {
	cfg  *Config
	pool *pgxpool.Pool
	sess *notify.Session
	// lockCfg dials lockConn, the connection that holds the queue-mode
	// lock (the listening session cannot: it waits for notifications).
	lockCfg  *pgx.ConnConfig
	lockConn *pgx.Conn
	// drainConn is the feed's own connection for its statements on the
	// queue: the pool's few connections serve the audit, heartbeats and
	// reconciles, and a drain must not wait for them.
	drainConn *pgx.Conn
	// enabled: the queue exists and this role may drain it; setting is
	// Config.Capture; alternate is Config.CaptureAlternate (tests).
	enabled   bool
	setting   string
	alternate time.Duration

	out    chan string
	failed chan error
	// stopped is closed when run returned.
	stopped chan struct{}

	syncMu sync.Mutex
	syncs  []chan struct{}
	// ended: run returned; a sync is answered at once (nothing more will
	// come), as the session answers one once it stops receiving.
	ended    bool
	syncSig  chan struct{}
	waiting  []syncWait
	resetReq chan chan error

	mode capMode
	dec  decider
	txns int64 // transactions received, for the decider
	// lastTx is the transaction of the last payload handed on in notify
	// mode (0 after a control message): its remaining notifications are
	// still handed on when a switch starts, so it is applied whole.
	lastTx int64
	// A switch's state: held notifications, its marker, the lock request
	// or writers' wait in flight.
	held    []string
	heldAny bool
	// heldBytes bounds what a switch holds (maxHeld); past it the switch
	// is overflowed: changes are dropped and a rebuild is asked for.
	heldBytes  int
	overflowed bool
	mark       string
	lockRes    chan lockResult
	abort      atomic.Bool
	writers    chan error
	// lockWait and writersWait: a lock request or a writers' wait is in
	// flight (its result comes on lockRes or writers).
	lockWait    bool
	writersWait bool
	started     time.Time
	pollT       *time.Timer
	polling     bool
	vacuumed    time.Time
	vacuuming   atomic.Bool
	resetNow    chan error
}

type syncWait struct {
	sess  <-chan struct{}
	reply []chan struct{}
}

type lockResult struct {
	ok  bool
	err error
}

// maxHeld bounds the notifications a switch holds in memory.
const maxHeld = 16 << 20

// drainChunk is about how many rows one drain takes (whole transactions:
// it may take more).
const drainChunk = 2000

// errReset abandons what the capture was doing for a claim's reset.
var errReset = errors.New("capture reset")

func newFeed(cfg *Config, pool *pgxpool.Pool, sess *notify.Session, lockCfg *pgx.ConnConfig) *feed {
	c := &feed{
		cfg: cfg, pool: pool, sess: sess, lockCfg: lockCfg,
		setting: cfg.Capture, alternate: cfg.CaptureAlternate,
		out:      make(chan string, 256),
		failed:   make(chan error, 1),
		stopped:  make(chan struct{}),
		syncSig:  make(chan struct{}, 1),
		resetReq: make(chan chan error),
		lockRes:  make(chan lockResult, 1),
		writers:  make(chan error, 1),
		pollT:    time.NewTimer(time.Hour),
	}
	c.pollT.Stop()
	return c
}

// payloads is the ordered stream the apply loop reads.
func (c *feed) payloads() <-chan string { return c.out }

// sync yields once every payload PostgreSQL sent before the call (and,
// in queue mode, every transaction begun) is in payloads.
func (c *feed) sync() <-chan struct{} {
	done := make(chan struct{})
	c.syncMu.Lock()
	if c.ended {
		c.syncMu.Unlock()
		close(done)
		return done
	}
	c.syncs = append(c.syncs, done)
	c.syncMu.Unlock()
	select {
	case c.syncSig <- struct{}{}:
	default:
	}
	return done
}

// reset brings the capture back to notify mode with an empty queue and
// nothing in flight, for a claim: whatever was queued or held is older
// than the reconcile that follows, which covers it. It waits for the
// writers that decided to queue (README: "Capture modes").
func (c *feed) reset(ctx context.Context) error {
	r := make(chan error, 1)
	select {
	case c.resetReq <- r:
	case <-c.stopped:
		return errors.New("the capture stopped")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run is the capture's goroutine; it ends with ctx or a PostgreSQL
// failure (sent on failed).
func (c *feed) run(ctx context.Context) {
	defer close(c.stopped)
	// The apply loop may wait on a sync (machine.rest): answer every one
	// asked, or it would wait for syncStuck (30 s) and hold a Stop up.
	defer c.endSyncs()
	defer func() {
		if c.lockWait {
			// The request ends with ctx; the connection is not safe for
			// two goroutines.
			<-c.lockRes
		}
		c.closeLock()
		if c.drainConn != nil {
			cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = c.drainConn.Close(cctx)
		}
	}()
	if c.setting != CaptureNotify {
		ok, err := notify.CanQueue(ctx, c.pool)
		switch {
		case err != nil:
			c.fail(err)
			return
		case !ok:
			c.cfg.Logger.Warn("the capture queue is missing or this worker's role may not drain it, so changes always travel by notification: run pgredis migrate up, or GRANT EXECUTE ON FUNCTION pgredis.drain(integer), pgredis.discard_queue() to the worker's role")
		default:
			c.enabled = true
		}
	}
	c.cfg.Metrics.captureMode(0)
	tick := time.NewTicker(c.cfg.CaptureSample)
	defer tick.Stop()
	var flip <-chan time.Time
	if c.alternate > 0 && c.enabled {
		t := time.NewTicker(c.alternate)
		defer t.Stop()
		flip = t.C
	}
	for {
		var syncC <-chan struct{}
		if len(c.waiting) > 0 {
			syncC = c.waiting[0].sess
		}
		var err error
		select {
		case <-ctx.Done():
			return
		case p := <-c.sess.Payloads():
			err = c.notification(ctx, p)
		case <-c.syncSig:
			err = c.syncRequested(ctx)
		case <-syncC:
			err = c.synced(ctx)
		case r := <-c.lockRes:
			c.lockWait = false
			err = c.locked(ctx, r)
		case werr := <-c.writers:
			c.writersWait = false
			err = c.writersDone(ctx, werr)
		case <-c.pollT.C:
			c.polling = false
			err = c.poll(ctx)
		case <-tick.C:
			err = c.sample(ctx)
		case <-flip:
			err = c.flip(ctx)
		case r := <-c.resetReq:
			r <- c.doReset(ctx)
			continue
		}
		for errors.Is(err, errReset) {
			// A claim asked for a reset while the capture handed on.
			r := c.resetNow
			c.resetNow = nil
			err = c.doReset(ctx)
			r <- err
		}
		if err != nil {
			if ctx.Err() == nil {
				c.fail(err)
			}
			return
		}
	}
}

func (c *feed) fail(err error) {
	select {
	case c.failed <- err:
	default:
	}
}

// emit hands one payload on; a reset asked meanwhile abandons it.
func (c *feed) emit(ctx context.Context, p string) error {
	if _, txid, ok := notify.Header(p); ok {
		if txid != c.lastTx {
			c.txns++
		}
		c.lastTx = txid
	} else {
		c.lastTx = 0
	}
	select {
	case c.out <- p:
		return nil
	case r := <-c.resetReq:
		c.resetNow = r
		return errReset
	case <-ctx.Done():
		return ctx.Err()
	}
}

// notification takes one notification by the mode in force.
func (c *feed) notification(ctx context.Context, p string) error {
	switch c.mode {
	case capNotify:
		return c.emit(ctx, p)
	case capQueue:
		if c.isMark(p) {
			return nil
		}
		// A control message (a barrier, a resync's marker) or the rare
		// change that still notifies (a failed trigger's reconcile
		// request): everything committed before it is in the queue.
		if err := c.drainAll(ctx); err != nil {
			return err
		}
		return c.emit(ctx, p)
	}
	// Switching.
	if c.isMark(p) {
		return c.switched(ctx)
	}
	_, txid, ok := notify.Header(p)
	if ok && !c.heldAny && txid == c.lastTx {
		// The rest of a transaction handed on in part before the switch.
		return c.emit(ctx, p)
	}
	c.heldAny = true
	control := strings.HasPrefix(p, "c1 ")
	if c.overflowed && !control {
		// The rebuild asked for covers it.
		return nil
	}
	c.held = append(c.held, p)
	c.heldBytes += len(p)
	if c.heldBytes > maxHeld && !c.overflowed {
		// A burst arrived while the switch waits: rather than hold it
		// all, drop the changes held and rebuild the mirror, which
		// resets the capture to notify mode.
		c.overflowed = true
		c.cfg.Logger.Warn("a burst of changes arrived while the capture mode switched; rebuilding the mirror instead of holding it", "held_bytes", c.heldBytes)
		var keep []string
		for _, h := range c.held {
			if strings.HasPrefix(h, "c1 ") {
				keep = append(keep, h)
			}
		}
		c.held, c.heldBytes = keep, 0
		return c.emit(ctx, "c1 overflow - 0")
	}
	return nil
}

func (c *feed) isMark(p string) bool {
	return c.mark != "" && p == captureMark(c.mark)
}

func captureMark(id string) string { return "c1 capture " + id + " 0" }

// endSyncs answers every sync asked and every one asked later.
func (c *feed) endSyncs() {
	c.syncMu.Lock()
	c.ended = true
	for _, d := range c.syncs {
		close(d)
	}
	c.syncs = nil
	c.syncMu.Unlock()
	for _, w := range c.waiting {
		for _, r := range w.reply {
			close(r)
		}
	}
	c.waiting = nil
}

// syncRequested starts a round trip on the listening session for the
// syncs asked.
func (c *feed) syncRequested(context.Context) error {
	c.syncMu.Lock()
	reply := c.syncs
	c.syncs = nil
	c.syncMu.Unlock()
	if c.mode == capQueue {
		// Between two chunks: every transaction handed on is whole.
		for _, r := range reply {
			close(r)
		}
		return nil
	}
	if len(reply) > 0 {
		c.waiting = append(c.waiting, syncWait{sess: c.sess.Sync(), reply: reply})
	}
	return nil
}

// synced: every notification sent before the round trip is in the
// session's channel; take them, then answer.
func (c *feed) synced(ctx context.Context) error {
	w := c.waiting[0]
	c.waiting = c.waiting[1:]
	for {
		select {
		case p := <-c.sess.Payloads():
			if err := c.notification(ctx, p); err != nil {
				return err
			}
			continue
		default:
		}
		break
	}
	for _, r := range w.reply {
		close(r)
	}
	return nil
}

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
		rows, n, err := c.drainChunk(ctx)
		if err != nil {
			return err
		}
		drained = append(drained, rows...)
		if n < drainChunk {
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

// drainAll hands on everything queued now.
func (c *feed) drainAll(ctx context.Context) error {
	for {
		rows, n, err := c.drainChunk(ctx)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if err := c.emit(ctx, r.Payload); err != nil {
				return err
			}
		}
		if n < drainChunk {
			return nil
		}
	}
}

// poll drains in queue mode: at once again while there is work, after
// CapturePoll when the queue was empty.
func (c *feed) poll(ctx context.Context) error {
	if c.mode != capQueue {
		return nil
	}
	rows, n, err := c.drainChunk(ctx)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if err := c.emit(ctx, r.Payload); err != nil {
			return err
		}
	}
	if n > 0 {
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

// drainer returns the feed's connection for draining, dialled at first use.
func (c *feed) drainer(ctx context.Context) (*pgx.Conn, error) {
	if c.drainConn != nil && !c.drainConn.IsClosed() {
		return c.drainConn, nil
	}
	cfg := c.lockCfg.Copy()
	cfg.RuntimeParams["application_name"] = c.cfg.ApplicationName + " drain"
	conn, err := notify.DialConn(ctx, cfg)
	if err != nil {
		return nil, err
	}
	c.drainConn = conn
	return conn, nil
}

// closeLock ends the lock's connection, which releases the lock.
func (c *feed) closeLock() {
	if c.lockConn == nil {
		return
	}
	cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = c.lockConn.Close(cctx)
	c.lockConn = nil
}
