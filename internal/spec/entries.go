package spec

import (
	"fmt"
	"strings"
)

// splitEntries splits PGREDIS_TABLES into entries of whitespace-separated
// fields. Entries end at ';' and fields at whitespace, except inside a
// where=(...) value, which runs to its balancing ')' (see whereValue) and
// so may hold spaces, ';' and '='. The raw text of each entry is kept for
// messages.
func splitEntries(s string) (entries [][]string, raws []string, err error) {
	var fields []string
	start := 0
	flush := func(end int) {
		if len(fields) > 0 {
			entries = append(entries, fields)
			raws = append(raws, strings.TrimSpace(s[start:end]))
		}
		fields, start = nil, end+1
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ';':
			flush(i)
			i++
		case isSpace(c):
			i++
		default:
			j := i
			for j < len(s) && s[j] != ';' && !isSpace(s[j]) {
				if len(fields) > 0 && s[i:j] == "where=" && s[j] == '(' {
					n, err := whereValue(s[j:])
					if err != nil {
						return nil, nil, fmt.Errorf("PGREDIS_TABLES entry %q: %w", strings.TrimSpace(entryText(s, start)), err)
					}
					j += n
					if j < len(s) && s[j] != ';' && !isSpace(s[j]) {
						return nil, nil, fmt.Errorf("PGREDIS_TABLES entry %q: the ')' closing where= is followed by %q: put a space between options", strings.TrimSpace(entryText(s, start)), s[j])
					}
					break
				}
				j++
			}
			fields = append(fields, s[i:j])
			i = j
		}
	}
	flush(len(s))
	return entries, raws, nil
}

// entryText is the entry starting at start, up to the next ';' (for a
// message about an entry that did not split).
func entryText(s string, start int) string {
	if start > len(s) {
		return ""
	}
	if i := strings.IndexByte(s[start:], ';'); i >= 0 {
		return s[start : start+i]
	}
	return s[start:]
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// whereValue measures the parenthesised expression at the start of s:
// the length up to and including the ')' that balances the first '('.
// Parentheses inside single-quoted literals (E” ones with backslash
// escapes) and double-quoted identifiers do not count. Comments and
// dollar quoting are refused: PostgreSQL would read them differently from
// this scan, and a comment would hide the rest of the generated SQL.
func whereValue(s string) (int, error) {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				if strings.TrimSpace(s[1:i]) == "" {
					return 0, fmt.Errorf("where=() is empty: give a boolean expression over the table's columns, e.g. where=(status = 'active')")
				}
				return i + 1, nil
			}
		case '\'', '"':
			escapes := c == '\'' && i > 0 && (s[i-1] == 'E' || s[i-1] == 'e') && (i < 2 || !identByte(s[i-2]))
			j := i + 1
			for ; j < len(s); j++ {
				if escapes && s[j] == '\\' {
					j++
					continue
				}
				if s[j] == c {
					if j+1 < len(s) && s[j+1] == c {
						j++
						continue
					}
					break
				}
			}
			if j >= len(s) {
				what := "single-quoted literal"
				if c == '"' {
					what = "double-quoted identifier"
				}
				return 0, fmt.Errorf("where= has an unterminated %s: close it, doubling any quote inside it", what)
			}
			i = j
		case '-', '/':
			if i+1 < len(s) && ((c == '-' && s[i+1] == '-') || (c == '/' && s[i+1] == '*')) {
				return 0, fmt.Errorf("where= may not hold a comment (%s): remove it", s[i:i+2])
			}
		case '$':
			if i == 0 || !identByte(s[i-1]) {
				return 0, fmt.Errorf("where= may not hold $ outside a literal (dollar quoting or a parameter): use a single-quoted literal")
			}
		}
	}
	return 0, fmt.Errorf("where= has unbalanced parentheses: it must be one parenthesised expression, e.g. where=(status = 'active'), with every ( closed outside quoted literals")
}

// identByte reports whether c may continue an unquoted identifier (or a
// number), so a quote or $ right after it is part of that token.
func identByte(c byte) bool {
	return c == '_' || c == '$' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c >= 0x80
}
