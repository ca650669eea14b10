package kubernetes

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// repoRoot is pgredis's repository: its package main cannot be imported,
// so the test reads the source as text.
const repoRoot = "../.."

// code is what the manifests must agree with, read from pgredis's source.
type code struct {
	// envVars are the variables the configuration reads (envconfig tags
	// and os.Getenv literals of cmd/pgredis's non-test files).
	envVars map[string]bool
	// commands maps each command of help.go's docs ("migrate up",
	// "worker", ...) to the variables it reads; "all" and "redis" as there.
	commands map[string][]string
	// dispatched are the first words main.go's dispatch knows.
	dispatched map[string]bool
	// routes maps each path http.go serves to whether its handler
	// answers by the worker's Ready (the readiness endpoint).
	routes map[string]bool
	// metricsPath is the route served by promhttp.
	metricsPath string
	// user and group are the Dockerfile's final USER.
	user, group int64
	// stopTimeout is PGREDIS_STOP_TIMEOUT's default, httpShutdown the
	// HTTP server's shutdown bound: a worker exits within their sum.
	stopTimeout, httpShutdown time.Duration
}

func readCode() (*code, error) {
	c := &code{envVars: map[string]bool{}, commands: map[string][]string{}, dispatched: map[string]bool{}, routes: map[string]bool{}}
	dir := filepath.Join(repoRoot, "cmd", "pgredis")
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	files := map[string]*ast.File{}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			return nil, fmt.Errorf("error parsing %q: %w", name, err)
		}
		files[filepath.Base(name)] = f
	}
	for _, need := range []string{"config.go", "help.go", "http.go", "main.go", "worker.go"} {
		if files[need] == nil {
			return nil, fmt.Errorf("cmd/pgredis/%s is gone: teach this test where its facts live now", need)
		}
	}
	prefix, err := envPrefix(files)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		c.readEnv(f, prefix)
	}
	if err := c.readDocs(files["help.go"]); err != nil {
		return nil, err
	}
	c.readDispatch(files["main.go"])
	if err := c.readRoutes(files["http.go"]); err != nil {
		return nil, err
	}
	if err := c.readStopBound(files["http.go"], files["worker.go"]); err != nil {
		return nil, err
	}
	if err := c.readDockerfile(); err != nil {
		return nil, err
	}
	return c, nil
}

// envPrefix is the prefix config.go hands envconfig.Process: with one,
// envconfig reads PREFIX_NAME instead of NAME.
func envPrefix(files map[string]*ast.File) (string, error) {
	prefix, found := "", false
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || !isCall(call, "envconfig", "Process") || len(call.Args) == 0 {
				return true
			}
			if s, ok := stringLit(call.Args[0]); ok {
				prefix, found = s, true
			}
			return true
		})
	}
	if !found {
		return "", fmt.Errorf("no envconfig.Process(\"prefix\", ...) call in cmd/pgredis: teach this test how the configuration is read now")
	}
	return prefix, nil
}

func (c *code) readEnv(f *ast.File, prefix string) {
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.StructType:
			var tagged, untagged []string
			for _, field := range n.Fields.List {
				var tag string
				if field.Tag != nil {
					raw, _ := strconv.Unquote(field.Tag.Value)
					tag = reflect.StructTag(raw).Get("envconfig")
				}
				if tag != "" {
					tagged = append(tagged, tag)
					continue
				}
				for _, name := range field.Names {
					untagged = append(untagged, name.Name)
				}
			}
			if len(tagged) == 0 {
				return true
			}
			// envconfig reads an untagged field by its name, upper-cased.
			for _, name := range untagged {
				tagged = append(tagged, strings.ToUpper(name))
			}
			for _, name := range tagged {
				if prefix != "" {
					name = strings.ToUpper(prefix) + "_" + name
				}
				c.envVars[name] = true
			}
		case *ast.CallExpr:
			if (isCall(n, "os", "Getenv") || isCall(n, "os", "LookupEnv")) && len(n.Args) == 1 {
				if s, ok := stringLit(n.Args[0]); ok {
					c.envVars[s] = true
				}
			}
		}
		return true
	})
}

// readDocs reads help.go's docs map: command -> the variables it reads.
func (c *code) readDocs(f *ast.File) error {
	for _, decl := range f.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok {
			continue
		}
		for _, spec := range gen.Specs {
			vs, ok := spec.(*ast.ValueSpec)
			if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "docs" || len(vs.Values) != 1 {
				continue
			}
			lit, ok := vs.Values[0].(*ast.CompositeLit)
			if !ok {
				continue
			}
			for _, elt := range lit.Elts {
				kv, ok := elt.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				name, ok := stringLit(kv.Key)
				if !ok {
					continue
				}
				c.commands[name] = []string{}
				doc, ok := kv.Value.(*ast.CompositeLit)
				if !ok {
					continue
				}
				for _, field := range doc.Elts {
					fkv, ok := field.(*ast.KeyValueExpr)
					if id, isID := fkv.Key.(*ast.Ident); !ok || !isID || id.Name != "env" {
						continue
					}
					list, ok := fkv.Value.(*ast.CompositeLit)
					if !ok {
						continue
					}
					for _, v := range list.Elts {
						if s, ok := stringLit(v); ok {
							c.commands[name] = append(c.commands[name], s)
						}
					}
				}
			}
		}
	}
	if len(c.commands) == 0 {
		return fmt.Errorf("cmd/pgredis/help.go has no docs map of commands: teach this test where the commands are described now")
	}
	return nil
}

