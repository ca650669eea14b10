// Package spec parses PGREDIS_TABLES: which tables to mirror and how.
//
// A parsed Table is not yet checked against the database; notify.Resolve
// fills in what only the catalog knows (primary key, column names and types).
package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Format is the Redis value layout of a table's rows.
type Format string

const (
	FormatJSON Format = "json"
	FormatHash Format = "hash"
)

// Table is one entry of PGREDIS_TABLES.
type Table struct {
	Schema string
	Name   string
	// Key is the key template; nil until resolved when the entry has no key=.
	Key *Template
	// Format is json unless format= says otherwise.
	Format Format
	// Columns lists the value's columns; nil means every column.
	Columns []string
	// TTL is the expiry every write sets; zero means none.
	TTL time.Duration
	// ExpireAt is the expire_at= column: each key expires at the instant
	// it holds; empty for none. Never set together with TTL.
	ExpireAt string
	// Where is the where= expression as written, parentheses included
	// ("(status = 'active')"); empty for every row.
	Where string
	// Exclude lists columns left out of a whole-row value (every other
	// column, including ones added later); nil when not given. Never set
	// together with Columns.
	Exclude []string
	// Indexes are the index= options, in the order given.
	Indexes []Index
	// Entry tells apart the entries of a table listed more than once:
	// empty for its first entry (so a table listed once is installed as
	// it always was), for a later one a hash of its key template as
	// written. Its trigger functions and triggers are named after it.
	Entry string
}

// ID names the entry: the table's name, with the entry's hash for a
// later entry of a table listed more than once.
func (t Table) ID() string {
	if t.Entry == "" {
		return t.String()
	}
	return t.String() + "#" + t.Entry
}

// Label names the entry for people: the table's name, followed for a
// later entry of a table listed more than once by its key template.
func (t Table) Label() string {
	if t.Entry == "" || t.Key == nil {
		return t.String()
	}
	return t.String() + " (key=" + t.Key.String() + ")"
}

// EntryID is the Entry of a later entry of a table whose key template is
// written key (empty for the default key).
func EntryID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])[:8]
}

// Ident is the table's schema-qualified name, quoted for SQL.
func (t Table) Ident() string { return QuoteIdent(t.Schema) + "." + QuoteIdent(t.Name) }

// String is the schema-qualified name as a person writes it.
func (t Table) String() string { return t.Schema + "." + t.Name }

// Canonical renders the entry's meaning in one spelling, so two entries
// that mean the same mirror compare equal as text whatever the user wrote:
// every option spelled out (format=json included), columns= sorted (it is
// a set: a JSON value's keys are in jsonb's order and hash fields have
// none, so the order written changes nothing in Redis), ttl= in Go's
// form (60s and 1m are 1m0s). key= appears only when Key is set: the
// default key depends on the catalog (the primary key), so callers set
// the resolved template before comparing (see Equivalent). It parses back
// to the same Table.
func (t Table) Canonical() string {
	return t.Ident() + t.options()
}

// Options is Canonical without the table name: the entry's options in
// canonical form, for messages.
func (t Table) Options() string { return strings.TrimPrefix(t.options(), " ") }

func (t Table) options() string {
	var b strings.Builder
	if t.Key != nil {
		b.WriteString(" key=" + t.Key.String())
	}
	b.WriteString(" format=" + string(t.Format))
	if t.Columns != nil {
		b.WriteString(" columns=" + strings.Join(sortedColumns(t.Columns), ","))
	}
	if t.Exclude != nil {
		b.WriteString(" exclude=" + strings.Join(sortedColumns(t.Exclude), ","))
	}
	if t.TTL > 0 {
		b.WriteString(" ttl=" + t.TTL.String())
	}
	if t.ExpireAt != "" {
		b.WriteString(" expire_at=" + t.ExpireAt)
	}
	if t.Where != "" {
		b.WriteString(" where=" + t.Where)
	}
	for _, x := range sortedIndexes(t.Indexes) {
		b.WriteString(" index=" + x.String())
	}
	return b.String()
}

// Equivalent reports whether a and b mean the same mirror: the same table,
// key template, format, set of value columns and ttl. A nil Key stands
// for the primary-key default, which only the catalog can resolve: set
// both keys to the resolved templates first, or "users" and
// "users key=users:{id}" compare different.
func Equivalent(a, b Table) bool { return a.Canonical() == b.Canonical() }

