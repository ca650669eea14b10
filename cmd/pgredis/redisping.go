package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisCheckTimeout bounds a command's first contact with Redis: a server
// that accepts the connection but never answers (rediss:// against a
// plaintext server waits for a TLS handshake that never comes) must not
// hold a command for the client's retries times their timeouts.
const redisCheckTimeout = 8 * time.Second

// pingRedis checks Redis answers, with one plain line when it does not.
func (e *env) pingRedis(ctx context.Context, rdb redis.UniversalClient) error {
	ctx, cancel := context.WithTimeout(ctx, redisCheckTimeout)
	defer cancel()
	err := rdb.Ping(ctx).Err()
	if err == nil {
		return nil
	}
	return e.redisError(ctx, err)
}

// redisError says which Redis could not be reached, and why in words.
func (e *env) redisError(ctx context.Context, err error) error {
	where := "Redis"
	if u, perr := url.Parse(e.RedisURL); perr == nil && u.Host != "" {
		where += " at " + u.Host
	}
	msg := redactErr(err)
	tlsURL := strings.HasPrefix(e.RedisURL, "rediss://")
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout()):
		msg = fmt.Sprintf("no answer within %s", redisCheckTimeout)
		if tlsURL {
			msg += " (REDIS_URL is rediss://: does the server speak TLS on that port?)"
		}
	case tlsURL && e.RedisTLSCertFile == "" && strings.Contains(msg, "connection reset"):
		// A server that requires a client certificate ends the handshake
		// with an alert, but a loaded one may reset the connection first,
		// and the alert's text never reaches the client.
		msg += " (the server ended the TLS connection: if it wants a TLS client certificate, set PGREDIS_REDIS_TLS_CERT_FILE and PGREDIS_REDIS_TLS_KEY_FILE)"
	case tlsURL && (errors.Is(err, io.EOF) || strings.Contains(msg, "first record does not look like a TLS handshake")):
		msg += " (REDIS_URL is rediss://: does the server speak TLS on that port?)"
	case !tlsURL && (errors.Is(err, io.EOF) || strings.Contains(msg, "connection reset")):
		msg += " (if the server wants TLS, use rediss:// in REDIS_URL)"
	}
	return fmt.Errorf("cannot connect to %s: %s", where, msg)
}
