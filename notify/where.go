package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgredis/pgredis/internal/spec"
)

// whereChecked remembers where= expressions found valid, by table, its
// columns and the expression: Resolve runs on every reconcile and health
// check, and the check creates a temporary table.
var whereChecked sync.Map

// checkWhere refuses a where= expression the triggers cannot keep exact:
// one that is not a boolean over the table's columns, or whose result can
// change without a write to the row (a function that is not IMMUTABLE,
// such as now() or random(), or a subquery reading other rows). PostgreSQL
// makes exactly that check for an index predicate, so the expression is
// tried as one, on an empty temporary copy of the table's columns inside
// a transaction that is rolled back: it locks nothing of the user's.
// The session's settings are the trigger's (search_path above all), so
// what resolves here resolves there.
func checkWhere(ctx context.Context, q Querier, t Table) error {
	if t.Where == "" {
		return nil
	}
	var sig strings.Builder
	sig.WriteString(t.Ident() + "\x00" + t.Where)
	for _, c := range t.AllColumns {
		sig.WriteString("\x00" + c.Name + "\x00" + c.Type)
	}
	if _, ok := whereChecked.Load(sig.String()); ok {
		return nil
	}
	b, ok := q.(interface {
		Begin(ctx context.Context) (pgx.Tx, error)
	})
	if !ok {
		return fmt.Errorf("error checking where= of %s: cannot open a transaction to check it", t.Table)
	}
	tx, err := b.Begin(ctx)
	if err != nil {
		return fmt.Errorf("error checking where= of %s: %w", t.Table, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // the check changes nothing
	for _, s := range Settings {
		if _, err := tx.Exec(ctx, "SELECT pg_catalog.set_config($1, $2, true)", s[0], s[1]); err != nil {
			return fmt.Errorf("error checking where= of %s: %w", t.Table, err)
		}
	}
	var cols []string
	for _, c := range t.AllColumns {
		cols = append(cols, spec.QuoteIdent(c.Name)+" "+c.Type)
	}
	if _, err := tx.Exec(ctx, "CREATE TEMPORARY TABLE pgredis_where_check ("+strings.Join(cols, ", ")+") ON COMMIT DROP"); err != nil {
		return fmt.Errorf("error checking where= of %s: %w", t.Table, err)
	}
	// Its type first: a non-boolean would fail the index with a message
	// about WHERE, not about where=.
	rows, err := tx.Query(ctx, "SELECT "+t.Where+" FROM pg_temp.pgredis_where_check LIMIT 0")
	if err == nil {
		fd := rows.FieldDescriptions()
		rows.Close()
		err = rows.Err()
		if err == nil && (len(fd) != 1 || fd[0].DataTypeOID != 16) {
			var typ string
			if len(fd) == 1 {
				_ = tx.QueryRow(ctx, "SELECT pg_catalog.format_type($1, NULL)", fd[0].DataTypeOID).Scan(&typ)
			}
			return fmt.Errorf("table %s: where=%s is of type %s, not boolean: give a condition, e.g. where=(status = 'active')", t.Table, oneLine(t.Where), typ)
		}
	}
	if err != nil {
		return fmt.Errorf("table %s: where=%s is not a valid expression over the table's columns (name them unqualified): %s", t.Table, oneLine(t.Where), pgMessage(err))
	}
	if _, err := tx.Exec(ctx, "CREATE INDEX ON pg_temp.pgredis_where_check ((1)) WHERE "+t.Where); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && (pe.Code == "42P17" || pe.Code == "0A000") {
			return fmt.Errorf("table %s: where=%s can change without a write to the row (%s), so triggers cannot keep the mirror exact: use only the row's columns and immutable functions", t.Table, oneLine(t.Where), pe.Message)
		}
		return fmt.Errorf("table %s: where=%s is not a valid expression over the table's columns: %s", t.Table, oneLine(t.Where), pgMessage(err))
	}
	whereChecked.Store(sig.String(), true)
	return nil
}

// pgMessage is a PostgreSQL error's message without its SQLSTATE suffix.
func pgMessage(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Message
	}
	return err.Error()
}

// oneLine folds an expression's line breaks so an error stays one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
