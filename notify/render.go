package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/pgredis/pgredis/internal/spec"
)

// Settings pins every session setting that changes how a value renders as
// text or JSON, so the trigger (in the writer's session, through its
// functions' SET clauses) and a reconcile or fetch (in the worker's
// sessions, as connection parameters) produce the same bytes. From the
// PostgreSQL documentation (runtime-config-client, "Locale and
// Formatting", and the data type chapters):
//
//   - TimeZone: timestamptz and timetz output.
//   - DateStyle: date, time and timestamp output (to_jsonb always uses ISO,
//     ::text and format=hash follow DateStyle).
//   - IntervalStyle: interval output.
//   - extra_float_digits: float4, float8 and geometric types.
//   - bytea_output: bytea (hex or escape), in values and in keys.
//   - search_path: regclass, regtype, regproc, regprocedure, regoper,
//     regoperator, regconfig, regdictionary and regcollation print a name
//     schema-qualified only when it is not visible on the path. pg_catalog
//     first and pg_temp last also make the SECURITY DEFINER trigger
//     functions safe: no object of the writer's resolves before the
//     system's, and none from the writer's temporary schema at all. public
//     stays on it so that names of public objects print as a session
//     with the default path ("$user", public) prints them.
//   - lc_monetary: money. "C" is available on every server; it prints as
//     $1,234.56.
//   - standard_conforming_strings changes no output but how the generated
//     SQL's literals (a key template's, say) parse, on both paths.
//
// Not pinned, since they change no output function: lc_numeric and lc_time
// (only the to_char family), lc_messages (error texts, not values),
// xmloption and xmlbinary (XML input and the functions that build XML),
// client_encoding (conversion on the wire; the database must be UTF8, see
// CheckEncoding). The database's encoding, collation and ctype are fixed
// per database.
var Settings = [][2]string{
	{"TimeZone", "UTC"},
	{"DateStyle", "ISO, MDY"},
	{"IntervalStyle", "postgres"},
	{"extra_float_digits", "1"},
	{"bytea_output", "hex"},
	{"search_path", "pg_catalog, public, pg_temp"},
	{"lc_monetary", "C"},
	{"standard_conforming_strings", "on"},
}

// maxEntry bounds one entry, and the entries packed into one
// notification, so they plus the header stay under NOTIFY's 8000-byte
// payload limit; a larger row is sent by reference.
const maxEntry = 7600

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
	return t.withIndex(alias, t.withExpiry(alias, t.bodyExpr(alias)))
}

// withExpiry prefixes a value with its key's expiry for expire_at=: the
// instant in Unix milliseconds, "-" for none (NULL or infinity) or "0"
// for -infinity (always past), then ':'. The worker takes it off and
// sets the expiry, or deletes the key when the instant has passed. A
// timestamp without time zone and a date are read as UTC (EXTRACT's
// epoch of them is their nominal UTC instant).
func (t Table) withExpiry(alias, value string) string {
	if t.ExpireAt == "" {
		return value
	}
	c := alias + "." + spec.QuoteIdent(t.ExpireAt)
	return fmt.Sprintf(`(CASE WHEN (%[1]s) IS NULL THEN '-' WHEN pg_catalog.isfinite(%[1]s) THEN pg_catalog.floor(EXTRACT(epoch FROM %[1]s) * 1000)::bigint::text WHEN (%[1]s) OPERATOR(pg_catalog.>) 'epoch'::%[2]s THEN '-' ELSE '0' END || ':' || %[3]s)`,
		c, t.expireType, value)
}

