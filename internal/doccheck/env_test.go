package doccheck

import (
	"go/ast"
	"go/constant"
	"go/parser"
	"go/token"
	"go/types"
	"io/fs"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// varRE is a variable in scope: DATABASE_URL, REDIS_URL and PGREDIS_*
// (other programs' variables, PGPASSWORD or GOBIN, are theirs to document).
// PGREDIS_REDIS_* is a family, not a name.
var varRE = regexp.MustCompile(`\b(DATABASE_URL|REDIS_URL|PGREDIS_[A-Z0-9_]*[A-Z0-9])\b`)

// notAVarRE exempts a name the page uses on purpose as one pgredis does
// not read (a misspelling it warns about), written next to it as
// <!-- doccheck: not a variable: NAME -->.
var notAVarRE = regexp.MustCompile(`<!-- doccheck: not a variable: ([A-Z0-9_]+) -->`)

// testOnly are the packages whose variables configure the test suite or
// the benchmark, not pgredis; every _test.go file is too.
var testOnly = []string{"internal/testenv", "internal/pgredistest", "cmd/pgredis-bench"}

// readVars is what the code reads: variable name -> where it is read.
type readVars map[string]string

// codeVars parses every package of the module and returns the variables
// pgredis reads (non-test code outside testOnly) and those only the tests
// and the benchmark read (every PGREDIS_TEST_* lands here, wherever read).
func codeVars(t *testing.T) (product, tests readVars) {
	t.Helper()
	product, tests = readVars{}, readVars{}
	dirs := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata" || d.Name() == "bin") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") {
			dirs[filepath.Dir(p)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range sortedKeys(dirs) {
		rel, _ := filepath.Rel(root, dir)
		rel = filepath.ToSlash(rel)
		if rel == "internal/doccheck" {
			continue
		}
		fset := token.NewFileSet()
		names, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		// A package's own files and its in-package tests type-check
		// together; an external _test package alone.
		pkgs := map[string][]*ast.File{}
		for _, fn := range names {
			f, err := parser.ParseFile(fset, fn, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatalf("parsing %s: %v", fn, err)
			}
			pkgs[f.Name.Name] = append(pkgs[f.Name.Name], f)
		}
		for _, name := range sortedKeys(pkgs) {
			all := pkgs[name]
			for name, where := range varsRead(t, fset, rel, all) {
				isTest := slices.Contains(testOnly, rel) || strings.HasSuffix(where[:strings.LastIndexByte(where, ':')], "_test.go") ||
					strings.HasPrefix(name, "PGREDIS_TEST_")
				if isTest {
					tests[name] = cmpWhere(tests[name], where)
				} else {
					product[name] = cmpWhere(product[name], where)
				}
			}
		}
	}
	for name := range product {
		delete(tests, name)
	}
	return product, tests
}

func cmpWhere(old, where string) string {
	if old == "" || where < old {
		return where
	}
	return old
}

// fakeImporter hands out empty packages: the names this test needs
// (local types, constants, which identifier is package os) type-check
// without the module's dependencies, and the errors about the rest are
// ignored.
type fakeImporter struct{}

func (fakeImporter) Import(p string) (*types.Package, error) {
	name := p[strings.LastIndexByte(p, '/')+1:]
	if strings.HasPrefix(name, "v") && strings.Trim(name[1:], "0123456789") == "" {
		name = p[:strings.LastIndexByte(p, '/')]
		name = name[strings.LastIndexByte(name, '/')+1:]
	}
	pkg := types.NewPackage(p, name)
	pkg.MarkComplete()
	return pkg, nil
}

// varsRead finds, in one package's files, the variables read through
// envconfig.Process (its prefix and the struct's tags, by envconfig's own
// rules) and os.Getenv / os.LookupEnv with a constant name, or with a
// parameter of a function called with a constant name (envInt(name, def)).
func varsRead(t *testing.T, fset *token.FileSet, rel string, files []*ast.File) readVars {
	t.Helper()
	info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}, Uses: map[*ast.Ident]types.Object{}, Defs: map[*ast.Ident]types.Object{}}
	conf := types.Config{Importer: fakeImporter{}, Error: func(error) {}}
	_, _ = conf.Check(rel, fset, files, info)
	out := readVars{}
	pos := func(n ast.Node) string {
		p := fset.Position(n.Pos())
		return rel + "/" + filepath.Base(p.Filename) + ":" + strconv.Itoa(p.Line)
	}
	add := func(name, where string) {
		if varRE.MatchString(name) && varRE.FindString(name) == name {
			out[name] = cmpWhere(out[name], where)
		}
	}
	constString := func(e ast.Expr) (string, bool) {
		tv, ok := info.Types[e]
		if !ok || tv.Value == nil || tv.Value.Kind() != constant.String {
			return "", false
		}
		return constant.StringVal(tv.Value), true
	}
	pkgCall := func(call *ast.CallExpr, path string, names ...string) bool {
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || !slices.Contains(names, sel.Sel.Name) {
			return false
		}
		id, ok := sel.X.(*ast.Ident)
		if !ok {
			return false
		}
		pn, ok := info.Uses[id].(*types.PkgName)
		return ok && pn.Imported().Path() == path
	}
	// getenvParams: functions whose parameter i is the name they Getenv.
	getenvParams := map[types.Object]int{}
	for _, f := range files {
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			var params []types.Object
			for _, field := range fd.Type.Params.List {
				for _, n := range field.Names {
					params = append(params, info.Defs[n])
				}
			}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) == 0 {
					return true
				}
				switch {
				case pkgCall(call, "os", "Getenv", "LookupEnv"):
					if name, ok := constString(call.Args[0]); ok {
						add(name, pos(call))
						return true
					}
					if id, ok := call.Args[0].(*ast.Ident); ok {
						if i := slices.Index(params, info.Uses[id]); i >= 0 {
							getenvParams[info.Defs[fd.Name]] = i
							return true
						}
					}
					t.Errorf("%s: os.%s of a name this test cannot read: pass a string constant (or a parameter of a function called with one), so the docs check knows the variable",
						pos(call), call.Fun.(*ast.SelectorExpr).Sel.Name)
				case pkgCall(call, "github.com/kelseyhightower/envconfig", "Process", "MustProcess", "CheckDisallowed"):
					prefix, ok := constString(call.Args[0])
					if !ok || len(call.Args) < 2 {
						t.Errorf("%s: envconfig with a prefix this test cannot read: pass a string constant", pos(call))
						return true
					}
					st, ok := structOf(info.Types[call.Args[1]].Type)
					if !ok {
						t.Errorf("%s: envconfig of a value this test cannot resolve to a struct of this package", pos(call))
						return true
					}
					for _, v := range envconfigNames(prefix, st) {
						add(v.name, pos(v))
					}
				}
				return true
			})
		}
	}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			id, ok := call.Fun.(*ast.Ident)
			if !ok {
				return true
			}
			i, ok := getenvParams[info.Uses[id]]
			if ok && i < len(call.Args) {
				if name, ok := constString(call.Args[i]); ok {
					add(name, pos(call))
				}
			}
			return true
		})
	}
	return out
}