// Changes lists, option by option, how b differs from a in meaning
// (e.g. "columns=id,name -> every column"); empty when Equivalent.
func Changes(a, b Table) []string {
	var out []string
	if a.String() != b.String() {
		out = append(out, "table "+a.String()+" -> "+b.String())
	}
	key := func(t Table) string {
		if t.Key == nil {
			return "the primary-key default"
		}
		return t.Key.String()
	}
	if key(a) != key(b) {
		out = append(out, "key="+key(a)+" -> "+key(b))
	}
	if a.Format != b.Format {
		out = append(out, "format="+string(a.Format)+" -> "+string(b.Format))
	}
	cols := func(t Table) string {
		if t.Columns == nil {
			return "every column"
		}
		return strings.Join(sortedColumns(t.Columns), ",")
	}
	if cols(a) != cols(b) {
		out = append(out, "columns="+cols(a)+" -> "+cols(b))
	}
	excl := func(t Table) string {
		if t.Exclude == nil {
			return "none"
		}
		return strings.Join(sortedColumns(t.Exclude), ",")
	}
	if excl(a) != excl(b) {
		out = append(out, "exclude="+excl(a)+" -> "+excl(b))
	}
	ttl := func(t Table) string {
		if t.TTL <= 0 {
			return "none"
		}
		return t.TTL.String()
	}
	if ttl(a) != ttl(b) {
		out = append(out, "ttl="+ttl(a)+" -> "+ttl(b))
	}
	if a.ExpireAt != b.ExpireAt {
		exp := func(t Table) string {
			if t.ExpireAt == "" {
				return "none"
			}
			return t.ExpireAt
		}
		out = append(out, "expire_at="+exp(a)+" -> "+exp(b))
	}
	where := func(t Table) string {
		if t.Where == "" {
			return "every row"
		}
		return t.Where
	}
	if where(a) != where(b) {
		out = append(out, "where="+where(a)+" -> "+where(b))
	}
	if ia, ib := indexList(a.Indexes), indexList(b.Indexes); ia != ib {
		out = append(out, "index="+ia+" -> "+ib)
	}
	return out
}

// sortedColumns is columns in byte order, the canonical order of a set.
func sortedColumns(cols []string) []string {
	s := slices.Clone(cols)
	slices.Sort(s)
	return s
}

// Normalized is t with columns= in canonical (sorted) order; Canonical
// does not depend on it, but what is rendered from the list does.
func (t Table) Normalized() Table {
	if t.Columns != nil {
		t.Columns = sortedColumns(t.Columns)
	}
	if t.Exclude != nil {
		t.Exclude = sortedColumns(t.Exclude)
	}
	if t.Indexes != nil {
		t.Indexes = sortedIndexes(t.Indexes)
	}
	return t
}

// Parse parses PGREDIS_TABLES. Entries are separated by ';', each a table
// name (optionally schema-qualified) followed by option=value pairs.
func Parse(s string) ([]Table, error) {
	var tables []Table
	seen := map[string]bool{}
	keys := map[string]bool{}
	entries, raws, err := splitEntries(s)
	if err != nil {
		return nil, err
	}
	for i, fields := range entries {
		t, err := parseEntry(fields)
		if err != nil {
			return nil, fmt.Errorf("PGREDIS_TABLES entry %q: %w", raws[i], err)
		}
		// A table may be listed more than once, each entry its own
		// mirror under its own key template (their overlap is refused
		// once the keys are resolved, see notify.CheckOverlaps).
		key := ""
		if t.Key != nil {
			key = t.Key.String()
		}
		if keys[t.String()+"\x00"+key] {
			if key == "" {
				return nil, fmt.Errorf("PGREDIS_TABLES lists table %s twice without key= (each entry of a table listed more than once needs its own key template)", t)
			}
			return nil, fmt.Errorf("PGREDIS_TABLES lists table %s twice with key=%s (each entry of a table listed more than once needs its own key template)", t, key)
		}
		keys[t.String()+"\x00"+key] = true
		if seen[t.String()] {
			t.Entry = EntryID(key)
		}
		seen[t.String()] = true
		tables = append(tables, t)
	}
	if len(tables) == 0 {
		return nil, fmt.Errorf("PGREDIS_TABLES names no table")
	}
	return tables, nil
}

