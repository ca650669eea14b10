package notify

import (
	"fmt"
	"strings"

	"github.com/pgredis/pgredis/internal/spec"
)

// Index data travels in the rendered value, ahead of it, the way
// expire_at= puts the expiry there (withExpiry): one field per index=,
// in the order of Table.Indexes, each "LEN:NAME," for a set or
// "LEN:NAMESCORE," for a sorted set (SCORE as float8 text), or "-," when
// the row is in no set of that index (a NULL placeholder or score, or a
// NaN score). The trigger renders nothing else for indexes: it needs no
// old row, no extra query and no extra payload. The worker keeps each
// key's memberships in a companion record and moves the key between sets
// by comparing them (worker/index.go).

// scoreTypes are the column types a sorted set can be scored by; time
// types score as Unix seconds.
var scoreTypes = map[string]bool{
	"smallint": true, "integer": true, "bigint": true, "numeric": true, "real": true, "double precision": true,
	"timestamp with time zone": true, "timestamp without time zone": true, "date": true,
}

var timeTypes = map[string]bool{"timestamp with time zone": true, "timestamp without time zone": true, "date": true}

// resolveIndexes checks the index= columns against the catalog.
func (t *Table) resolveIndexes() error {
	// Canonical order: the worker reads the installed spec back from its
	// canonical text and the value's fields in its order.
	t.Indexes = spec.Table{Indexes: t.Indexes}.Normalized().Indexes
	t.indexScoreTypes = nil
	for _, x := range t.Indexes {
		for _, name := range x.Template.Columns() {
			if _, err := t.column(name, "index="+x.Template.String()); err != nil {
				return err
			}
		}
		typ := ""
		if x.Score != "" {
			c, err := t.column(x.Score, "index="+x.String())
			if err != nil {
				return err
			}
			typ = baseType(c.Type)
			if !scoreTypes[typ] {
				return fmt.Errorf("table %s: index=%s scores by column %s of type %s: it must be numeric (smallint, integer, bigint, numeric, real, double precision) or a time (timestamptz, timestamp, date)", t.Table, x, c.Name, c.Type)
			}
		}
		t.indexScoreTypes = append(t.indexScoreTypes, typ)
	}
	return nil
}

// templateExpr renders a template from alias's columns; NULL when a
// placeholder column is NULL.
func templateExpr(tmpl spec.Template, alias string) string {
	var terms []string
	for i, p := range tmpl.Parts {
		switch {
		case i%2 == 1:
			terms = append(terms, fmt.Sprintf("(%s.%s)::text", alias, spec.QuoteIdent(p)))
		case p != "":
			terms = append(terms, spec.QuoteLiteral(p))
		}
	}
	if len(terms) == 0 {
		return "''"
	}
	return strings.Join(terms, " || ")
}

// scoreExpr renders a sorted set's score as float8 text (shortest exact
// form with extra_float_digits=1); NULL for NULL or NaN, which Redis
// refuses. Infinities stay ("Infinity", "-Infinity").
func (t Table) scoreExpr(i int, alias string) string {
	c := alias + "." + spec.QuoteIdent(t.Indexes[i].Score)
	if timeTypes[t.indexScoreTypes[i]] {
		return fmt.Sprintf("(EXTRACT(epoch FROM %s))::pg_catalog.float8::text", c)
	}
	return fmt.Sprintf("NULLIF((%s)::pg_catalog.float8, 'NaN'::pg_catalog.float8)::text", c)
}

// withIndex prefixes a value with the row's index names (see above).
func (t Table) withIndex(alias, value string) string {
	if len(t.Indexes) == 0 {
		return value
	}
	terms := make([]string, 0, len(t.Indexes)+1)
	for i, x := range t.Indexes {
		name := "(" + templateExpr(x.Template, alias) + ")"
		score := ""
		if x.Score != "" {
			score = " || " + t.scoreExpr(i, alias)
		}
		terms = append(terms, fmt.Sprintf("coalesce(pg_catalog.octet_length(%[1]s)::text || ':' || %[1]s%[2]s || ',', '-,')", name, score))
	}
	return "(" + strings.Join(terms, " || ") + " || " + value + ")"
}

// checkIndexOverlaps rejects index templates that could render a name
// another template (any entry's key or index) could render, or a name
// under the state prefix: index names are keys pgredis owns.
func checkIndexOverlaps(tables []Table, statePrefix string) error {
	for i, a := range tables {
		for j, x := range a.Indexes {
			if statePrefix != "" && x.Template.OverlapsPrefix(statePrefix) {
				return fmt.Errorf("table %s: index=%s could produce names under PGREDIS_STATE_PREFIX %q; give it a template that starts differently", a, x.Template, statePrefix)
			}
			for _, b := range tables {
				if x.Template.Overlaps(b.Key) {
					return fmt.Errorf("table %s: index=%s could produce the same name as the key template %q of %s; give the index a distinct literal prefix", a, x.Template, b.Key.String(), b.Table)
				}
			}
			for k, b := range tables[i:] {
				for l, y := range b.Indexes {
					if (k == 0 && l <= j) || !x.Template.Overlaps(y.Template) {
						continue
					}
					return fmt.Errorf("index=%s of %s and index=%s of %s could produce the same name; give one a distinct literal prefix", x.Template, a.Table, y.Template, b.Table)
				}
			}
		}
	}
	return nil
}
