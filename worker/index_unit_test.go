package worker

import (
	"slices"
	"testing"

	"github.com/pgredis/pgredis/internal/spec"
	"github.com/pgredis/pgredis/notify"
)

// The index fields ahead of a value (notify/index.go) parse back into
// memberships, with NULLs (no membership), PostgreSQL's float8 spellings
// and names holding the separators.
func TestCutIndexes(t *testing.T) {
	t.Parallel()
	specs, err := spec.Parse("users index=org:{org} index=age:{org}@age index=when@at")
	if err != nil {
		t.Fatal(err)
	}
	tb := newTable(notify.Installed{Table: specs[0], Key: spec.DefaultTemplate("users", []string{"id"})})
	// Canonical order: age:{org}@age, org:{org}, when@at.
	members, rest, err := tb.cutIndexes("users:1", "7:age:a,b1e+20,-,4:when-Infinity,{\"id\": 1}")
	if err != nil {
		t.Fatal(err)
	}
	want := []member{{"age:a,b", "1e+20"}, {"when", "-inf"}}
	if !slices.Equal(members, want) || rest != `{"id": 1}` {
		t.Fatalf("cutIndexes = %q, %q; want %q", members, rest, want)
	}
	for _, bad := range []string{"", "x:age,", "99:age:a,", "5:age:a1.5", "-,5:org:aNOPE,-,", "5:age:a1,5:org:a1,-,", "5:age:aNaN,-,-,"} {
		if _, _, err := tb.cutIndexes("users:1", bad); err == nil {
			t.Errorf("cutIndexes(%q) took a malformed value", bad)
		}
	}
	w, err := tb.set("users:1", "-,-,-,{}")
	if err != nil || w.index == "" || len(w.members) != 0 || w.value != "{}" {
		t.Fatalf("set with no memberships = %+v, %v", w, err)
	}
}

// A companion record shares its key's hash slot and names the key and the
// table's index options back.
func TestCompanionKey(t *testing.T) {
	t.Parallel()
	for _, k := range []string{"users:1", "a{b}c", "{}x", "x{", "ix:{1}:{2}"} {
		c := companionKey("pgredis:", "abcd1234", k)
		if keySlot(c) != keySlot(k) {
			t.Errorf("companion %q of %q is in slot %d, the key in %d", c, k, keySlot(c), keySlot(k))
		}
		id, key, ok := companionOf("pgredis:", c)
		if !ok || id != "abcd1234" || key != k {
			t.Errorf("companionOf(%q) = %q, %q, %v", c, id, key, ok)
		}
	}
	a := indexID([]spec.Index{{Template: spec.Template{Parts: []string{"all"}}}})
	b := indexID([]spec.Index{{Template: spec.Template{Parts: []string{"all"}}, Score: "n"}})
	if a == b || a == "" || indexID(nil) != "" {
		t.Errorf("indexID: %q, %q, %q", a, b, indexID(nil))
	}
}

func TestDiffSet(t *testing.T) {
	t.Parallel()
	have := &setState{members: map[string]float64{"k1": 1, "k2": 2, "k3": 3}}
	ws, n := diffSet("s", have, map[string]string{"k1": "1", "k2": "5", "k4": "4"}, true)
	if n != 3 || len(ws) != 2 || ws[0].cmd[0] != "ZREM" || ws[1].cmd[0] != "ZADD" {
		t.Fatalf("diffSet = %+v, %d", ws, n)
	}
	if ws, n := diffSet("s", have, nil, false); n != 1 || len(ws) != 1 || !ws[0].del {
		t.Fatalf("orphan set: %+v, %d", ws, n)
	}
	if ws, n := diffSet("s", &setState{wrongType: true}, map[string]string{"k": ""}, false); n != 2 || len(ws) != 2 || !ws[0].del || ws[1].cmd[0] != "SADD" {
		t.Fatalf("wrong type: %+v, %d", ws, n)
	}
}
