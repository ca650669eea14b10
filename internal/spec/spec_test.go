package spec

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	t.Parallel()
	got, err := Parse(` users ;public.orders key=order:{tenant_id}:{id} format=hash columns=id,status,total ttl=1h; "My"."Tab.le" ;`)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`"public"."users" format=json`,
		`"public"."orders" key=order:{tenant_id}:{id} format=hash columns=id,status,total ttl=1h0m0s`,
		`"My"."Tab.le" format=json`,
	}
	var canon []string
	for _, tb := range got {
		canon = append(canon, tb.Canonical())
	}
	if !slices.Equal(canon, want) {
		t.Fatalf("got %q, want %q", canon, want)
	}
	if got[1].TTL != time.Hour || got[1].Format != FormatHash || !slices.Equal(got[1].Columns, []string{"id", "status", "total"}) {
		t.Fatalf("orders parsed as %+v", got[1])
	}
	if got[0].Key != nil || got[0].Columns != nil {
		t.Fatalf("users without options parsed as %+v", got[0])
	}
}

// index= may be given more than once; the canonical form lists the
// indexes sorted, and a score column follows the last '@' after the last
// placeholder.
func TestParseIndex(t *testing.T) {
	t.Parallel()
	got, err := Parse("users index=org:{org}@age index=a@b:{x} index=all")
	if err != nil {
		t.Fatal(err)
	}
	if c := got[0].Canonical(); c != `"public"."users" format=json index=a@b:{x} index=all index=org:{org}@age` {
		t.Fatalf("Canonical = %s", c)
	}
	xs := got[0].Indexes
	if len(xs) != 3 || xs[0].Score != "age" || xs[0].Template.String() != "org:{org}" || xs[1].Score != "" || xs[1].Template.String() != "a@b:{x}" || xs[2].Template.String() != "all" {
		t.Fatalf("indexes parsed as %+v", xs)
	}
	b, _ := Parse("users index=all index=org:{org}@n")
	if ch := Changes(got[0], b[0]); len(ch) != 1 || !strings.HasPrefix(ch[0], "index=a@b:{x} all org:{org}@age -> all org:{org}@n") {
		t.Fatalf("Changes = %q", ch)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"", "names no table"},
		{" ; ;", "names no table"},
		{"users; USERS", "twice"},
		{"users; public.users", "twice"},
		{"users nokey", "not option=value"},
		{"users color=red", `unknown option "color"`},
		{"users format=xml", `unknown format "xml"`},
		{"users format=json format=hash", "given twice"},
		{"users ttl=5", "not a Go duration"},
		{"users ttl=1fortnight", "not a Go duration"},
		{"users ttl=0s", "at least 1ms"},
		{"users ttl=-1s", "at least 1ms"},
		{"users ttl=1500us", "millisecond precision"},
		{"users columns=", "empty column name"},
		{"users columns=a,,b", "empty column name"},
		{"users columns=a,a", "twice"},
		{"users exclude=", "exclude= has an empty column name"},
		{"users exclude=a,", "empty column name"},
		{"users exclude=a,a", "exclude= names a twice"},
		{"users columns=a exclude=b", "columns= and exclude= cannot be combined"},
		{"users exclude=b columns=a", "columns= and exclude= cannot be combined"},
		{"users where=(a = 1", "unbalanced parentheses"},
		{"users where=((a = 1)", "unbalanced parentheses"},
		{"users where=(a = ')", "unterminated single-quoted literal"},
		{`users where=("a)" = 1`, "unbalanced parentheses"},
		{`users where=(a = "x)`, "unterminated double-quoted identifier"},
		{"users where=(a = E'\\')", "unterminated single-quoted literal"},
		{"users where=(a = 1)x", "put a space between options"},
		{"users where=(a = 1) OR (b = 2)", "not option=value"},
		{"users where=a=1", "needs parentheses: where=(a=1)"},
		{"users where=()", "where=() is empty"},
		{"users where=( )", "where=() is empty"},
		{"users where=(a = 1 -- x\n)", "comment"},
		{"users where=(a /* x */ = 1)", "comment"},
		{"users where=(a = $$x$$)", "dollar quoting"},
		{"users where=(a = $1)", "dollar quoting"},
		{"users where=(a) where=(b)", "given twice"},
		{"users expire_at=", "expire_at= names no column"},
		{"users expire_at=at ttl=1h", "ttl= and expire_at= cannot be combined"},
		{"users ttl=1h expire_at=at", "ttl= and expire_at= cannot be combined"},
		{"users expire_at=a expire_at=b", "given twice"},
		{"users key=", "empty"},
		{"users index=", "index= is empty"},
		{"users index=by:{a", "index=by:{a: unclosed {"},
		{"users index=by:{a}@", "@ names no column"},
		{"users index=by:{a}@b}", "} without {"},
		{"users index=by:{a} index=by:{a}", "index=by:{a} given twice"},
		{"users index=by:{a} index=by:{b}@n", "could produce the same name"},
		{"users key=u:{id} index=u:{a}:x", "could produce the same name as key=u:{id}"},
		{"users index=all index=al{x}", "could produce the same name"},
		{"users key=user", "no {column} placeholder"},
		{"users key=user:{id", "unclosed {"},
		{"users key=user:{}", "not a column name"},
		{"users key=user:{a{b}", "not a column name"},
		{"users key=user:}{id}", "} without {"},
		{"a.b.c", "more than one dot"},
		{`"unterminated`, "unterminated quoted identifier"},
		{"users.", "ends with a dot"},
		{".users", "empty identifier"},
		{`"a"b`, "unexpected"},
		{strings.Repeat("x", 64), "63 bytes"},
	} {
		_, err := Parse(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", c.in, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("Parse(%q): error spans lines: %q", c.in, err)
		}
	}
}

