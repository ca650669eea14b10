package spec

import (
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"users",
		"users; public.orders key=order:{tenant_id}:{id} format=hash columns=id,status,total ttl=1h",
		`"My"."Ta""ble" key={a}:{b} ttl=1500ms`,
		"a format=json columns=x,y; b key=b:{id}{id} format=hash",
		"Ünits key=ü:{Ä}",
		"x ttl=1h2m3.004s columns=a=b,c",
		`"a.b".c; "a"."b.c"`,
		";;users;;",
		"users exclude=secret,token format=hash; b exclude=x ttl=1s",
		"users columns=a exclude=b",
		"users where=(status = 'a; b' AND (n > 1)) ttl=1s; orders where=(\"x)\" = E'\\')')",
		"users where=(a = 1; b",
		"users expire_at=until format=hash; b expire_at=x ttl=1s; c expire_at=",
		"users index=by_org:{org} index=by_age:{org}@age index=all index=a@b:{c}@d where=(x) expire_at=t",
		"users index=x:{a} index=x:{b}; b index= index=@ index={a}@ index=u{a}@{b}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tables, err := Parse(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
			return
		}
		var canon []string
		for _, tb := range tables {
			c := tb.Canonical()
			again, err := Parse(c)
			if err != nil {
				t.Fatalf("Canonical %q of %q does not parse: %v", c, s, err)
			}
			if len(again) != 1 || again[0].Canonical() != c {
				t.Fatalf("Canonical %q re-parses to %+v", c, again)
			}
			if again[0].String() != tb.String() {
				t.Fatalf("Canonical %q names %s, want %s", c, again[0], tb)
			}
			canon = append(canon, c)
		}
		all, err := Parse(strings.Join(canon, "; "))
		if err != nil || len(all) != len(tables) {
			t.Fatalf("joined canonical forms %q: %d tables, %v", canon, len(all), err)
		}
	})
}

func FuzzTemplate(f *testing.F) {
	for _, s := range [][3]string{
		{"users:{id}", "users:{a}:{b}", "1\x00a:b"},
		{"order:{tenant}:{id}", "orders:{id}", "t\x00x"},
		{"{id}", "pgredis:{x}", "pgredis:owner"},
		{"k*[?]\\:{id}", "k{x}", "*\x00?"},
		{"a{x}a", "{y}ba", "b\x00"},
		{"{a}-{b}", "{c}-{d}-", "-\x00-\x00-"},
		{"all", "al{x}", "l"},
		{"a", "aa", "x"},
		{"ab", "a{x}{y}ab", ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, as, bs, vals string) {
		// Index templates: key templates and plain text (index=all).
		a, errA := parseTemplate("index", as, false)
		b, errB := parseTemplate("index", bs, false)
		values := strings.Split(vals, "\x00")
		for _, c := range []struct {
			tm  Template
			err error
			src string
		}{{a, errA, as}, {b, errB, bs}} {
			if c.err != nil {
				continue
			}
			again, err := parseTemplate("index", c.tm.String(), false)
			if err != nil || again.String() != c.tm.String() || len(again.Parts) != len(c.tm.Parts) {
				t.Fatalf("template %q: String %q re-parses to %q, %v", c.src, c.tm.String(), again.Parts, err)
			}
			key := c.tm.Render(fit(values, len(c.tm.Columns())))
			if !c.tm.Matches(key) {
				t.Fatalf("template %q renders %q, which it does not match", c.src, key)
			}
			if !redisGlob(c.tm.Glob(), key) {
				t.Fatalf("template %q: glob %q does not match rendered key %q", c.src, c.tm.Glob(), key)
			}
			if prefix := "pgredis:"; strings.HasPrefix(key, prefix) && !c.tm.OverlapsPrefix(prefix) {
				t.Fatalf("template %q renders %q under %q but OverlapsPrefix is false", c.src, key, prefix)
			}
		}
		if errA != nil || errB != nil {
			return
		}
		ab, ba := a.Overlaps(b), b.Overlaps(a)
		if ab != ba {
			t.Fatalf("Overlaps not symmetric: %q/%q: %v, %v", as, bs, ab, ba)
		}
		if ab {
			return
		}
		ka := a.Render(fit(values, len(a.Columns())))
		kb := b.Render(fit(values, len(b.Columns())))
		if ka == kb || b.Matches(ka) || a.Matches(kb) {
			t.Fatalf("templates %q and %q do not overlap, yet keys %q and %q collide", as, bs, ka, kb)
		}
	})
}

// fit repeats values to n entries.
func fit(values []string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = values[i%len(values)]
	}
	return out
}

// redisGlob is Redis's stringmatchlen (util.c) for the patterns Glob may
// emit: '*' and backslash escapes. An unescaped '?' or '[' in a Glob is a
// bug in itself (it would match keys the template cannot produce), so it
// never matches here.
func redisGlob(p, s string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for i := 0; i <= len(s); i++ {
				if redisGlob(p[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?', '[':
			return false
		case '\\':
			if len(p) >= 2 {
				p = p[1:]
			}
		}
		if len(s) == 0 || p[0] != s[0] {
			return false
		}
		p, s = p[1:], s[1:]
	}
	return len(s) == 0
}
