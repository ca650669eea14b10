package notify

import (
	"context"
	"fmt"
)

// CheckEncoding refuses a database whose encoding is not UTF8. Payloads are
// measured and cut in the server's bytes while Redis values, JSON and the
// worker's length prefixes are UTF-8: in a LATIN1 database, say, non-ASCII
// text would reach Redis as raw LATIN1 bytes (invalid JSON), and a worker
// with client_encoding UTF8 would read lengths that no longer match. Resolve
// calls it, so migrate up, the worker, resync and status all refuse alike.
func CheckEncoding(ctx context.Context, q Querier) error {
	var enc, db string
	if err := q.QueryRow(ctx, `SELECT pg_catalog.current_setting('server_encoding'), pg_catalog.current_database()`).Scan(&enc, &db); err != nil {
		return fmt.Errorf("error reading the database encoding: %w", err)
	}
	if enc != "UTF8" {
		return fmt.Errorf("database %q uses encoding %s but pgredis needs UTF8: dump it and restore into a database created with ENCODING 'UTF8'", db, enc)
	}
	return nil
}
