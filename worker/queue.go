package worker

import (
	"sort"
	"strings"
	"time"

	"github.com/pgredis/pgredis/notify"
)

// capMode is the capture mode: how the triggers send their payloads
// (docs/architecture.md: "Capture modes: notify and queue").
type capMode int

const (
	// capNotify: the queue-mode lock is free, the triggers pg_notify.
	capNotify capMode = iota
	// capToQueue: the worker waits for the lock; new writers queue, the
	// notifying ones finish.
	capToQueue
	// capQueue: the worker holds the lock and drains the queue.
	capQueue
	// capToNotify: the lock is released; the worker waits for the writers
	// that decided to queue before.
	capToNotify
)

func (c capMode) String() string {
	return [...]string{"notify", "to-queue", "queue", "to-notify"}[c]
}

// gauge is the mode as pgredis_capture_mode shows it.
func (c capMode) gauge() float64 {
	switch c {
	case capQueue:
		return 1
	case capNotify:
		return 0
	}
	return 0.5
}

// The capture settings (Config.Capture).
const (
	CaptureAuto   = "auto"
	CaptureNotify = "notify"
	CaptureQueue  = "queue"
)

// Switch thresholds of the automatic capture mode. Notifying commits
// contend when backends wait for the notify lock: one waiting on average
// over a second already means commits run one at a time. Back in notify
// mode the commits would contend again if the rate were high, so the
// worker goes back only once fewer than notifyRate transactions a second
// were queued for a while, and never sooner than minQueue after it came.
const (
	queueWaiters = 1.0
	waiterWindow = 4
	notifyRate   = 300.0
	lowFor       = 5 * time.Second
	minQueue     = 10 * time.Second
)

// sample is one look at the load.
type sample struct {
	at time.Time
	// waiters on the notify lock (pg_locks).
	waiters int
	// txns is how many transactions the worker has received in all (a
	// running count).
	txns int64
}

// decider chooses the capture mode from samples (automatic mode), with
// hysteresis: it switches to queue when commits contend on the notify
// lock, back to notify when the rate stayed low for a while.
type decider struct {
	waiters []int
	last    sample
	since   time.Time // entered the current mode
	lowAt   time.Time // the rate has been low since (zero: it is not)
	// quietUntil keeps notify mode after a switch overflowed.
	quietUntil time.Time
}

// decide returns the mode wanted after s, given the mode in force.
func (d *decider) decide(cur capMode, s sample) capMode {
	prev := d.last
	d.last = s
	if d.since.IsZero() {
		d.since = s.at
	}
	switch cur {
	case capNotify:
		d.lowAt = time.Time{}
		if s.at.Before(d.quietUntil) {
			d.waiters = d.waiters[:0]
			return capNotify
		}
		d.waiters = append(d.waiters, s.waiters)
		if len(d.waiters) > waiterWindow {
			d.waiters = d.waiters[1:]
		}
		if len(d.waiters) < waiterWindow {
			return capNotify
		}
		sum := 0
		for _, w := range d.waiters {
			sum += w
		}
		if float64(sum)/float64(len(d.waiters)) >= queueWaiters {
			return d.enter(capQueue, s.at)
		}
	case capQueue:
		d.waiters = d.waiters[:0]
		if prev.at.IsZero() || !s.at.After(prev.at) {
			return capQueue
		}
		rate := float64(s.txns-prev.txns) / s.at.Sub(prev.at).Seconds()
		if rate >= notifyRate {
			d.lowAt = time.Time{}
			return capQueue
		}
		if d.lowAt.IsZero() {
			d.lowAt = s.at
		}
		if s.at.Sub(d.lowAt) >= lowFor && s.at.Sub(d.since) >= minQueue {
			return d.enter(capNotify, s.at)
		}
	}
	return cur
}

func (d *decider) enter(m capMode, at time.Time) capMode {
	d.since, d.lowAt, d.waiters = at, time.Time{}, d.waiters[:0]
	return m
}

// merge orders what a switch collected: the notifications held while it
// ran (in arrival order) and the queue rows drained once it was done
// (in drain order). Each transaction's payloads stay together, its queue
// rows first (a transaction that straddled a switch to notify appended
// before it notified), and the transactions go in the order of their last
// sequence number. That order is the per-key commit order: a transaction
// that wrote a key after another committed drew its sequence number for
// it after every one the other drew. Control messages follow the changes,
// in arrival order: a barrier among them is answered only after every
// change before it.
func merge(held []string, drained []notify.Queued) (changes, controls []string) {
	type group struct {
		last    int64
		first   int // arrival, to keep the sort stable
		queued  []string
		notices []string
	}
	groups := map[int64]*group{}
	var order []*group
	get := func(txid, seq int64) *group {
		g := groups[txid]
		if g == nil {
			g = &group{last: seq, first: len(order)}
			groups[txid] = g
			order = append(order, g)
		}
		g.last = max(g.last, seq)
		return g
	}
	for _, q := range drained {
		_, txid, ok := notify.Header(q.Payload)
		if !ok {
			// Not a pgredis payload: the apply loop reports it.
			changes = append(changes, q.Payload)
			continue
		}
		g := get(txid, q.LastSeq)
		g.queued = append(g.queued, q.Payload)
	}
	for _, p := range held {
		if strings.HasPrefix(p, "c1 ") {
			controls = append(controls, p)
			continue
		}
		seq, txid, ok := notify.Header(p)
		if !ok {
			changes = append(changes, p)
			continue
		}
		g := get(txid, seq)
		g.notices = append(g.notices, p)
	}
	sort.SliceStable(order, func(i, j int) bool {
		if order[i].last != order[j].last {
			return order[i].last < order[j].last
		}
		return order[i].first < order[j].first
	})
	for _, g := range order {
		changes = append(changes, g.queued...)
		changes = append(changes, g.notices...)
	}
	return changes, controls
}
