package worker

import (
	"context"
	"errors"
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
// them (docs/architecture.md: "Capture modes: notify and queue"). It runs on its own
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
// writers that decided to queue (docs/architecture.md: "Capture modes").
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