// structOf is the struct a pointer (or value) argument of envconfig holds.
func structOf(ty types.Type) (*types.Struct, bool) {
	if ty == nil {
		return nil, false
	}
	if p, ok := types.Unalias(ty).(*types.Pointer); ok {
		ty = p.Elem()
	}
	st, ok := types.Unalias(ty).Underlying().(*types.Struct)
	return st, ok
}

type envField struct {
	name  string
	field types.Object
	alt   bool // the bare tag, read when the prefixed key is unset
}

// Pos and End make an envField an ast.Node for the position helper.
func (f envField) Pos() token.Pos { return f.field.Pos() }
func (f envField) End() token.Pos { return f.field.Pos() }

// envconfig's own rules (github.com/kelseyhightower/envconfig v1.4.0,
// gatherInfo): a field's key is its `envconfig` tag, else its name
// (split at word boundaries with split_words:"true"), after the prefix
// and an underscore, upper-cased; with a prefix the bare tag is read too.
// `ignored:"true"` and unexported fields are skipped; a struct field
// (not a decoder) is recursed into under its key (an embedded one under
// the prefix).
var (
	gatherRE  = regexp.MustCompile("([^A-Z]+|[A-Z]+[^A-Z]+|[A-Z]+)")
	acronymRE = regexp.MustCompile("([A-Z]+)([A-Z][^A-Z]+)")
)

