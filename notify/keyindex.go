package notify

import (
	"context"
	"fmt"
	"slices"
)

// btreeIndexesSQL lists the columns of each valid, non-partial btree index
// of a table (expression columns, attnum 0, are left out).
const btreeIndexesSQL = `
SELECT i.indexrelid, k.ord, a.attname
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
JOIN pg_catalog.pg_am am ON am.oid = ic.relam
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = $1 AND am.amname = 'btree' AND i.indisvalid AND i.indpred IS NULL
	AND k.ord <= i.indnkeyatts
ORDER BY i.indexrelid, k.ord`

// eqColumns picks the key columns the trigger may look rows up by: those
// of a btree index whose leading column is a key column. Their types have
// an equality operator (the index's), and the lookup uses the index. Empty
// when no index leads with a key column.
func eqColumns(ctx context.Context, q Querier, oid uint32, key []Column) ([]Column, error) {
	rows, err := q.Query(ctx, btreeIndexesSQL, oid)
	if err != nil {
		return nil, fmt.Errorf("error reading indexes: %w", err)
	}
	defer rows.Close()
	byName := map[string]Column{}
	for _, c := range key {
		byName[c.Name] = c
	}
	var out []Column
	var index uint32
	leads := false
	for rows.Next() {
		var idx uint32
		var ord int64
		var name string
		if err := rows.Scan(&idx, &ord, &name); err != nil {
			return nil, fmt.Errorf("error reading indexes: %w", err)
		}
		if idx != index {
			index = idx
			_, leads = byName[name]
			leads = leads && ord == 1
		}
		if c, ok := byName[name]; ok && leads && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("error reading indexes: %w", err)
	}
	// Key order, so the generated SQL does not depend on index order.
	var sorted []Column
	for _, c := range key {
		if slices.Contains(out, c) {
			sorted = append(sorted, c)
		}
	}
	return sorted, nil
}