// bodyExpr is the value without the expiry prefix.
func (t Table) bodyExpr(alias string) string {
	switch {
	case t.Format == spec.FormatJSON && t.Columns == nil:
		// The trigger renders the whole row so a column added later is
		// synced without a reinstall. alias.* and not alias alone: a
		// column named like the alias would win over the whole-row
		// reference.
		return t.wholeRowExpr(alias)
	case t.Format == spec.FormatJSON:
		return t.jsonExpr(alias)
	}
	var objs []string
	// jsonb_build_object takes at most 100 arguments.
	for start := 0; start < len(t.Value); start += 50 {
		end := min(start+50, len(t.Value))
		var args []string
		for _, c := range t.Value[start:end] {
			args = append(args, spec.QuoteLiteral(c.Name), "("+alias+"."+spec.QuoteIdent(c.Name)+")::text")
		}
		objs = append(objs, "pg_catalog.jsonb_build_object("+strings.Join(args, ", ")+")")
	}
	return "pg_catalog.jsonb_strip_nulls(" + strings.Join(objs, " || ") + ")::text"
}

// jsonExpr renders the value columns as to_jsonb renders them, byte for
// byte, but assembles the object itself: to_jsonb of a whole row looks up
// every column's type output on every row and builds a jsonb only to print
// it, about three times the cost (most of a bulk statement's trigger
// cost, and of a reconcile's in PostgreSQL). The object's keys go in jsonb's order
// (shorter first, then bytewise) with its separators; a column of a type
// whose to_json text equals its to_jsonb text is rendered with to_json
// (or its plain text output for integers), any other with to_jsonb.
func (t Table) jsonExpr(alias string) string {
	cols := slices.Clone(t.Value)
	for _, c := range cols {
		if jsonEscape(c.Name) != c.Name {
			// Leave unusual names to PostgreSQL's own escaping.
			return t.jsonbExpr(alias)
		}
	}
	if len(cols) == 0 {
		return "'{}'::text"
	}
	slices.SortFunc(cols, func(a, b Column) int {
		if len(a.Name) != len(b.Name) {
			return len(a.Name) - len(b.Name)
		}
		return strings.Compare(a.Name, b.Name)
	})
	terms := make([]string, 0, 2*len(cols)+1)
	for i, c := range cols {
		sep := ", "
		if i == 0 {
			sep = "{"
		}
		terms = append(terms, spec.QuoteLiteral(sep+`"`+c.Name+`": `))
		ref := alias + "." + spec.QuoteIdent(c.Name)
		switch {
		case jsonPlainTypes[baseType(c.Type)]:
			terms = append(terms, "coalesce(("+ref+")::text, 'null')")
		case jsonSameTypes[baseType(c.Type)]:
			terms = append(terms, "coalesce(pg_catalog.to_json("+ref+")::text, 'null')")
		default:
			terms = append(terms, "coalesce(pg_catalog.to_jsonb("+ref+")::text, 'null')")
		}
	}
	terms = append(terms, "'}'")
	return "(" + strings.Join(terms, " || ") + ")"
}

// jsonbExpr is the plain rendering jsonExpr stands in for.
func (t Table) jsonbExpr(alias string) string {
	if t.Columns == nil {
		return t.wholeRowExpr(alias)
	}
	var objs []string
	for start := 0; start < len(t.Value); start += 50 {
		end := min(start+50, len(t.Value))
		var args []string
		for _, c := range t.Value[start:end] {
			args = append(args, spec.QuoteLiteral(c.Name), alias+"."+spec.QuoteIdent(c.Name))
		}
		objs = append(objs, "pg_catalog.jsonb_build_object("+strings.Join(args, ", ")+")")
	}
	return "(" + strings.Join(objs, " || ") + ")::text"
}

// wholeRowExpr renders the whole row as to_jsonb does, less the
// exclude= columns: a column added later is in it. alias.* and not alias
// alone: a column named like the alias would win over the whole-row
// reference. jsonb's - operator takes the key out of the object (schema-
// qualified: the functions run with a pinned search_path, but the
// operator's text argument must not resolve to another schema's).
func (t Table) wholeRowExpr(alias string) string {
	if len(t.Exclude) == 0 {
		return fmt.Sprintf("pg_catalog.to_jsonb(%s.*)::text", alias)
	}
	expr := fmt.Sprintf("pg_catalog.to_jsonb(%s.*)", alias)
	for _, c := range t.Exclude {
		expr = fmt.Sprintf("(%s OPERATOR(pg_catalog.-) %s::text)", expr, spec.QuoteLiteral(c))
	}
	return expr + "::text"
}

