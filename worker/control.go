package worker

import (
	"fmt"
	"slices"
	"sort"

	"github.com/pgredis/pgredis/notify"
)

// controller keeps the control messages other pgredis processes send
// through the change channel, in order with the changes: resync requests
// (served between batches, each answered exactly once), heartbeats (which
// prove the changes before them reached Redis) and a one-shot resync's
// marker. What it holds is bounded: beats are handled after the batch
// they came in or dropped, requests are capped.
type controller struct {
	requests []*notify.Control
	beats    []*notify.Control
	mark     string // the one-shot resync's marker, if any
	marked   bool
	// barriers wait for the changes before them to reach Redis
	// (barrier.go); barrierSet holds the same ids.
	barriers   []string
	barrierSet map[string]bool
	// taken holds the ids of the last requests taken, oldest first: a
	// resync repeats a request until it is acknowledged (resync.go), and
	// a repeat must not be served twice.
	taken []string
}

// maxTaken bounds the request ids remembered for telling repeats.
const maxTaken = 256

// maxRequests caps the resync requests waiting for a worker busy with a
// long reconcile; more are refused at once, not queued without bound.
const maxRequests = 64

// add takes a control message; it returns a request it refuses.
func (c *controller) add(m *notify.Control) (refused *notify.Control) {
	switch m.Kind {
	case "mark":
		if c.mark != "" && m.ID == c.mark {
			c.marked = true
		}
	case "barrier":
		c.addBarriers([]string{m.ID})
	case "beat":
		// Only the last beat of a batch matters: it covers the others.
		c.beats = append(c.beats[:0], m)
	case "resync":
		if slices.Contains(c.taken, m.ID) {
			return nil
		}
		if len(c.requests) >= maxRequests {
			return m
		}
		c.requests = append(c.requests, m)
		if len(c.taken) == maxTaken {
			c.taken = slices.Delete(c.taken, 0, 1)
		}
		c.taken = append(c.taken, m.ID)
	}
	return nil
}

// takeBeats returns the beats seen since the last call.
func (c *controller) takeBeats() []*notify.Control {
	b := c.beats
	c.beats = nil
	return b
}

// dropBeats forgets beats whose changes did not reach Redis.
func (c *controller) dropBeats() { c.beats = nil }

// takeRequests returns the waiting resync requests.
func (c *controller) takeRequests() []*notify.Control {
	r := c.requests
	c.requests = nil
	return r
}

type replyMsg struct {
	// Accepted acknowledges a request as soon as the worker reads it, so
	// the requester can tell a busy worker from a deaf one.
	Accepted bool      `json:"accepted,omitempty"`
	Report   *Report   `json:"report,omitempty"`
	Progress *Progress `json:"progress,omitempty"`
	Error    string    `json:"error,omitempty"`
	Done     bool      `json:"done,omitempty"`
}

// pick resolves table names (all when none) to installed tables.
func pick(tables map[string]*table, names []string) ([]*table, error) {
	var all []*table
	for _, t := range tables {
		all = append(all, t)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Table.ID() < all[j].Table.ID() })
	if len(names) == 0 {
		return all, nil
	}
	// A name picks every entry of a table listed more than once.
	var out []*table
	for _, n := range names {
		found := false
		for _, t := range all {
			if t.Table.Named(n) && !slices.Contains(out, t) {
				out = append(out, t)
				found = true
			}
		}
		if !found && !slices.ContainsFunc(out, func(t *table) bool { return t.Table.Named(n) }) {
			return nil, fmt.Errorf("table %s is not synced", n)
		}
	}
	return out, nil
}
