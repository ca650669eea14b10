package spec

import (
	"fmt"
	"strings"
)

// Template is a Redis key template: literal text with {column} placeholders.
// Parts alternate literal, column, literal, ...: Parts[0] and every even
// index are literals (possibly empty), odd indexes are column names.
type Template struct {
	Parts []string
}

// ParseTemplate parses literal text with {column} placeholders. A template
// needs at least one placeholder: without one every row would share a key.
func ParseTemplate(s string) (Template, error) { return parseTemplate("key", s, true) }

// parseTemplate parses the template of option opt (key or index); an
// index template may be plain text (one set of every row's key).
func parseTemplate(opt, s string, needPlaceholder bool) (Template, error) {
	if s == "" {
		return Template{}, fmt.Errorf("%s= is empty", opt)
	}
	t := Template{}
	lit := strings.Builder{}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			end := strings.IndexByte(s[i+1:], '}')
			if end < 0 {
				return Template{}, fmt.Errorf("%s=%s: unclosed {", opt, s)
			}
			col := s[i+1 : i+1+end]
			if col == "" || strings.ContainsAny(col, "{") {
				return Template{}, fmt.Errorf("%s=%s: placeholder {%s} is not a column name", opt, s, col)
			}
			t.Parts = append(t.Parts, lit.String(), col)
			lit.Reset()
			i += end + 1
		case '}':
			return Template{}, fmt.Errorf("%s=%s: } without {", opt, s)
		default:
			lit.WriteByte(s[i])
		}
	}
	t.Parts = append(t.Parts, lit.String())
	if len(t.Parts) < 3 && needPlaceholder {
		return Template{}, fmt.Errorf("key=%s has no {column} placeholder, so every row would share one key", s)
	}
	return t, nil
}

// DefaultTemplate is TABLE:{pk1}:{pk2}...
func DefaultTemplate(table string, pk []string) Template {
	t := Template{Parts: []string{table + ":"}}
	for i, c := range pk {
		if i > 0 {
			t.Parts = append(t.Parts, ":")
		}
		t.Parts = append(t.Parts, c)
	}
	// A template always ends with a literal.
	return Template{Parts: append(t.Parts, "")}
}

// Columns lists the placeholder columns in order (with repeats).
func (t Template) Columns() []string {
	var cols []string
	for i := 1; i < len(t.Parts); i += 2 {
		cols = append(cols, t.Parts[i])
	}
	return cols
}

func (t Template) String() string {
	var b strings.Builder
	for i, p := range t.Parts {
		if i%2 == 1 {
			b.WriteString("{" + p + "}")
		} else {
			b.WriteString(p)
		}
	}
	return b.String()
}

// Render builds a key from the placeholder values, given in Columns order.
func (t Template) Render(values []string) string {
	var b strings.Builder
	for i, p := range t.Parts {
		if i%2 == 1 {
			b.WriteString(values[i/2])
		} else {
			b.WriteString(p)
		}
	}
	return b.String()
}

// Glob is the Redis SCAN MATCH pattern of every key the template can
// produce: literals escaped, placeholders as *.
func (t Template) Glob() string {
	var b strings.Builder
	for i, p := range t.Parts {
		if i%2 == 1 {
			b.WriteByte('*')
			continue
		}
		for _, r := range []byte(p) {
			switch r {
			case '*', '?', '[', ']', '\\':
				b.WriteByte('\\')
			}
			b.WriteByte(r)
		}
	}
	return b.String()
}

// Matches reports whether key is one the template could produce. Glob
// matches are rechecked with it, since SCAN MATCH is only a prefilter.
func (t Template) Matches(key string) bool {
	lits := t.literals()
	if len(lits) == 1 {
		return key == lits[0]
	}
	if !strings.HasPrefix(key, lits[0]) {
		return false
	}
	key = key[len(lits[0]):]
	last := lits[len(lits)-1]
	if !strings.HasSuffix(key, last) {
		return false
	}
	key = key[:len(key)-len(last)]
	for _, mid := range lits[1 : len(lits)-1] {
		i := strings.Index(key, mid)
		if i < 0 {
			return false
		}
		key = key[i+len(mid):]
	}
	return true
}

func (t Template) literals() []string {
	var lits []string
	for i := 0; i < len(t.Parts); i += 2 {
		lits = append(lits, t.Parts[i])
	}
	return lits
}

// Overlaps reports whether some key could be produced by both templates.
// Both contain a placeholder, which can stand for any text, so they share a
// key exactly when their leading literals agree (one is a prefix of the
// other) and their trailing literals agree (one is a suffix of the other):
// the middle literals of both can then be laid one after another inside
// the placeholders.
func (t Template) Overlaps(o Template) bool {
	a, b := t.literals(), o.literals()
	// Plain text (an index of every row) is one name: it overlaps what
	// could produce it.
	switch {
	case len(a) == 1:
		return o.Matches(a[0])
	case len(b) == 1:
		return t.Matches(b[0])
	}
	return prefixCompatible(a[0], b[0]) && suffixCompatible(a[len(a)-1], b[len(b)-1])
}

// OverlapsPrefix reports whether the template could produce a key that
// starts with prefix.
func (t Template) OverlapsPrefix(prefix string) bool {
	if len(t.Parts) == 1 {
		return strings.HasPrefix(t.Parts[0], prefix)
	}
	return prefixCompatible(t.Parts[0], prefix)
}

func prefixCompatible(a, b string) bool { return strings.HasPrefix(a, b) || strings.HasPrefix(b, a) }
func suffixCompatible(a, b string) bool { return strings.HasSuffix(a, b) || strings.HasSuffix(b, a) }