func TestParseTableNameFolding(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Users":          "public.users",
		`"Users"`:        "public.Users",
		`Sales."Q1"`:     "sales.Q1",
		`"a""b".c`:       `a"b.c`,
		"Ünits":          "public.Ünits", // PostgreSQL folds ASCII letters only
		"ÄB":             "public.Äb",
		`"with.dot".TBL`: "with.dot.tbl",
	} {
		got, err := Parse(in)
		if err != nil {
			t.Errorf("Parse(%q): %v", in, err)
			continue
		}
		if got[0].String() != want {
			t.Errorf("Parse(%q) names %q, want %q", in, got[0].String(), want)
		}
	}
}

// Mistakes in how entries are written get a hint at the fix, not just
// the symptom a parser sees.
func TestParseHints(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"users, products", "separate PGREDIS_TABLES entries with ';'"},
		{"users,products", "separate PGREDIS_TABLES entries with ';'"},
		{`sales."Line Items"`, `table name sales."Line Items" has a space`},
		{`sales."Line Items" format=hash`, `table name sales."Line Items" has a space`},
		{"users key=u:{id} products", "entries are separated by ';'"},
	} {
		_, err := Parse(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", c.in, err, c.want)
		}
	}
	// A comma inside a quoted name is part of the name.
	if got, err := Parse(`"a,b"`); err != nil || got[0].Name != "a,b" {
		t.Errorf(`Parse("a,b") = %v, %v`, got, err)
	}
}

func TestNamed(t *testing.T) {
	t.Parallel()
	tables, err := Parse(`products; "Settings"; sales."Q1"`)
	if err != nil {
		t.Fatal(err)
	}
	products, settings, q1 := tables[0], tables[1], tables[2]
	for _, c := range []struct {
		t    Table
		name string
		want bool
	}{
		{products, "products", true},
		{products, "PRODUCTS", true},
		{products, "public.products", true},
		{products, `"public"."products"`, true},
		{products, `"Products"`, false},
		{products, "other.products", false},
		{settings, `"Settings"`, true},
		{settings, `public."Settings"`, true},
		{settings, "Settings", false},
		{settings, "settings", false},
		{q1, `Sales."Q1"`, true},
		{q1, "sales.q1", false},
		{q1, `"unterminated`, false},
	} {
		if got := c.t.Named(c.name); got != c.want {
			t.Errorf("%s.Named(%q) = %v, want %v", c.t, c.name, got, c.want)
		}
	}
}

