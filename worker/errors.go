package worker

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// pgFailure marks an error of PostgreSQL (the pool or the session), as
// opposed to Redis: the apply loop ends the tenure on it, so the worker
// reconnects and reconciles, instead of entering Redis-down mode.
type pgFailure struct{ error }

func (e pgFailure) Unwrap() error { return e.error }

func pgErr(err error) error {
	if err == nil || isShapeError(err) {
		return err
	}
	var f pgFailure
	if errors.As(err, &f) {
		return err
	}
	return pgFailure{err}
}

func isPGFailure(err error) bool {
	var f pgFailure
	return errors.As(err, &f)
}

// isShapeError reports an error that says a table no longer fits its spec
// (a column or the table dropped or renamed: SQLSTATE class 42), which
// only migrate up can fix; retrying cannot.
func isShapeError(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && strings.HasPrefix(pe.Code, "42")
}