// readDispatch collects the case labels of main.go's dispatch.
func (c *code) readDispatch(f *ast.File) {
	for _, decl := range f.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Name.Name != "dispatch" {
			continue
		}
		ast.Inspect(fn, func(n ast.Node) bool {
			if cc, ok := n.(*ast.CaseClause); ok {
				for _, e := range cc.List {
					if s, ok := stringLit(e); ok {
						c.dispatched[s] = true
					}
				}
			}
			return true
		})
	}
}

// readRoutes reads the "GET /path" patterns of http.go's mux, noting
// which handler answers by the worker's Ready and which is promhttp's.
func (c *code) readRoutes(f *ast.File) error {
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) != 2 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || (sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc") {
			return true
		}
		pattern, ok := stringLit(call.Args[0])
		if !ok {
			return true
		}
		_, path, _ := strings.Cut(pattern, " ")
		if !strings.HasPrefix(path, "/") {
			path = pattern
		}
		ready, metrics := false, false
		ast.Inspect(call.Args[1], func(n ast.Node) bool {
			if s, ok := n.(*ast.SelectorExpr); ok {
				ready = ready || s.Sel.Name == "Ready"
				if x, ok := s.X.(*ast.Ident); ok && x.Name == "promhttp" {
					metrics = true
				}
			}
			return true
		})
		c.routes[path] = ready
		if metrics {
			c.metricsPath = path
		}
		return true
	})
	if len(c.routes) == 0 {
		return fmt.Errorf("cmd/pgredis/http.go registers no route: teach this test where the endpoints are served now")
	}
	return nil
}

// readStopBound reads how long a worker may take to exit after SIGTERM:
// runWorker waits at most PGREDIS_STOP_TIMEOUT for the worker to stop,
// then serveOps's stop at most its own timeout for the HTTP server.
func (c *code) readStopBound(httpGo, workerGo *ast.File) error {
	found := false
	ast.Inspect(workerGo, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if ok && isCall(call, "time", "After") && len(call.Args) == 1 {
			if s, ok := call.Args[0].(*ast.SelectorExpr); ok && s.Sel.Name == "StopTimeout" {
				found = true
			}
		}
		return true
	})
	if !found {
		return fmt.Errorf("cmd/pgredis/worker.go no longer bounds the stop with time.After(e.StopTimeout): work out the new bound and teach this test")
	}
	raw, err := os.ReadFile(filepath.Join(repoRoot, "cmd", "pgredis", "config.go"))
	if err != nil {
		return err
	}
	m := regexp.MustCompile(`envconfig:"PGREDIS_STOP_TIMEOUT" default:"([^"]+)"`).FindSubmatch(raw)
	if m == nil {
		return fmt.Errorf("cmd/pgredis/config.go has no default for PGREDIS_STOP_TIMEOUT")
	}
	if c.stopTimeout, err = time.ParseDuration(string(m[1])); err != nil {
		return err
	}
	for _, decl := range httpGo.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Name.Name != "serveOps" {
			continue
		}
		ast.Inspect(fn, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if ok && isCall(call, "context", "WithTimeout") && len(call.Args) == 2 {
				if d, ok := duration(call.Args[1]); ok {
					c.httpShutdown = max(c.httpShutdown, d)
				} else {
					err = fmt.Errorf("serveOps's shutdown timeout is no constant this test can read")
				}
			}
			return true
		})
	}
	if err == nil && c.httpShutdown == 0 {
		err = fmt.Errorf("serveOps in cmd/pgredis/http.go no longer bounds the HTTP server's shutdown with context.WithTimeout: work out the new bound and teach this test")
	}
	return err
}

// duration evaluates time.Second, 2*time.Second and the like.
func duration(e ast.Expr) (time.Duration, bool) {
	units := map[string]time.Duration{"Millisecond": time.Millisecond, "Second": time.Second, "Minute": time.Minute}
	switch e := e.(type) {
	case *ast.SelectorExpr:
		if x, ok := e.X.(*ast.Ident); ok && x.Name == "time" {
			d, ok := units[e.Sel.Name]
			return d, ok
		}
	case *ast.BinaryExpr:
		if e.Op != token.MUL {
			return 0, false
		}
		a, aok := factor(e.X)
		b, bok := factor(e.Y)
		return a * b, aok && bok
	case *ast.ParenExpr:
		return duration(e.X)
	}
	return 0, false
}

func factor(e ast.Expr) (time.Duration, bool) {
	if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.INT {
		n, err := strconv.Atoi(lit.Value)
		return time.Duration(n), err == nil
	}
	return duration(e)
}

// readDockerfile reads the final stage's USER uid:gid.
func (c *code) readDockerfile() error {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		return err
	}
	users := regexp.MustCompile(`(?m)^USER\s+(\S+)\s*$`).FindAllSubmatch(raw, -1)
	if len(users) == 0 {
		return fmt.Errorf("the Dockerfile has no USER")
	}
	last := string(users[len(users)-1][1])
	u, g, ok := strings.Cut(last, ":")
	if !ok {
		return fmt.Errorf("the Dockerfile's USER %s names no group: the manifests' runAsGroup could not be checked", last)
	}
	if c.user, err = strconv.ParseInt(u, 10, 64); err != nil {
		return fmt.Errorf("the Dockerfile's USER %s is not numeric (Kubernetes' runAsNonRoot needs a uid)", last)
	}
	if c.group, err = strconv.ParseInt(g, 10, 64); err != nil {
		return fmt.Errorf("the Dockerfile's USER %s has no numeric group", last)
	}
	return nil
}

func isCall(call *ast.CallExpr, pkg, name string) bool {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != name {
		return false
	}
	x, ok := sel.X.(*ast.Ident)
	return ok && x.Name == pkg
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}
