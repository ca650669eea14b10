package spec

import (
	"fmt"
	"strings"
)

// ParseName parses a table name as PGREDIS_TABLES spells it: optionally
// schema-qualified (unqualified means public), unquoted parts folded to
// lower case, double-quoted parts kept as written.
func ParseName(s string) (schema, name string, err error) {
	return parseTableName(s)
}

// Named reports whether s, read by PGREDIS_TABLES's rules, names t: for
// public.products, "products", "PRODUCTS", "public.products" and
// `"public"."products"` all do, while for "Settings" only `"Settings"`
// does.
func (t Table) Named(s string) bool {
	schema, name, err := ParseName(s)
	return err == nil && schema == t.Schema && name == t.Name
}

// nameHint explains a table name that failed to parse because of how
// the entry was written rather than the name itself: a quoted name cut
// at a space, or entries separated by ',' instead of ';'.
func nameHint(fields []string) error {
	first := fields[0]
	if strings.Count(first, `"`)%2 == 1 && len(fields) > 1 {
		name := first
		for _, f := range fields[1:] {
			name += " " + f
			if strings.Contains(f, `"`) {
				break
			}
		}
		return fmt.Errorf("table name %s has a space, which PGREDIS_TABLES cannot express (spaces separate a name from its options): rename the table", name)
	}
	if i := strings.IndexByte(first, ','); i >= 0 && strings.Count(first[:i], `"`)%2 == 0 {
		return fmt.Errorf("table name %q contains ',': separate PGREDIS_TABLES entries with ';', e.g. \"users; products\"", first)
	}
	return nil
}

// Written is the entry as a person writes it in PGREDIS_TABLES, with
// every option spelled out: names quoted only where PGREDIS_TABLES needs
// it, so the text reads well in a message (and in a JSON log line).
func (t Table) Written() string {
	name := t.Name
	if t.Schema != "public" || !plainIdent(t.Name) {
		name = writtenIdent(t.Schema) + "." + writtenIdent(t.Name)
	}
	return name + strings.TrimPrefix(t.Canonical(), t.Ident())
}

func writtenIdent(s string) string {
	if plainIdent(s) {
		return s
	}
	return QuoteIdent(s)
}

// plainIdent reports whether s reads back as itself unquoted.
func plainIdent(s string) bool {
	if s == "" || ('0' <= s[0] && s[0] <= '9') {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