func envconfigNames(prefix string, st *types.Struct) []envField {
	var out []envField
	isTrue := func(s string) bool { b, _ := strconv.ParseBool(s); return b }
	for i := range st.NumFields() {
		f := st.Field(i)
		tag := reflect.StructTag(st.Tag(i))
		if !f.Exported() || isTrue(tag.Get("ignored")) {
			continue
		}
		key := f.Name()
		if isTrue(tag.Get("split_words")) {
			var words []string
			for _, w := range gatherRE.FindAllString(key, -1) {
				if m := acronymRE.FindStringSubmatch(w); len(m) == 3 {
					words = append(words, m[1], m[2])
				} else {
					words = append(words, w)
				}
			}
			if len(words) > 0 {
				key = strings.Join(words, "_")
			}
		}
		alt := strings.ToUpper(tag.Get("envconfig"))
		if alt != "" {
			key = alt
		}
		if prefix != "" {
			key = prefix + "_" + key
		}
		key = strings.ToUpper(key)
		ft := f.Type()
		for {
			p, ok := types.Unalias(ft).(*types.Pointer)
			if !ok {
				break
			}
			ft = p.Elem()
		}
		if inner, ok := types.Unalias(ft).Underlying().(*types.Struct); ok && !decodes(ft) {
			innerPrefix := prefix
			if !f.Anonymous() {
				innerPrefix = key
			}
			out = append(out, envconfigNames(innerPrefix, inner)...)
			continue
		}
		out = append(out, envField{key, f, false})
		if prefix != "" && alt != "" {
			out = append(out, envField{alt, f, true})
		}
	}
	return out
}

// decodes reports whether envconfig decodes the type itself instead of
// recursing into its fields.
func decodes(ty types.Type) bool {
	named, ok := types.Unalias(ty).(*types.Named)
	if !ok {
		return false
	}
	ms := types.NewMethodSet(types.NewPointer(named))
	for _, m := range []string{"Decode", "Set", "UnmarshalText", "UnmarshalBinary"} {
		if ms.Lookup(named.Obj().Pkg(), m) != nil {
			return true
		}
	}
	return false
}

// documentedIn lists the variables a page documents: the ones in
// backticks in the first cell of a table row.
func documentedIn(p page) map[string]bool {
	out := map[string]bool{}
	for _, l := range p.lines {
		if !strings.HasPrefix(l, "|") {
			continue
		}
		cells := strings.Split(l, "|")
		if len(cells) < 3 {
			continue
		}
		for _, span := range codeSpans(cells[1]) {
			if varRE.FindString(span) == span {
				out[span] = true
			}
		}
	}
	return out
}

// TestEnvVars: the variables the docs name are the ones the code reads,
// and every one the code reads is documented: pgredis's in the tables of
// docs/configuration.md and README.md's summary, the test suite's in the
// table of docs/development.md.
func TestEnvVars(t *testing.T) {
	t.Parallel()
	product, tests := codeVars(t)
	if len(product) == 0 || product["DATABASE_URL"] == "" {
		t.Fatalf("found none of pgredis's variables in the code (%v): the parse of cmd/pgredis/config.go is broken", product)
	}
	byPath := map[string]page{}
	for _, p := range pages(t) {
		byPath[p.path] = p
		exempt := map[string]bool{}
		for _, l := range p.lines {
			for _, m := range notAVarRE.FindAllStringSubmatch(l, -1) {
				exempt[m[1]] = true
			}
		}
		for i, l := range p.lines {
			for _, name := range varRE.FindAllString(l, -1) {
				if product[name] == "" && tests[name] == "" && !exempt[name] {
					t.Errorf("%s: %s is not a variable pgredis or its tests read (no envconfig tag in cmd/pgredis/config.go, no os.Getenv of it): fix the name, or, if it is named on purpose as one pgredis does not read, add <!-- doccheck: not a variable: %s --> to the page", p.where(i), name, name)
				}
			}
		}
	}
	need := func(rel string, vars readVars, what string) {
		p, ok := byPath[rel]
		if !ok {
			t.Errorf("%s is missing: it documents %s", rel, what)
			return
		}
		doc := documentedIn(p)
		for _, name := range sortedKeys(vars) {
			if !doc[name] {
				t.Errorf("%s reads %s, which %s does not document: add a row for it (| `%s` | meaning | default |) to %s's table of %s", vars[name], name, rel, name, rel, what)
			}
		}
	}
	need("docs/configuration.md", product, "pgredis's variables")
	need("README.md", product, "pgredis's variables (the configuration summary)")
	need("docs/development.md", tests, "the test suite's variables")
}
