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
		{"users key=", "empty"},
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
