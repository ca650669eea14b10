package spec

import (
	"slices"
	"testing"
)

func mustTemplate(t *testing.T, s string) Template {
	t.Helper()
	tmpl, err := ParseTemplate(s)
	if err != nil {
		t.Fatalf("ParseTemplate(%q): %v", s, err)
	}
	return tmpl
}

func TestTemplateRender(t *testing.T) {
	t.Parallel()
	tm := mustTemplate(t, "order:{tenant}:{id}/{tenant}")
	if got := tm.Columns(); !slices.Equal(got, []string{"tenant", "id", "tenant"}) {
		t.Fatalf("Columns = %q", got)
	}
	if got := tm.Render([]string{"t1", "a:b", "t1"}); got != "order:t1:a:b/t1" {
		t.Fatalf("Render = %q", got)
	}
	if got := tm.String(); got != "order:{tenant}:{id}/{tenant}" {
		t.Fatalf("String = %q", got)
	}
	def := DefaultTemplate("users", []string{"org", "id"})
	if def.String() != "users:{org}:{id}" {
		t.Fatalf("DefaultTemplate = %q", def.String())
	}
	if got := def.Render([]string{"1", "2"}); got != "users:1:2" {
		t.Fatalf("default Render = %q", got)
	}
}

func TestTemplateMatchesAndGlob(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		tmpl string
		yes  []string
		no   []string
	}{
		{"users:{id}", []string{"users:1", "users:", "users:a:b", "users:*"}, []string{"users", "usersX", "xusers:1", "other:1"}},
		{"u:{a}:{b}", []string{"u:1:2", "u::", "u:1:2:3"}, []string{"u:1", "u1:2"}},
		{"{id}:suffix", []string{"1:suffix", ":suffix", "a:suffix:suffix"}, []string{"1:suffi", "suffix"}},
		{"a{x}a", []string{"aa", "aba"}, []string{"a", "ab", "ba"}},
		{"k*[?]\\:{id}", []string{"k*[?]\\:1"}, []string{"kx[?]\\:1", "k*?\\:1", "k*[a]\\:1"}},
		{"x{a}-{b}-{c}y", []string{"x--y", "x1-2-3y", "x-a-b-c-y"}, []string{"x1-2y", "x--", "--y"}},
	} {
		tm := mustTemplate(t, c.tmpl)
		glob := tm.Glob()
		for _, k := range c.yes {
			if !tm.Matches(k) {
				t.Errorf("%s: Matches(%q) = false, want true", c.tmpl, k)
			}
			if !redisGlob(glob, k) {
				t.Errorf("%s: glob %q does not match %q", c.tmpl, glob, k)
			}
		}
		for _, k := range c.no {
			if tm.Matches(k) {
				t.Errorf("%s: Matches(%q) = true, want false", c.tmpl, k)
			}
		}
	}
}

func TestTemplateOverlaps(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"users:{id}", "orders:{id}", false},
		{"users:{id}", "users:{a}:{b}", true},
		{"users:{id}", "usersX:{id}", false},
		{"u{id}", "users:{id}", true},
		{"{id}", "users:{id}", true},
		{"a:{id}:x", "a:{id}:y", false},
		{"a:{id}:x", "a:{id}", true},
		{"{id}:x", "{id}y:x", true},
		{"{id}:x", "{id}:yx", false},
		{"{id}:x", "{id}:y", false},
		{"ab{x}", "{y}ba", true},
	} {
		a, b := mustTemplate(t, c.a), mustTemplate(t, c.b)
		if got := a.Overlaps(b); got != c.want {
			t.Errorf("%q.Overlaps(%q) = %v, want %v", c.a, c.b, got, c.want)
		}
		if got := b.Overlaps(a); got != c.want {
			t.Errorf("%q.Overlaps(%q) = %v, want %v", c.b, c.a, got, c.want)
		}
	}
	for _, c := range []struct {
		tmpl, prefix string
		want         bool
	}{
		{"users:{id}", "pgredis:", false},
		{"pgredis:{id}", "pgredis:", true},
		{"pg{id}", "pgredis:", true},
		{"{id}", "pgredis:", true},
		{"pgredis:x:{id}", "pgredis:", true},
	} {
		if got := mustTemplate(t, c.tmpl).OverlapsPrefix(c.prefix); got != c.want {
			t.Errorf("%q.OverlapsPrefix(%q) = %v, want %v", c.tmpl, c.prefix, got, c.want)
		}
	}
}