func parseEntry(fields []string) (Table, error) {
	if err := nameHint(fields); err != nil {
		return Table{}, err
	}
	schema, name, err := parseTableName(fields[0])
	if err != nil {
		return Table{}, err
	}
	t := Table{Schema: schema, Name: name, Format: FormatJSON}
	given := map[string]bool{}
	for _, f := range fields[1:] {
		opt, val, ok := strings.Cut(f, "=")
		if !ok {
			return Table{}, fmt.Errorf("%q is not option=value (options: key, format, columns, exclude, ttl, expire_at, where, index; PGREDIS_TABLES entries are separated by ';')", f)
		}
		if given[opt] && opt != "index" {
			return Table{}, fmt.Errorf("option %s given twice", opt)
		}
		given[opt] = true
		switch opt {
		case "key":
			tmpl, err := ParseTemplate(val)
			if err != nil {
				return Table{}, err
			}
			t.Key = &tmpl
		case "format":
			switch Format(val) {
			case FormatJSON, FormatHash:
				t.Format = Format(val)
			default:
				return Table{}, fmt.Errorf("unknown format %q (want json or hash)", val)
			}
		case "columns", "exclude":
			if given["columns"] && given["exclude"] {
				return Table{}, fmt.Errorf("columns= and exclude= cannot be combined: list the columns to keep with columns=, or the ones to leave out with exclude=")
			}
			cols, err := columnList(opt, val)
			if err != nil {
				return Table{}, err
			}
			if opt == "columns" {
				t.Columns = cols
			} else {
				t.Exclude = cols
			}
		case "ttl":
			d, err := time.ParseDuration(val)
			if err != nil {
				return Table{}, fmt.Errorf("ttl=%s is not a Go duration such as 90s or 1h: %w", val, err)
			}
			if d < time.Millisecond {
				return Table{}, fmt.Errorf("ttl=%s must be at least 1ms", val)
			}
			if d%time.Millisecond != 0 {
				return Table{}, fmt.Errorf("ttl=%s: Redis expiries have millisecond precision", val)
			}
			t.TTL = d
		case "expire_at":
			if val == "" {
				return Table{}, fmt.Errorf("expire_at= names no column: give the timestamptz, timestamp or date column the key expires at")
			}
			t.ExpireAt = val
		case "where":
			// splitEntries kept a parenthesised value whole.
			if !strings.HasPrefix(val, "(") {
				return Table{}, fmt.Errorf("where=%s needs parentheses: where=(%s)", val, val)
			}
			t.Where = val
		case "index":
			x, err := parseIndex(val)
			if err != nil {
				return Table{}, err
			}
			for _, y := range t.Indexes {
				if y.Template.String() == x.Template.String() {
					return Table{}, fmt.Errorf("index=%s given twice", x.Template)
				}
			}
			t.Indexes = append(t.Indexes, x)
		default:
			return Table{}, fmt.Errorf("unknown option %q (options: key, format, columns, exclude, ttl, expire_at, where, index)", opt)
		}
	}
	if t.TTL > 0 && t.ExpireAt != "" {
		return Table{}, fmt.Errorf("ttl= and expire_at= cannot be combined: a key expires either a fixed time after each write (ttl=) or at its row's instant (expire_at=)")
	}
	if err := checkIndexes(t); err != nil {
		return Table{}, err
	}
	return t, nil
}

// columnList parses the comma-separated column names of columns= or
// exclude=.
func columnList(opt, val string) ([]string, error) {
	cols := strings.Split(val, ",")
	dup := map[string]bool{}
	for _, c := range cols {
		if c == "" {
			return nil, fmt.Errorf("%s=%s has an empty column name", opt, val)
		}
		if dup[c] {
			return nil, fmt.Errorf("%s= names %s twice", opt, c)
		}
		dup[c] = true
	}
	return cols, nil
}

// parseTableName splits [schema.]table. Unquoted names fold to lower case,
// as PostgreSQL folds them; double quotes keep case and allow dots.
func parseTableName(s string) (schema, name string, err error) {
	parts, err := splitQualified(s)
	if err != nil {
		return "", "", err
	}
	switch len(parts) {
	case 1:
		return "public", parts[0], nil
	case 2:
		return parts[0], parts[1], nil
	default:
		return "", "", fmt.Errorf("table name %q has more than one dot", s)
	}
}

func splitQualified(s string) ([]string, error) {
	var parts []string
	for len(s) > 0 {
		var part string
		if s[0] == '"' {
			var b strings.Builder
			i := 1
			for {
				if i >= len(s) {
					return nil, fmt.Errorf("unterminated quoted identifier in %q", s)
				}
				if s[i] == '"' {
					if i+1 < len(s) && s[i+1] == '"' {
						b.WriteByte('"')
						i += 2
						continue
					}
					i++
					break
				}
				b.WriteByte(s[i])
				i++
			}
			part, s = b.String(), s[i:]
		} else {
			end := strings.IndexAny(s, `."`)
			if end < 0 {
				end = len(s)
			}
			part, s = foldIdent(s[:end]), s[end:]
		}
		if part == "" {
			return nil, fmt.Errorf("empty identifier in table name")
		}
		if len(part) > 63 {
			return nil, fmt.Errorf("identifier %q is longer than PostgreSQL's 63 bytes", part)
		}
		parts = append(parts, part)
		if len(s) > 0 {
			if s[0] != '.' {
				return nil, fmt.Errorf("unexpected %q after identifier %q", s[0], part)
			}
			s = s[1:]
			if s == "" {
				return nil, fmt.Errorf("table name ends with a dot")
			}
		}
	}
	return parts, nil
}

// foldIdent folds an unquoted identifier as PostgreSQL does in a UTF-8
// database: ASCII letters only (strings.ToLower would also fold "Ü" and so
// name a table that does not exist).
func foldIdent(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// QuoteIdent quotes a PostgreSQL identifier.
func QuoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// QuoteLiteral quotes a PostgreSQL string literal. It relies on
// standard_conforming_strings, on by default since PostgreSQL 9.1; E” is
// avoided on purpose so backslashes stay literal.
func QuoteLiteral(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }
