package notify

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// LockKey is the advisory lock the active worker holds on its listening
// session, so holding the lock and listening live and die together.
const LockKey int64 = 0x7067726564697321 // "pgredis!"

// Session is the dedicated PostgreSQL connection of a worker: it holds the
// worker lock and LISTENs. It must never sit inside a transaction, or
// PostgreSQL holds back every notification (and stops cleaning its queue).
type Session struct {
	conn    *pgx.Conn
	pid     uint32 // the backend's, asked of it: a pooler sends a PID of its own
	payload chan string
	done    chan struct{}
	// progress counts notifications read off the connection and waiting is
	// set while one waits for room in payload: Receive tells a session held
	// back by a busy consumer from a dead one by them.
	progress atomic.Int64
	waiting  atomic.Bool

	stopReceive context.CancelFunc
	received    chan struct{} // closed when the Receive of Go returned

	// syncs are Sync's waiters; interrupt ends Receive's current wait for
	// them; ended is set once Receive returned (Sync answers at once).
	syncMu    sync.Mutex
	syncs     []chan struct{}
	interrupt context.CancelFunc
	ended     bool
}

// Sync returns a channel closed once every notification the server sent
// before the call has been handed to Payloads: Receive makes a round trip
// on the session, and the server writes out everything it started sending
// before it reads the request. The worker uses it to know a transaction
// it received part of is complete. The channel is closed at once when
// the session no longer receives (nothing more will come).
func (s *Session) Sync() <-chan struct{} {
	done := make(chan struct{})
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if s.ended {
		close(done)
		return done
	}
	s.syncs = append(s.syncs, done)
	if s.interrupt != nil {
		s.interrupt()
	}
	return done
}

// takeSyncs starts a wait (cancel interrupts it for a Sync) and returns the
// syncs waiting.
func (s *Session) takeSyncs(cancel context.CancelFunc) []chan struct{} {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	out := s.syncs
	s.syncs = nil
	s.interrupt = cancel
	return out
}

func (s *Session) clearInterrupt() {
	s.syncMu.Lock()
	s.interrupt = nil
	s.syncMu.Unlock()
}

// endSyncs answers every Sync once Receive returns.
func (s *Session) endSyncs() {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.ended = true
	s.interrupt = nil
	for _, d := range s.syncs {
		close(d)
	}
	s.syncs = nil
}

// keepalives make the server notice a worker host that vanished without
// closing its connection (a crash, a network cut) within about 8s, and so
// free the worker lock for a standby within the 10s of guarantee 5.
var keepalives = [][2]string{
	{"tcp_keepalives_idle", "5"},
	{"tcp_keepalives_interval", "1"},
	{"tcp_keepalives_count", "3"},
	{"tcp_user_timeout", "8000"},
}

// Dial opens a session. Notifications go into a channel of capacity buffer;
// when it is full the session stops reading, so a burst waits in
// PostgreSQL's queue instead of the worker's memory.
func Dial(ctx context.Context, cfg *pgx.ConnConfig, buffer int) (*Session, error) {
	cfg = cfg.Copy()
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	for _, kv := range keepalives {
		if _, set := cfg.RuntimeParams[kv[0]]; !set {
			cfg.RuntimeParams[kv[0]] = kv[1]
		}
	}
	DeferParams(cfg)
	s := &Session{payload: make(chan string, buffer), done: make(chan struct{})}
	cfg.OnNotification = func(_ *pgconn.PgConn, n *pgconn.Notification) {
		s.progress.Add(1)
		select {
		case s.payload <- n.Payload:
			return
		default:
		}
		s.waiting.Store(true)
		defer s.waiting.Store(false)
		select {
		case s.payload <- n.Payload:
		case <-s.done:
		}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("error connecting to PostgreSQL: %w", err)
	}
	if s.pid, err = BackendPID(ctx, conn.PgConn()); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	s.conn = conn
	return s, nil
}

