package notify

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Channel carries every change notification and control message.
const Channel = "pgredis"

// ReplyChannel carries a worker's answers to control requests (resync).
const ReplyChannel = "pgredis_reply"

// Op is what one change does to Redis.
type Op byte

const (
	// OpSet writes Key with Value.
	OpSet Op = 'S'
	// OpDelete deletes Key.
	OpDelete Op = 'D'
	// OpFetch names a row too large for a notification by its key
	// columns' text values (Args); the worker reads the row itself.
	OpFetch Op = 'R'
	// OpTruncate deletes every key of the table.
	OpTruncate Op = 'T'
	// OpReconcile asks for a reconcile of the table: the trigger could not
	// describe the change (Value holds the reason, possibly empty).
	OpReconcile Op = 'X'
)

// Change is one decoded entry of a change notification. Strings share
// memory with the payload.
type Change struct {
	Op    Op
	Key   string
	Value string
	Args  []string
}

// Message is a decoded notification: either changes of one table, or a
// control message.
type Message struct {
	// Version identifies the installed spec of the table whose trigger sent it.
	Version string
	// Seq makes every notification of a transaction distinct, which
	// PostgreSQL needs to deliver a row that goes A -> B -> A as three.
	Seq int64
	// Stamp is clock_timestamp() when the trigger ran.
	Stamp time.Time
	// Txid is the sending transaction's id (txid_current()); 0 in a
	// payload of the older format "p1", which has none.
	Txid    int64
	Changes []Change

	Control *Control
}

// Control is a message between pgredis processes, sent on Channel so it is
// ordered with the changes around it.
type Control struct {
	Kind   string // "resync", "mark" or "beat"
	ID     string
	DryRun bool
	Tables []string
}

// Encode renders a control message as a payload.
func (c Control) Encode() string {
	dry := "0"
	if c.DryRun {
		dry = "1"
	}
	return strings.Join(append([]string{"c1", c.Kind, c.ID, dry}, c.Tables...), " ")
}

var errShort = errors.New("truncated payload")

// Decode parses a payload sent by a pgredis trigger or process.
//
// A change payload is a header line "p2 VERSION SEQ MICROS TXID" (or
// "p1 VERSION SEQ MICROS", from triggers older than the transaction id)
// followed by entries, each an op byte and length-prefixed fields:
//
//	S<len>:<key><len>:<value>   set
//	D<len>:<key>                delete
//	R<n>:<len>:<v1>...          fetch the row with these key column values
//	T                           truncate
//	X<len>:<reason>             reconcile the table
//
// Lengths are byte counts, so keys and values may hold any byte.
func Decode(payload string) (Message, error) {
	if strings.HasPrefix(payload, "c1 ") {
		f := strings.Fields(payload)
		if len(f) < 4 || (f[3] != "0" && f[3] != "1") {
			return Message{}, fmt.Errorf("malformed control message")
		}
		return Message{Control: &Control{Kind: f[1], ID: f[2], DryRun: f[3] == "1", Tables: f[4:]}}, nil
	}
	header, body, ok := strings.Cut(payload, "\n")
	if !ok {
		return Message{}, fmt.Errorf("payload has no header line")
	}
	h := strings.Split(header, " ")
	if !(len(h) == 4 && h[0] == "p1") && !(len(h) == 5 && h[0] == "p2") {
		return Message{}, fmt.Errorf("unknown payload header %.40q", header)
	}
	var m Message
	var err error
	if len(h) == 5 {
		if m.Txid, err = strconv.ParseInt(h[4], 10, 64); err != nil || m.Txid <= 0 {
			return Message{}, fmt.Errorf("payload transaction id %q", h[4])
		}
	}
	m.Version = h[1]
	if m.Version == "" {
		return Message{}, fmt.Errorf("payload header has an empty version")
	}
	if m.Seq, err = strconv.ParseInt(h[2], 10, 64); err != nil {
		return Message{}, fmt.Errorf("payload sequence: %w", err)
	}
	micros, err := strconv.ParseInt(h[3], 10, 64)
	if err != nil {
		return Message{}, fmt.Errorf("payload stamp: %w", err)
	}
	m.Stamp = time.UnixMicro(micros)
	for len(body) > 0 {
		c := Change{Op: Op(body[0])}
		body = body[1:]
		switch c.Op {
		case OpSet:
			if c.Key, body, err = field(body); err == nil {
				c.Value, body, err = field(body)
			}
		case OpDelete:
			c.Key, body, err = field(body)
		case OpReconcile:
			c.Value, body, err = field(body)
		case OpTruncate:
		case OpFetch:
			var n int
			if n, body, err = length(body); err == nil && n > len(body) {
				err = errShort
			}
			for i := 0; i < n && err == nil; i++ {
				var a string
				a, body, err = field(body)
				c.Args = append(c.Args, a)
			}
			if err == nil && n == 0 {
				err = fmt.Errorf("fetch entry without key columns")
			}
		default:
			return Message{}, fmt.Errorf("unknown entry op %q", byte(c.Op))
		}
		if err != nil {
			return Message{}, fmt.Errorf("entry %d (%c): %w", len(m.Changes), byte(c.Op), err)
		}
		m.Changes = append(m.Changes, c)
	}
	if len(m.Changes) == 0 {
		return Message{}, fmt.Errorf("payload has no entries")
	}
	return m, nil
}

// field reads "<len>:<bytes>".
func field(s string) (string, string, error) {
	n, rest, err := length(s)
	if err != nil {
		return "", "", err
	}
	if n > len(rest) {
		return "", "", errShort
	}
	return rest[:n], rest[n:], nil
}

// length reads "<decimal>:".
func length(s string) (int, string, error) {
	i := strings.IndexByte(s, ':')
	if i <= 0 || i > 9 {
		return 0, "", fmt.Errorf("bad length prefix")
	}
	n, err := strconv.Atoi(s[:i])
	if err != nil || n < 0 {
		return 0, "", fmt.Errorf("bad length prefix %q", s[:i])
	}
	return n, s[i+1:], nil
}
