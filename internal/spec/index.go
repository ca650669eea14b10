package spec

import (
	"fmt"
	"slices"
	"strings"
)

// Index is one index= option: a Redis set per name the template renders,
// holding the keys of the rows that render it, or a sorted set scored by
// the Score column when one is given (index=TEMPLATE@COLUMN).
type Index struct {
	Template Template
	// Score is the column scoring a sorted set; empty for a plain set.
	Score string
}

func (x Index) String() string {
	if x.Score == "" {
		return x.Template.String()
	}
	return x.Template.String() + "@" + x.Score
}

// Columns lists the columns the index reads: its placeholders, then the
// score column.
func (x Index) Columns() []string {
	cols := x.Template.Columns()
	if x.Score != "" {
		cols = append(cols, x.Score)
	}
	return cols
}

// parseIndex parses index=TEMPLATE or index=TEMPLATE@COLUMN. The score
// column follows the last '@' after the last placeholder, so a template's
// literal text may hold '@' ("by@{org}" has no score column).
func parseIndex(val string) (Index, error) {
	tmpl, score := val, ""
	if i := strings.LastIndexByte(val, '@'); i >= 0 && i > strings.LastIndexByte(val, '}') {
		tmpl, score = val[:i], val[i+1:]
		if score == "" {
			return Index{}, fmt.Errorf("index=%s: @ names no column: give the numeric or timestamp column that scores the sorted set, or leave the @ out", val)
		}
		if strings.ContainsAny(score, "{}@") {
			return Index{}, fmt.Errorf("index=%s: %q after @ is not a column name", val, score)
		}
	}
	t, err := parseTemplate("index", tmpl, false)
	if err != nil {
		return Index{}, err
	}
	return Index{Template: t, Score: score}, nil
}

// sortedIndexes is the indexes in canonical order: they are a set.
func sortedIndexes(xs []Index) []Index {
	s := slices.Clone(xs)
	slices.SortFunc(s, func(a, b Index) int { return strings.Compare(a.String(), b.String()) })
	return s
}

// indexList is the indexes as one line, for messages.
func indexList(xs []Index) string {
	if len(xs) == 0 {
		return "none"
	}
	var names []string
	for _, x := range sortedIndexes(xs) {
		names = append(names, x.String())
	}
	return strings.Join(names, " ")
}

// checkIndexes rejects an entry's index templates that could render the
// same name as another of its templates (its key, if given, or another
// index); notify.CheckOverlaps checks them against every entry's
// resolved key and the state prefix.
func checkIndexes(t Table) error {
	for i, a := range t.Indexes {
		if t.Key != nil && a.Template.Overlaps(*t.Key) {
			return fmt.Errorf("index=%s could produce the same name as key=%s: give the index a distinct literal prefix", a.Template, t.Key)
		}
		for _, b := range t.Indexes[i+1:] {
			if a.Template.Overlaps(b.Template) {
				return fmt.Errorf("index=%s and index=%s could produce the same name: give one a distinct literal prefix", a.Template, b.Template)
			}
		}
	}
	return nil
}