// jsonPlainTypes print as JSON numbers with their text output.
var jsonPlainTypes = map[string]bool{"smallint": true, "integer": true, "bigint": true}

// jsonSameTypes render the same with to_json as with to_jsonb (numeric's
// NaN and infinities become strings with both; dates and timestamps go
// through the same ISO encoder; strings through the same escaping).
var jsonSameTypes = map[string]bool{
	"numeric": true, "boolean": true, "text": true, "uuid": true, "character varying": true, "character": true,
	"date": true, "timestamp without time zone": true, "timestamp with time zone": true,
}

// typmodRE matches a type modifier in format_type's output: numeric(12,2),
// character varying(20) and timestamp(3) with time zone render as their
// unmodified types do.
var typmodRE = regexp.MustCompile(`\(\d+(,\d+)?\)`)

func baseType(t string) string { return typmodRE.ReplaceAllString(t, "") }

// jsonEscape escapes s as PostgreSQL's escape_json does.
func jsonEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r < 0x20:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// fetchArgsExpr renders the key columns' text values as a fetch entry.
func (t Table) fetchEntryExpr(alias string) string {
	terms := []string{spec.QuoteLiteral("R" + strconv.Itoa(len(t.KeyColumns)) + ":")}
	for _, c := range t.KeyColumns {
		v := fmt.Sprintf("(%s.%s)::text", alias, spec.QuoteIdent(c.Name))
		terms = append(terms, "pg_catalog.octet_length("+v+")::text", "':'", v)
	}
	return strings.Join(terms, " || ")
}

// SnapshotSQL is RenderSQL for a reconcile: the same bytes, rendered the
// cheaper way for the table's columns as the catalog has them now (t must
// be freshly resolved), since whole-row values follow the table's shape.
func (t Table) SnapshotSQL() string {
	if t.Format != spec.FormatJSON {
		return t.RenderSQL()
	}
	return fmt.Sprintf("SELECT k, v FROM (SELECT %s AS k, %s AS v FROM %s r%s) x WHERE k IS NOT NULL",
		t.keyExpr("r"), t.withIndex("r", t.withExpiry("r", t.jsonExpr("r"))), t.Ident(), t.whereClause())
}

// RenderSQL selects (key, value) for every row that has a key.
func (t Table) RenderSQL() string {
	return fmt.Sprintf("SELECT k, v FROM (SELECT %s AS k, %s AS v FROM %s r%s) x WHERE k IS NOT NULL",
		t.keyExpr("r"), t.valueExpr("r"), t.Ident(), t.whereClause())
}

// FetchSQL selects (key, value) of the rows whose key columns equal $1..$n
// (given as text in the rendering settings, so they cast back exactly).
func (t Table) FetchSQL() string {
	var conds []string
	for i, c := range t.KeyColumns {
		conds = append(conds, fmt.Sprintf("r.%s = $%d::%s", spec.QuoteIdent(c.Name), i+1, c.Type))
	}
	if t.Where != "" {
		// A row that stopped matching since its change was sent renders
		// nothing, so the worker deletes its key.
		conds = append(conds, t.Where)
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
// functions; a hash keeps it within 63 bytes for any table name. A later
// entry of a table listed more than once has functions of its own, named
// with another prefix (e_) so that no LIKE pattern of the first entry's
// names (t_HASH_%) matches them.
func FuncName(table spec.Table, op string) string {
	sum := sha256.Sum256([]byte(table.Schema + "\x00" + table.Name))
	if table.Entry != "" {
		return "pgredis.e_" + hex.EncodeToString(sum[:])[:16] + "_" + table.Entry + "_" + op
	}
	return "pgredis.t_" + hex.EncodeToString(sum[:])[:16] + "_" + op
}
