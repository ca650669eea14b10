package notify

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgredis/pgredis/internal/spec"
)

// Spec is the entry as installed, its key resolved (a registry row
// written by an older pgredis may leave the default key out of its spec).
func (in Installed) Spec() spec.Table {
	st := in.Table
	key := in.Key
	st.Key = &key
	return st
}

// SameSpec reports whether a configured entry means what is installed
// (spec.Equivalent), however it is spelled: "users" and
// "users key=users:{id}" when id is the primary key, columns= in any
// order, ttl=60s and ttl=1m. A configured entry without key= means the
// primary-key default as the catalog has it now; when the table has no
// primary key to read (dropped, or altered since the install: the shape
// checks report that), it is taken to mean the installed key.
func SameSpec(ctx context.Context, q Querier, configured spec.Table, in Installed) (bool, error) {
	if configured.Key == nil {
		rows, err := q.Query(ctx, `
SELECT a.attname
FROM pg_catalog.pg_index i
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = to_regclass($1) AND i.indisprimary
ORDER BY k.ord`, configured.Ident())
		if err != nil {
			return false, fmt.Errorf("error reading primary key of %s: %w", configured, err)
		}
		pk, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return false, fmt.Errorf("error reading primary key of %s: %w", configured, err)
		}
		key := in.Key
		if len(pk) > 0 {
			key = spec.DefaultTemplate(configured.Name, pk)
		}
		configured.Key = &key
	}
	return spec.Equivalent(configured, in.Spec()), nil
}
