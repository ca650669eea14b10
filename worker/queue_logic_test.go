package worker

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pgredis/pgredis/notify"
)

// The automatic capture mode: queue once commits wait for the notify lock
// over a whole window, back to notify only after the rate stayed low for
// lowFor and never sooner than minQueue.
func TestCaptureDecider(t *testing.T) {
	t0 := time.Unix(1000, 0)
	step := 250 * time.Millisecond
	var d decider
	cur := capNotify
	var txns int64
	at := t0
	feed := func(waiters int, rate float64, n int) {
		t.Helper()
		for range n {
			at = at.Add(step)
			txns += int64(rate * step.Seconds())
			cur = d.decide(cur, sample{at: at, waiters: waiters, txns: txns})
		}
	}
	// Light load, a waiter now and then: stays notify.
	feed(0, 100, 20)
	feed(2, 100, 1)
	feed(0, 100, 3)
	if cur != capNotify {
		t.Fatalf("a single waiter sample switched to %v", cur)
	}
	// Contention for a whole window: queue.
	feed(3, 5000, 4)
	if cur != capQueue {
		t.Fatalf("contended notify lock: mode %v, want queue", cur)
	}
	switched := at
	// The rate falls at once: still queue until minQueue and lowFor passed.
	feed(0, 10, 4*5)
	if cur != capQueue {
		t.Fatalf("back to notify after %v, before minQueue", at.Sub(switched))
	}
	// A burst resets the low period.
	feed(0, 10, 4*4)
	feed(0, 5000, 1)
	feed(0, 10, 4*4)
	if cur != capQueue {
		t.Fatalf("a burst did not reset the low period")
	}
	feed(0, 10, 4*2)
	if cur != capNotify {
		t.Fatalf("low rate for long: mode %v, want notify", cur)
	}
	// Contention again: queue again.
	feed(2, 3000, 4)
	if cur != capQueue {
		t.Fatalf("contended again: mode %v, want queue", cur)
	}
}

func payload(seq, txid int64, body string) string {
	return fmt.Sprintf("p2 v %d 0 %d\n%s", seq, txid, body)
}

// merge keeps each transaction whole, orders transactions by their last
// sequence number (a writer that waited for another's row lock drew a
// larger one), puts a transaction's queued rows before what it notified,
// and control messages last.
func TestCaptureMerge(t *testing.T) {
	held := []string{
		payload(5, 100, "a"),
		"c1 barrier b1 0",
		payload(9, 101, "b"),
		payload(12, 103, "d2"),
		payload(4, 104, "e"),
	}
	drained := []notify.Queued{
		{LastSeq: 7, ID: 1, Payload: payload(3, 102, "c1")},
		{LastSeq: 7, ID: 2, Payload: payload(7, 102, "c2")},
		{LastSeq: 12, ID: 3, Payload: payload(11, 103, "d1")},
	}
	changes, controls := merge(held, drained)
	var got []string
	for _, p := range changes {
		_, body, _ := cutHeader(p)
		got = append(got, body)
	}
	want := []string{"e", "a", "c1", "c2", "b", "d1", "d2"}
	if !slices.Equal(got, want) {
		t.Fatalf("merged %v, want %v", got, want)
	}
	if !slices.Equal(controls, []string{"c1 barrier b1 0"}) {
		t.Fatalf("controls %v", controls)
	}
}

func cutHeader(p string) (string, string, bool) {
	for i := range p {
		if p[i] == '\n' {
			return p[:i], p[i+1:], true
		}
	}
	return p, "", false
}

func TestPayloadHeader(t *testing.T) {
	seq, txid, ok := notify.Header(payload(42, 7, "x"))
	if !ok || seq != 42 || txid != 7 {
		t.Fatalf("Header = %d %d %v", seq, txid, ok)
	}
	for _, p := range []string{"c1 beat x 0", "p1 v 1 2\nx", "p2 v 1 2 0\nx", "p2 v x 2 3\nx"} {
		if _, _, ok := notify.Header(p); ok {
			t.Fatalf("Header(%q) ok", p)
		}
	}
}

// Once the capture's goroutine ended, the apply loop's syncs are answered:
// the ones asked before (pending or in a round trip) and any asked later.
// Unanswered, machine.rest would wait syncStuck and hold a Stop up.
func TestFeedEndAnswersSyncs(t *testing.T) {
	c := &feed{syncSig: make(chan struct{}, 1)}
	pending := c.sync()
	inTrip := make(chan struct{})
	c.waiting = []syncWait{{reply: []chan struct{}{inTrip}}}
	c.endSyncs()
	late := c.sync()
	for name, ch := range map[string]<-chan struct{}{"pending": pending, "in a round trip": inTrip, "asked later": late} {
		select {
		case <-ch:
		default:
			t.Errorf("the sync %s was not answered", name)
		}
	}
}

// Queue mode drains again at once only after a whole chunk; a partial
// chunk means the queue is caught up, and the next drain waits CapturePoll
// so back-to-back drains do not take the writers' cores.
func TestNextDrain(t *testing.T) {
	t.Parallel()
	poll := 2 * time.Millisecond
	for _, c := range []struct {
		n    int
		want time.Duration
	}{
		{0, poll},
		{1, poll},
		{drainChunk - 1, poll},
		{drainChunk, 0},
		{drainChunk + 500, 0}, // whole transactions: a drain may take more
	} {
		if got := nextDrain(c.n, poll); got != c.want {
			t.Errorf("nextDrain(%d, %v) = %v, want %v", c.n, poll, got, c.want)
		}
	}
}
