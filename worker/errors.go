package worker

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Errors are classified where they start: the store is the only code that
// talks to Redis and wraps every error it returns (but ErrFenced) in
// redisFailure. Everything else came from PostgreSQL or the configuration,
// whatever wrapping a call site added or forgot.
type redisFailure struct{ error }

func (e redisFailure) Unwrap() error { return e.error }

// redisErr marks err as Redis's; the store calls it on every error it
// returns.
func redisErr(err error) error {
	var ref *refusedWrites
	if err == nil || errors.Is(err, ErrFenced) || isRedisFailure(err) || errors.As(err, &ref) {
		return err
	}
	return redisFailure{err}
}

func isRedisFailure(err error) bool {
	var f redisFailure
	return errors.As(err, &f)
}

// isPGFailure reports an error that did not come from Redis: PostgreSQL or
// the configuration. The tenure ends on it (the worker reconnects and
// reconciles) instead of entering Redis-down mode.
func isPGFailure(err error) bool {
	return err != nil && !isRedisFailure(err) && !errors.Is(err, ErrFenced)
}

// isShapeError reports an error that says a table no longer fits its spec
// (a column or the table dropped or renamed: SQLSTATE class 42), which
// only migrate up can fix; retrying cannot.
func isShapeError(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && strings.HasPrefix(pe.Code, "42")
}

// renderError is a row the worker cannot turn into a Redis write (a hash
// value that is not a JSON object of strings): the table's own trouble.
type renderError struct{ error }

func (e renderError) Unwrap() error { return e.error }

// isTableTrouble reports an error that belongs to one table (its shape,
// a value PostgreSQL cannot render, a row the worker cannot write), as
// opposed to a store being down: the table is quarantined and every other
// table stays live. PostgreSQL errors of the connection (08), resources
// (53), operator intervention (57, a terminated backend), system (58) and
// internal (XX) classes are the server's, not the table's.
func isTableTrouble(err error) bool {
	var re renderError
	var ref *refusedWrites
	if errors.As(err, &re) || errors.As(err, &ref) {
		return true
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || len(pe.Code) < 2 {
		return false
	}
	switch pe.Code[:2] {
	case "08", "53", "57", "58", "XX", "40", "55":
		return false
	}
	return true
}