// Payloads delivers notifications in the order PostgreSQL sent them.
func (s *Session) Payloads() <-chan string { return s.payload }

// TryLock takes the worker lock if nobody holds it.
func (s *Session) TryLock(ctx context.Context) (bool, error) {
	var ok bool
	if err := s.conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", LockKey).Scan(&ok); err != nil {
		return false, fmt.Errorf("error taking the worker lock: %w", err)
	}
	return ok, nil
}

// Listen subscribes to channel; LISTEN takes effect when it returns.
func (s *Session) Listen(ctx context.Context, channel string) error {
	if _, err := s.conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return fmt.Errorf("error listening on %q: %w", channel, err)
	}
	return nil
}

// Receive reads notifications into Payloads until ctx ends or the
// connection fails. After an idle interval without a notification it pings
// the server, so a session that died without a word (a network cut, a
// frozen server) is noticed. A session held back by a busy consumer (a
// full Payloads channel) is not idle: it is never declared dead for that.
func (s *Session) Receive(ctx context.Context, idle time.Duration) error {
	defer s.endSyncs()
	for {
		seen := s.progress.Load()
		waitCtx, cancel := context.WithTimeout(ctx, idle)
		var err error
		if syncs := s.takeSyncs(cancel); len(syncs) > 0 {
			// Everything sent before the ping's answer is handed over
			// before ping returns (OnNotification runs as it is read).
			err = s.ping(ctx, idle)
			for _, d := range syncs {
				close(d)
			}
			if err != nil && ctx.Err() == nil {
				cancel()
				return fmt.Errorf("error pinging the listening session: %w", err)
			}
		} else {
			err = s.conn.PgConn().WaitForNotification(waitCtx)
		}
		s.clearInterrupt()
		cancel()
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.Canceled):
			// Interrupted for a Sync: the next turn serves it.
		case errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err):
			if s.progress.Load() != seen {
				continue
			}
			if err := s.ping(ctx, idle); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("error pinging the listening session: %w", err)
			}
		default:
			return fmt.Errorf("error waiting for notifications: %w", err)
		}
	}
}

// ping checks the server still answers. Notifications queued ahead of the
// answer are handed over first and may wait for the consumer; that wait is
// not the server's fault, so the deadline only runs while nothing moves.
func (s *Session) ping(ctx context.Context, idle time.Duration) error {
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		tick := time.NewTicker(max(idle/4, time.Millisecond))
		defer tick.Stop()
		last, since := s.progress.Load(), time.Now()
		for {
			select {
			case <-pctx.Done():
				return
			case <-tick.C:
				if p := s.progress.Load(); p != last || s.waiting.Load() {
					last, since = p, time.Now()
				} else if time.Since(since) > idle {
					cancel()
					return
				}
			}
		}
	}()
	err := s.conn.Ping(pctx)
	cancel()
	<-watched
	return err
}

// PID is the session's backend process id.
func (s *Session) PID() uint32 { return s.pid }

// Abandon unblocks a Receive stuck on a full Payloads channel; what it
// still had is dropped (whoever holds the lock next reconciles).
func (s *Session) Abandon() {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
}

// Go runs Receive in the background until Close; its error (the session
// failed) arrives on the returned channel.
func (s *Session) Go(ctx context.Context, idle time.Duration) <-chan error {
	ctx, s.stopReceive = context.WithCancel(ctx)
	s.received = make(chan struct{})
	lost := make(chan error, 1)
	go func() {
		defer close(s.received)
		lost <- s.Receive(ctx, idle)
	}()
	return lost
}

// Close ends the session, which releases the lock and the LISTEN. It stops
// the Receive of Go first: the connection is not safe for two goroutines.
func (s *Session) Close(ctx context.Context) error {
	s.Abandon()
	if s.stopReceive != nil {
		s.stopReceive()
		<-s.received
	}
	return s.conn.Close(ctx)
}
