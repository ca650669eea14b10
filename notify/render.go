package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/pgredis/pgredis/internal/spec"
)

// Settings pins every session setting that changes how a value renders as
// text or JSON, so the trigger (in the writer's session) and a reconcile
// (in the worker's) produce the same bytes.
var Settings = [][2]string{
	{"TimeZone", "UTC"},
	{"DateStyle", "ISO, MDY"},
	{"IntervalStyle", "postgres"},
	{"extra_float_digits", "1"},
}

// maxEntry bounds one entry so a chunk of entries plus header stays under
// NOTIFY's 8000-byte payload limit; a larger row is sent by reference.
const (
	maxEntry   = 7600
	chunkBytes = 3800
)

// keyExpr renders the row's Redis key; NULL when a key column is NULL.
func (t Table) keyExpr(alias string) string {
	var terms []string
	for i, p := range t.Key.Parts {
		switch {
		case i%2 == 1:
			terms = append(terms, fmt.Sprintf("(%s.%s)::text", alias, spec.QuoteIdent(p)))
		case p != "":
			terms = append(terms, spec.QuoteLiteral(p))
		}
	}
	return strings.Join(terms, " || ")
}

// valueExpr renders the row's Redis value as text: the JSON document for
// format=json, or a JSON object of the columns' text output (NULLs left
// out) for format=hash, which the worker turns into hash fields.
func (t Table) valueExpr(alias string) string {
	if t.Format == spec.FormatJSON && t.Columns == nil {
		// alias.* and not alias alone: a column named like the alias would
		// win over the whole-row reference.
		return fmt.Sprintf("to_jsonb(%s.*)::text", alias)
	}
	var objs []string
	// jsonb_build_object takes at most 100 arguments.
	for start := 0; start < len(t.Value); start += 50 {
		end := min(start+50, len(t.Value))
		var args []string
		for _, c := range t.Value[start:end] {
			ref := alias + "." + spec.QuoteIdent(c.Name)
			if t.Format == spec.FormatHash {
				ref = "(" + ref + ")::text"
			}
			args = append(args, spec.QuoteLiteral(c.Name), ref)
		}
		objs = append(objs, "jsonb_build_object("+strings.Join(args, ", ")+")")
	}
	expr := strings.Join(objs, " || ")
	if t.Format == spec.FormatHash {
		expr = "jsonb_strip_nulls(" + expr + ")"
	}
	return expr + "::text"
}

// fetchArgsExpr renders the key columns' text values as a fetch entry.
func (t Table) fetchEntryExpr(alias string) string {
	terms := []string{spec.QuoteLiteral("R" + strconv.Itoa(len(t.KeyColumns)) + ":")}
	for _, c := range t.KeyColumns {
		v := fmt.Sprintf("(%s.%s)::text", alias, spec.QuoteIdent(c.Name))
		terms = append(terms, "octet_length("+v+")::text", "':'", v)
	}
	return strings.Join(terms, " || ")
}

// RenderSQL selects (key, value) for every row that has a key.
func (t Table) RenderSQL() string {
	return fmt.Sprintf("SELECT k, v FROM (SELECT %s AS k, %s AS v FROM %s r) x WHERE k IS NOT NULL",
		t.keyExpr("r"), t.valueExpr("r"), t.Ident())
}

// FetchSQL selects (key, value) of the rows whose key columns equal $1..$n
// (given as text in the rendering settings, so they cast back exactly).
func (t Table) FetchSQL() string {
	var conds []string
	for i, c := range t.KeyColumns {
		conds = append(conds, fmt.Sprintf("r.%s = $%d::%s", spec.QuoteIdent(c.Name), i+1, c.Type))
	}
	return fmt.Sprintf("SELECT k, v FROM (SELECT %s AS k, %s AS v FROM %s r WHERE %s) x WHERE k IS NOT NULL",
		t.keyExpr("r"), t.valueExpr("r"), t.Ident(), strings.Join(conds, " AND "))
}

// Version identifies what the trigger renders: two installs with the same
// version put the same keys and values into Redis.
func (t Table) Version() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%d\n", t.Canonical(), t.Key.String(), t.RenderSQL(), t.TTL.Milliseconds())
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// FuncName is the schema-qualified name of one of the table's trigger
// functions; a hash keeps it within 63 bytes for any table name.
func FuncName(table spec.Table, op string) string {
	sum := sha256.Sum256([]byte(table.Schema + "\x00" + table.Name))
	return "pgredis.t_" + hex.EncodeToString(sum[:])[:16] + "_" + op
}