func TestWritten(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"products":                    "products format=json",
		"Public.Products format=hash": "products format=hash",
		`"Settings" key=s:{id}`:       `public."Settings" key=s:{id} format=json`,
		"sales.orders columns=id,v":   "sales.orders format=json columns=id,v",
	} {
		got, err := Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		w := got[0].Written()
		if w != want {
			t.Errorf("Parse(%q).Written() = %q, want %q", in, w, want)
		}
		again, err := Parse(w)
		if err != nil || again[0].Canonical() != got[0].Canonical() {
			t.Errorf("Written %q does not read back as %q: %v", w, got[0].Canonical(), err)
		}
	}
}

// where= keeps its parenthesised expression whole: spaces, ';', '=' and
// parentheses inside literals, quoted identifiers and escape strings.
func TestParseWhere(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, where string }{
		{"users where=(status = 'active')", "(status = 'active')"},
		{"users where=(a = 'x; y' AND (b > 1 OR c IS NULL)) ttl=1h", "(a = 'x; y' AND (b > 1 OR c IS NULL))"},
		{"users where=(note <> 'it''s (odd')", "(note <> 'it''s (odd')"},
		{`users where=("we)ird" = 1)`, `("we)ird" = 1)`},
		{`users where=(a = E'\')(')`, `(a = E'\')(')`},
		{"users where=(a$b = 1)", "(a$b = 1)"},
		{"users where=(x\n= 1);", "(x\n= 1)"},
	} {
		got, err := Parse(c.in + "; orders")
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if len(got) != 2 || got[0].Where != c.where || got[1].Name != "orders" {
			t.Errorf("Parse(%q) = %+v, want where %q and then orders", c.in, got, c.where)
			continue
		}
		again, err := Parse(got[0].Canonical())
		if err != nil || again[0].Where != c.where {
			t.Errorf("Canonical %q re-parses to %+v, %v", got[0].Canonical(), again, err)
		}
	}
}

// A table may be listed more than once with different key templates: the
// first entry is the table's as if listed once (Entry empty), a later one
// is named by a hash of its key template as written, whatever else the
// list holds or where the entry sits.
func TestParseTableListedTwice(t *testing.T) {
	t.Parallel()
	got, err := Parse("users; orders; public.users key=user_by_email:{email} format=hash columns=id,name; USERS key=u:{name}")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[0].Entry != "" || got[1].Entry != "" || got[2].Entry == "" || got[3].Entry == "" || got[2].Entry == got[3].Entry {
		t.Fatalf("entries %+v", got)
	}
	if got[2].Entry != EntryID("user_by_email:{email}") || len(got[2].Entry) != 8 {
		t.Fatalf("entry %q, want the hash of its key template", got[2].Entry)
	}
	if got[0].ID() != "public.users" || got[2].ID() != "public.users#"+got[2].Entry {
		t.Fatalf("IDs %q %q", got[0].ID(), got[2].ID())
	}
	if l := got[2].Label(); l != "public.users (key=user_by_email:{email})" {
		t.Fatalf("Label = %q", l)
	}
	again, err := Parse("public.users key=u:{name}; orders; users key=user_by_email:{email} format=json; users")
	if err != nil {
		t.Fatal(err)
	}
	if again[0].Entry != "" || again[2].Entry != got[2].Entry || again[3].Entry != EntryID("") {
		t.Fatalf("entries %+v", again)
	}
	for _, c := range []struct{ in, want string }{
		{"users; USERS", "lists table public.users twice without key="},
		{"users key=a:{id}; orders; public.users key=a:{id} format=hash", "lists table public.users twice with key=a:{id}"},
	} {
		if _, err := Parse(c.in); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) = %v, want %q", c.in, err, c.want)
		}
	}
}
