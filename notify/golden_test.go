package notify

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pgredis/pgredis/internal/spec"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// goldenTable resolves a spec by hand, as Resolve would against a catalog
// with these columns, so the golden tests need no server.
func goldenTable(t *testing.T, entry string, cols []Column, pk []string, eq []string) Table {
	t.Helper()
	parsed, err := spec.Parse(entry)
	if err != nil {
		t.Fatal(err)
	}
	// The last entry: a later entry of a table listed more than once.
	tb := Table{Table: parsed[len(parsed)-1], AllColumns: cols}
	if tb.Table.Key != nil {
		tb.Key = *tb.Table.Key
	} else {
		tb.Key = spec.DefaultTemplate(tb.Name, pk)
	}
	find := func(name string) Column {
		for _, c := range cols {
			if c.Name == name {
				return c
			}
		}
		t.Fatalf("no column %q", name)
		return Column{}
	}
	for _, name := range tb.Key.Columns() {
		tb.KeyColumns = append(tb.KeyColumns, find(name))
	}
	for _, name := range eq {
		tb.EqColumns = append(tb.EqColumns, EqColumn{find(name), "OPERATOR(pg_catalog.=)"})
	}
	if tb.ExpireAt != "" {
		tb.expireType = baseType(find(tb.ExpireAt).Type)
	}
	tb.AllColumns = cols
	if err := tb.resolveIndexes(); err != nil {
		t.Fatal(err)
	}
	switch {
	case tb.Exclude != nil:
		for _, c := range cols {
			if !slices.Contains(tb.Exclude, c.Name) {
				tb.Value = append(tb.Value, c)
			}
		}
	case tb.Columns == nil:
		tb.Value = cols
	default:
		for _, name := range tb.Columns {
			tb.Value = append(tb.Value, find(name))
		}
	}
	return tb
}

// TestGeneratedSQL compares the generated SQL with testdata/golden, so
// every change to what migrate up installs shows as a diff. Run with
// -update to rewrite the files after a deliberate change.
func TestGeneratedSQL(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		table Table
	}{
		{"default_key", goldenTable(t, "kv",
			[]Column{{"id", "integer"}, {"v", "text"}}, []string{"id"}, []string{"id"})},
		{"composite_hash_ttl", goldenTable(t, "shop.orders key=order:{tenant}:{id} format=hash columns=id,status ttl=1h",
			[]Column{{"tenant", "integer"}, {"id", "bigint"}, {"status", "text"}, {"note", "text"}}, []string{"tenant", "id"}, []string{"tenant", "id"})},
		{"json_columns_unindexed_key", goldenTable(t, "people key=p:{email} columns=email,born,doc",
			[]Column{{"id", "integer"}, {"email", "text"}, {"born", "date"}, {"doc", "jsonb"}}, []string{"id"}, nil)},
		// exclude=: the whole row less the excluded keys (json), every
		// other column (hash).
		{"json_exclude", goldenTable(t, "accounts exclude=token,password",
			[]Column{{"id", "integer"}, {"email", "text"}, {"password", "text"}, {"token", "text"}}, []string{"id"}, []string{"id"})},
		{"hash_exclude_ttl", goldenTable(t, "accounts format=hash exclude=password ttl=10m",
			[]Column{{"id", "integer"}, {"email", "text"}, {"password", "text"}}, []string{"id"}, []string{"id"})},
		// where=: only matching rows set keys, old matching keys not
		// re-set are deleted, the lookup and the reconcile filter too.
		{"where_exclude", goldenTable(t, "tasks where=(state <> 'done' AND note <> 'a; b=c') exclude=note",
			[]Column{{"id", "integer"}, {"state", "text"}, {"note", "text"}}, []string{"id"}, []string{"id"})},
		// expire_at=: the value carries its key's expiry instant.
		{"expire_at_hash", goldenTable(t, "sessions format=hash expire_at=until where=(kind = 'web')",
			[]Column{{"id", "integer"}, {"kind", "text"}, {"until", "timestamp(3) with time zone"}}, []string{"id"}, []string{"id"})},
		// index=: the value carries the row's index names (and scores).
		{"index_where_expire", goldenTable(t, "users where=(active) expire_at=until index=by_org:{org} index=by_org_age:{org}@age index=signed_up@at",
			[]Column{{"id", "integer"}, {"org", "text"}, {"age", "numeric(5,1)"}, {"at", "timestamp with time zone"}, {"until", "timestamptz"}, {"active", "boolean"}}, []string{"id"}, []string{"id"})},
		// A table's second entry: functions, triggers and the marker of
		// its own.
		{"second_entry", goldenTable(t, "users; users key=user_by_email:{email} format=hash columns=id,name",
			[]Column{{"id", "integer"}, {"email", "text"}, {"name", "text"}}, []string{"id"}, []string{"email"})},
		// The fixed dollar tag and a quote in names and literals.
		{"dollar_tag", goldenTable(t, `"we'ird"."a$pgredis$b" key=x$pgredis$y'{a$pgredis$b}`,
			[]Column{{"a$pgredis$b", "text"}, {"v", "text"}}, []string{"a$pgredis$b"}, []string{"a$pgredis$b"})},
	}
	for _, c := range cases {
		stmts := append(c.table.InstallSQL(), "-- render\n"+c.table.RenderSQL(), "-- fetch\n"+c.table.FetchSQL())
		if c.table.Entry != "" {
			stmts = append(stmts, "-- uninstall\n"+strings.Join(UninstallSQL(c.table.Table), ";\n"))
		}
		got := strings.Join(stmts, ";\n\n") + ";\n"
		path := filepath.Join("testdata", "golden", c.name+".sql")
		if *update {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./notify -run TestGeneratedSQL -update to create it)", err)
		}
		if got != string(want) {
			t.Errorf("%s: generated SQL differs from %s (run with -update after a deliberate change)\n%s", c.name, path, lineDiff(string(want), got))
		}
	}
}

// lineDiff shows the first differing line of want and got.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\n  want %s\n  got  %s", i+1, a, b)
		}
	}
	return ""
}

// The body must never contain its own dollar-quote tag, or it would end
// early: whatever a column name or key literal holds.
func TestDollarTagNotInBody(t *testing.T) {
	t.Parallel()
	for _, body := range []string{"", "x", "a$pgredis$b", "$pgredis$ $pgredis1$", "$pgredis1$ $pgredis$ $pgredis2$"} {
		tag := dollarTag(body)
		if strings.Contains(body, tag) || !strings.HasPrefix(tag, "$pgredis") || !strings.HasSuffix(tag, "$") {
			t.Errorf("dollarTag(%q) = %q", body, tag)
		}
	}
	tb := goldenTable(t, `"a$pgredis$b"`, []Column{{"a$pgredis$b", "text"}}, []string{"a$pgredis$b"}, []string{"a$pgredis$b"})
	for _, stmt := range tb.InstallSQL()[:2] {
		if !strings.HasPrefix(stmt, "CREATE OR REPLACE FUNCTION") {
			continue
		}
		i := strings.Index(stmt, "\nAS $")
		tag := stmt[i+4 : i+4+strings.Index(stmt[i+5:], "$")+2]
		body := strings.TrimSuffix(stmt[i+4+len(tag):], tag)
		if tag == "$pgredis$" || strings.Contains(body, tag) {
			t.Errorf("tag %q of a function whose body holds $pgredis$", tag)
		}
	}
}
