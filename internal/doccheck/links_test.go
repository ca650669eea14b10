package doccheck

import (
	"path"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// link is [text](target), optionally with a "title"; images too.
var linkRE = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)

// headingRE is an ATX heading; a closing run of #s is not its text.
var headingRE = regexp.MustCompile(`^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$`)

// slug is GitHub's anchor for a heading: lower case, markdown links
// reduced to their text, every character but letters, digits, '-', '_'
// and spaces dropped (backticks too), each space a '-'.
func slug(heading string) string {
	heading = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`).ReplaceAllString(heading, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// anchors lists a page's heading anchors; a repeated heading gets -1, -2 ...
func anchors(p page) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	fenced := p.fenced()
	for i, l := range p.lines {
		m := headingRE.FindStringSubmatch(l)
		if m == nil || fenced[i] {
			continue
		}
		s := slug(m[1])
		if n := seen[s]; n > 0 {
			out[s+"-"+strconv.Itoa(n)] = true
		} else {
			out[s] = true
		}
		seen[s]++
	}
	return out
}

func TestSlug(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"`PGREDIS_TABLES` grammar":                              "pgredis_tables-grammar",
		"Heroku-style release + worker":                         "heroku-style-release--worker",
		"One table's trouble stays its own":                     "one-tables-trouble-stays-its-own",
		"Capture: roles, settings, encodings, two-phase commit": "capture-roles-settings-encodings-two-phase-commit",
		"Connection poolers (PgBouncer)":                        "connection-poolers-pgbouncer",
		"Cron / scheduler":                                      "cron--scheduler",
	} {
		if got := slug(in); got != want {
			t.Errorf("slug(%q) = %q, want %q", in, got, want)
		}
	}
	got := anchors(page{lines: []string{"# A", "## A", "```", "# A", "```", "### A ##"}})
	for _, want := range []string{"a", "a-1", "a-2"} {
		if !got[want] {
			t.Errorf("anchors of a heading repeated three times lack %q: %v", want, got)
		}
	}
	if got["a-3"] {
		t.Errorf("a heading in a code block counted: %v", got)
	}
}

// TestLinks: every relative link leads to a file of the repository and,
// with #anchor, to a heading of that page.
func TestLinks(t *testing.T) {
	t.Parallel()
	repo := listRepo(t)
	cache := map[string]map[string]bool{}
	anchorsOf := func(rel string) (map[string]bool, bool) {
		if a, ok := cache[rel]; ok {
			return a, a != nil
		}
		p, err := readPage(rel)
		if err != nil {
			cache[rel] = nil
			return nil, false
		}
		cache[rel] = anchors(p)
		return cache[rel], true
	}
	for _, p := range pages(t) {
		fenced := p.fenced()
		for i, l := range p.lines {
			if fenced[i] {
				continue
			}
			for _, m := range linkRE.FindAllStringSubmatch(withoutCode(l), -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				file, anchor, _ := strings.Cut(target, "#")
				rel := p.path
				if file != "" {
					rel = path.Clean(path.Join(path.Dir(p.path), file))
					if strings.HasPrefix(rel, "../") || !repo.exists(rel) {
						t.Errorf("%s: link %s: there is no %s in the repository: fix the link or restore the file", p.where(i), target, rel)
						continue
					}
				}
				if anchor == "" || !strings.HasSuffix(rel, ".md") {
					continue
				}
				a, ok := anchorsOf(rel)
				if ok && !a[anchor] {
					t.Errorf("%s: link %s: %s has no heading whose anchor is #%s: link to one of its headings (anchors are GitHub's: lower case, punctuation dropped, spaces as -)", p.where(i), target, rel, anchor)
				}
			}
		}
	}
}
