package notify

import (
	"context"
	"errors"
	"fmt"
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
	payload chan string
	done    chan struct{}
}

// Dial opens a session. Notifications go into a channel of capacity buffer;
// when it is full the session stops reading, so a burst waits in
// PostgreSQL's queue instead of the worker's memory.
func Dial(ctx context.Context, cfg *pgx.ConnConfig, buffer int) (*Session, error) {
	cfg = cfg.Copy()
	s := &Session{payload: make(chan string, buffer), done: make(chan struct{})}
	cfg.OnNotification = func(_ *pgconn.PgConn, n *pgconn.Notification) {
		select {
		case s.payload <- n.Payload:
		case <-s.done:
		}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("error connecting to PostgreSQL: %w", err)
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
// connection fails. Every idle interval it pings the server, so a session
// that died without a word (a network cut, a frozen server) is noticed.
func (s *Session) Receive(ctx context.Context, idle time.Duration) error {
	for {
		waitCtx, cancel := context.WithTimeout(ctx, idle)
		err := s.conn.PgConn().WaitForNotification(waitCtx)
		cancel()
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err):
			pingCtx, cancel := context.WithTimeout(ctx, idle)
			err := s.conn.Ping(pingCtx)
			cancel()
			if err != nil {
				return fmt.Errorf("error pinging the listening session: %w", err)
			}
		default:
			return fmt.Errorf("error waiting for notifications: %w", err)
		}
	}
}

// PID is the session's backend process id.
func (s *Session) PID() uint32 { return s.conn.PgConn().PID() }

// Abandon unblocks a Receive stuck on a full Payloads channel; what it
// still had is dropped (whoever holds the lock next reconciles).
func (s *Session) Abandon() {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
}

// Close ends the session, which releases the lock and the LISTEN. Call it
// after Receive has returned.
func (s *Session) Close(ctx context.Context) error {
	s.Abandon()
	return s.conn.Close(ctx)
}
