package spec

import (
	"slices"
	"strings"
	"testing"
)

// withKey is the entry with its key resolved as the catalog would
// (Equivalent's precondition); pk is the table's primary key.
func withKey(t *testing.T, s string, pk ...string) Table {
	t.Helper()
	tables, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	tb := tables[0]
	if tb.Key == nil {
		k := DefaultTemplate(tb.Name, pk)
		tb.Key = &k
	}
	return tb
}

func TestEquivalentSpellings(t *testing.T) {
	t.Parallel()
	for _, c := range [][2]string{
		{"users", "users key=users:{id}"},
		{"users", "public.users format=json"},
		{"Users", `"public"."users"`},
		{"users columns=name,id", "users columns=id,name"},
		{"users format=hash columns=b,a,c ttl=60s", "users ttl=1m columns=c,a,b format=hash key=users:{id}"},
		{"users ttl=1500ms", "users ttl=1.5s"},
		{"users ttl=3600000ms", "users ttl=1h"},
		{"users exclude=secret,token", "users exclude=token,secret format=json"},
		{"users where=(a = 1) ttl=1m", "users ttl=60s   where=(a = 1)"},
	} {
		a, b := withKey(t, c[0], "id"), withKey(t, c[1], "id")
		if !Equivalent(a, b) || !Equivalent(b, a) {
			t.Errorf("%q and %q should be equivalent; canonical %q and %q", c[0], c[1], a.Canonical(), b.Canonical())
		}
		if ch := Changes(a, b); len(ch) != 0 {
			t.Errorf("Changes(%q, %q) = %q, want none", c[0], c[1], ch)
		}
	}
}

func TestEquivalentMeaningDiffers(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ a, b, change string }{
		{"users", "users key=user:{id}", "key=users:{id} -> user:{id}"},
		{"users", "orders", "table public.users -> public.orders"},
		{"users", "other.users", "table public.users -> other.users"},
		{"users", `"Users"`, "table public.users -> public.Users"},
		{"users", "users format=hash", "format=json -> hash"},
		// Every column listed is not "every column": a column added
		// later is synced only without columns=.
		{"users", "users columns=id,name", "columns=every column -> id,name"},
		{"users columns=id", "users columns=id,name", "columns=id -> id,name"},
		{"users", "users ttl=1h", "ttl=none -> 1h0m0s"},
		{"users ttl=1m", "users ttl=61s", "ttl=1m0s -> 1m1s"},
		{"users key=u:{id}:{name}", "users key=u:{name}:{id}", "key=u:{id}:{name} -> u:{name}:{id}"},
		// Leaving a column out is not listing the others: a column added
		// later is synced with exclude= and not with columns=.
		{"users", "users exclude=secret", "exclude=none -> secret"},
		{"users exclude=a", "users exclude=a,b", "exclude=a -> a,b"},
		{"users", "users where=(a = 1)", "where=every row -> (a = 1)"},
		{"users", "users expire_at=until", "expire_at=none -> until"},
		{"users expire_at=a", "users expire_at=b", "expire_at=a -> b"},
		{"users where=(a = 1)", "users where=(a = 2)", "where=(a = 1) -> (a = 2)"},
		{"users columns=id,name", "users exclude=secret", "exclude=none -> secret"},
	} {
		a, b := withKey(t, c.a, "id"), withKey(t, c.b, "id")
		if Equivalent(a, b) {
			t.Errorf("%q and %q should differ; both canonical %q", c.a, c.b, a.Canonical())
		}
		if ch := Changes(a, b); !slices.Contains(ch, c.change) {
			t.Errorf("Changes(%q, %q) = %q, want it to hold %q", c.a, c.b, ch, c.change)
		}
	}
	// The same spelling with another primary key is another key.
	if a, b := withKey(t, "users", "id"), withKey(t, "users", "tenant", "id"); Equivalent(a, b) {
		t.Errorf("default keys of different primary keys compare equal: %q", a.Canonical())
	}
}

// Canonical is one spelling of the meaning: it parses back to an
// equivalent entry, and every spelling of one meaning renders the same.
func TestCanonicalIsAFixedPoint(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"users",
		"users columns=z,a,m format=hash ttl=90s",
		`"My"."Ta""ble" key={b}:{a} columns=b,a`,
		"users exclude=z,a format=hash",
		"users where=(a = 'x; y=z' AND b)",
		"users expire_at=until format=hash exclude=x where=(y)",
	} {
		a := withKey(t, s, "id")
		c := a.Canonical()
		b := withKey(t, c, "id")
		if b.Canonical() != c || !Equivalent(a, b) {
			t.Errorf("%q: canonical %q re-parses to %q", s, c, b.Canonical())
		}
		if !strings.HasPrefix(c, a.Ident()+" ") || a.Options() != strings.TrimPrefix(c, a.Ident()+" ") {
			t.Errorf("%q: Options %q is not Canonical %q without the table", s, a.Options(), c)
		}
	}
	if got := withKey(t, "t columns=c,a,b", "id").Normalized().Columns; !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("Normalized columns %q, want sorted", got)
	}
	if got := withKey(t, "t exclude=c,a,b", "id").Normalized().Exclude; !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("Normalized exclude %q, want sorted", got)
	}
	if got := withKey(t, "t", "id").Normalized().Columns; got != nil {
		t.Errorf("Normalized made every column into %q", got)
	}
}
