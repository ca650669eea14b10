package doccheck

import (
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/pgredis/pgredis/internal/spell"
)

// fileExt are the extensions that make a word in backticks a file name
// even without a directory: `go.mod`, `init.sql`, `pgredis.json`. Other
// dotted words are SQL or Go names (`pgredis.queue`, `mirror.WaitForMirror`).
var fileExt = map[string]bool{
	"md": true, "go": true, "sql": true, "mod": true, "sum": true, "yaml": true,
	"yml": true, "json": true, "toml": true, "sh": true, "txt": true,
}

// fileName is a repository-style name: no spaces, quotes, placeholders,
// options or URLs.
var fileName = regexp.MustCompile(`^[A-Za-z0-9_.*?/-]+$`)

// pathToCheck decides whether a code span (or a word of a code block)
// names a repository path, and returns it cleaned: `./cmd/pgredis` is
// cmd/pgredis. Not paths: URLs, commands with arguments, absolute paths,
// flags, placeholders (<x>, ..., {x}), SQL and Go names, image names
// (distroless/static: no directory of the repository, no file extension),
// and build output .gitignore ignores (bin/pgredis).
func pathToCheck(repo repoFiles, s string) (string, bool) {
	s = strings.TrimPrefix(s, "./")
	if s == "" || strings.Contains(s, "...") || strings.Contains(s, "//") || !fileName.MatchString(s) ||
		strings.HasPrefix(s, "/") || strings.HasPrefix(s, "-") {
		return "", false
	}
	s = strings.TrimSuffix(s, "/")
	first, _, nested := strings.Cut(s, "/")
	if repo.ignor[first] {
		return "", false
	}
	base := path.Base(s)
	ext := ""
	if i := strings.LastIndexByte(base, '.'); i > 0 {
		ext = base[i+1:]
	}
	named := fileExt[ext] || strings.HasSuffix(base, "file") && base[0] >= 'A' && base[0] <= 'Z' // Makefile, Dockerfile, Procfile
	if nested {
		return s, repo.top[first] || named
	}
	if strings.ContainsAny(s, "*?") {
		return "", false // a bare glob (`modes_*.go`) names no one file
	}
	// A near miss of a top-level file (`Procfil`, `go.mood`) is a typo.
	return s, named || repo.top[s] || repo.nearTop(s) != ""
}

// TestBacktickedPaths: a repository path the docs name in backticks, or
// in a code block under a directory of the repository (the architecture
// picture), exists. A bare file name (`Makefile`, `tls_test.go`) must be
// a top-level file or some file's name.
func TestBacktickedPaths(t *testing.T) {
	t.Parallel()
	repo := listRepo(t)
	words := regexp.MustCompile(`[^\s()\[\]{},;:"'=|<>│▼─]+`)
	for _, p := range pages(t) {
		fenced := p.fenced()
		for i, l := range p.lines {
			if fenced[i] {
				for _, w := range words.FindAllString(l, -1) {
					w = strings.TrimRight(w, ".")
					s, ok := pathToCheck(repo, w)
					if !ok || !strings.Contains(s, "/") {
						continue
					}
					if first, _, _ := strings.Cut(s, "/"); !repo.top[first] {
						continue
					}
					if !repo.exists(s) {
						t.Errorf("%s: %s (in a code block) does not exist in the repository: fix the path or drop it", p.where(i), s)
					}
				}
				continue
			}
			for _, span := range codeSpans(l) {
				s, ok := pathToCheck(repo, strings.TrimSpace(span))
				if !ok {
					continue
				}
				if strings.Contains(s, "/") {
					if !repo.exists(s) {
						t.Errorf("%s: `%s` does not exist in the repository: fix the path, or write what it names in words", p.where(i), span)
					}
				} else if near := repo.nearTop(s); near != "" && !repo.top[s] {
					t.Errorf("%s: `%s` is no file of the repository: did you mean the top-level %s?", p.where(i), span, near)
				} else if !repo.top[s] && !repo.base[s] {
					t.Errorf("%s: `%s` is neither a top-level file nor any file's name in the repository: fix the name, or give its directory", p.where(i), span)
				}
			}
		}
	}
}

// nearTop is the top-level file s is a typo of, or "": a word with a dot
// or a capitalised one of six letters or more (`go.mood`, `Procfil`), at
// most two edits from the file's name and not that name. Short words and
// identifiers (`id`, `CMD`, `Worker`) are too near too many names.
func (r repoFiles) nearTop(s string) string {
	if len(s) < 6 || !strings.Contains(s, ".") && (s[0] < 'A' || s[0] > 'Z' || strings.ToUpper(s) == s) {
		return ""
	}
	for _, top := range sortedKeys(r.files) {
		if r.files[top] && top != s && spell.Distance(strings.ToLower(s), strings.ToLower(top)) <= 2 {
			return top
		}
	}
	return ""
}
