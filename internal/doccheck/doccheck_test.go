package doccheck

import (
	"bufio"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// root is the repository, from this package's directory.
const root = "../.."

// page is one checked markdown file, split into lines.
type page struct {
	path  string // slash-separated, relative to root
	lines []string
}

// where names a line of the page for a failure message.
func (p page) where(i int) string { return p.path + ":" + strconv.Itoa(i+1) }

// fenced reports, per line, whether it is inside (or opens or closes) a
// fenced code block, where links and headings are not markdown.
func (p page) fenced() []bool {
	out := make([]bool, len(p.lines))
	in := false
	for i, l := range p.lines {
		t := strings.TrimLeft(l, " ")
		if strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~") {
			out[i], in = true, !in
			continue
		}
		out[i] = in
	}
	return out
}

// readPage reads a markdown file of the repository.
func readPage(rel string) (page, error) {
	f, err := os.Open(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		return page{}, err
	}
	defer f.Close()
	p := page{path: rel}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		p.lines = append(p.lines, sc.Text())
	}
	return p, sc.Err()
}

// pages reads every checked page: README.md, BENCHMARKS.md, docs/*.md.
func pages(t *testing.T) []page {
	t.Helper()
	names := []string{"README.md", "BENCHMARKS.md"}
	more, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range more {
		names = append(names, "docs/"+filepath.Base(m))
	}
	var out []page
	for _, n := range names {
		p, err := readPage(n)
		if err != nil {
			t.Fatalf("reading %s: %v", n, err)
		}
		out = append(out, p)
	}
	return out
}

// codeSpans returns the contents of the line's inline code spans.
func codeSpans(line string) []string {
	var out []string
	for {
		i := strings.IndexByte(line, '`')
		if i < 0 {
			return out
		}
		j := strings.IndexByte(line[i+1:], '`')
		if j < 0 {
			return out
		}
		out = append(out, line[i+1:i+1+j])
		line = line[i+1+j+1:]
	}
}

// withoutCode blanks the line's inline code spans, where a [x](y) is
// text, not a link.
func withoutCode(line string) string {
	b := []byte(line)
	in := false
	for i, c := range b {
		if c == '`' {
			in = !in
			continue
		}
		if in {
			b[i] = ' '
		}
	}
	return string(b)
}

// repoFiles is every file and directory of the repository (not .git or
// ignored build output), slash-separated, and their base names.
type repoFiles struct {
	all   map[string]bool
	base  map[string]bool
	top   map[string]bool // top-level entries
	files map[string]bool // top-level files
	ignor map[string]bool // top-level names .gitignore ignores (/bin/)
}

func listRepo(t *testing.T) repoFiles {
	t.Helper()
	r := repoFiles{all: map[string]bool{}, base: map[string]bool{}, top: map[string]bool{}, files: map[string]bool{}, ignor: map[string]bool{}}
	if raw, err := os.ReadFile(filepath.Join(root, ".gitignore")); err == nil {
		for _, l := range strings.Split(string(raw), "\n") {
			l = strings.TrimSpace(l)
			if strings.HasPrefix(l, "/") && !strings.ContainsAny(l, "*?[") {
				r.ignor[strings.Trim(l, "/")] = true
			}
		}
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		first, _, _ := strings.Cut(rel, "/")
		if first == ".git" || r.ignor[first] {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		r.all[rel] = true
		r.base[path.Base(rel)] = true
		if !strings.Contains(rel, "/") {
			r.top[rel] = true
			r.files[rel] = !d.IsDir()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// exists reports whether rel (a path or a glob) names something in the
// repository.
func (r repoFiles) exists(rel string) bool {
	rel = strings.TrimSuffix(rel, "/")
	if !strings.ContainsAny(rel, "*?[") {
		return r.all[rel]
	}
	for f := range r.all {
		if ok, _ := path.Match(rel, f); ok {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
