package notify

import (
	"context"
	"fmt"
)

// btreeIndexesSQL lists the key columns of each valid, non-partial btree
// index of a table (expression columns, attnum 0, are left out) with the
// schema of the equality operator of the column's operator class: the
// trigger names that operator, since the type's own schema (an extension's,
// say) need not be on the pinned search_path.
const btreeIndexesSQL = `
SELECT i.indexrelid, k.ord, a.attname, pg_catalog.quote_ident(opn.nspname)
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
JOIN pg_catalog.pg_am am ON am.oid = ic.relam
CROSS JOIN LATERAL unnest(i.indkey::int2[], i.indclass::oid[]) WITH ORDINALITY AS k(attnum, opclass, ord)
JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
JOIN pg_catalog.pg_opclass oc ON oc.oid = k.opclass
JOIN pg_catalog.pg_amop ao ON ao.amopfamily = oc.opcfamily AND ao.amoplefttype = oc.opcintype
	AND ao.amoprighttype = oc.opcintype AND ao.amopstrategy = 3
JOIN pg_catalog.pg_operator op ON op.oid = ao.amopopr
JOIN pg_catalog.pg_namespace opn ON opn.oid = op.oprnamespace
WHERE i.indrelid = $1 AND am.amname = 'btree' AND i.indisvalid AND i.indpred IS NULL
	AND k.ord <= i.indnkeyatts
ORDER BY i.indexrelid, k.ord`

// EqColumn is a key column the trigger looks rows up by, and the equality
// operator of its index, spelled OPERATOR(schema.=).
type EqColumn struct {
	Column
	Op string
}

// eqColumns picks the key columns the trigger may look rows up by: those
// of a btree index whose leading column is a key column. Their types have
// an equality operator (the index's), and the lookup uses the index. Empty
// when no index leads with a key column.
func eqColumns(ctx context.Context, q Querier, oid uint32, key []Column) ([]EqColumn, error) {
	rows, err := q.Query(ctx, btreeIndexesSQL, oid)
	if err != nil {
		return nil, fmt.Errorf("error reading indexes: %w", err)
	}
	defer rows.Close()
	byName := map[string]Column{}
	for _, c := range key {
		byName[c.Name] = c
	}
	ops := map[string]string{}
	var index uint32
	leads := false
	for rows.Next() {
		var idx uint32
		var ord int64
		var name, schema string
		if err := rows.Scan(&idx, &ord, &name, &schema); err != nil {
			return nil, fmt.Errorf("error reading indexes: %w", err)
		}
		if idx != index {
			index = idx
			_, leads = byName[name]
			leads = leads && ord == 1
		}
		if _, ok := byName[name]; ok && leads && ops[name] == "" {
			ops[name] = "OPERATOR(" + schema + ".=)"
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("error reading indexes: %w", err)
	}
	// Key order, so the generated SQL does not depend on index order.
	var out []EqColumn
	for _, c := range key {
		if op := ops[c.Name]; op != "" {
			out = append(out, EqColumn{c, op})
		}
	}
	return out, nil
}
