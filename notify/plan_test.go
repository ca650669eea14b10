package notify

import (
	"testing"

	"github.com/pgredis/pgredis/internal/spec"
)

// table resolves an entry by hand against a table (id int PRIMARY KEY,
// name text, total numeric), as Resolve would.
func table(t *testing.T, entry string) Table {
	t.Helper()
	parsed, err := spec.Parse(entry)
	if err != nil {
		t.Fatal(err)
	}
	all := []Column{{"id", "integer"}, {"name", "text"}, {"total", "numeric"}}
	tb := Table{Table: parsed[0], AllColumns: all, Value: all, KeyColumns: all[:1]}
	if tb.Table.Key != nil {
		tb.Key = *tb.Table.Key
	} else {
		tb.Key = spec.DefaultTemplate(tb.Table.Name, []string{"id"})
	}
	if cols := tb.Table.Columns; cols != nil {
		tb.Value = nil
		for _, c := range cols {
			for _, a := range all {
				if a.Name == c {
					tb.Value = append(tb.Value, a)
				}
			}
		}
	}
	return tb
}

// Issue 13.4: every spelling of one meaning installs the same statements,
// version and registry spec, so migrate up finds it unchanged.
func TestNormalizedInstallIgnoresSpelling(t *testing.T) {
	t.Parallel()
	for _, c := range [][2]string{
		{"orders", "orders key=orders:{id} format=json"},
		{"orders format=hash columns=total,id,name", "orders columns=id,name,total format=hash key=orders:{id}"},
		{"orders columns=name,total ttl=60s", "orders ttl=1m columns=total,name"},
	} {
		a, b := table(t, c[0]).normalized(), table(t, c[1]).normalized()
		if a.Canonical() != b.Canonical() {
			t.Errorf("%q and %q: registry specs %q and %q", c[0], c[1], a.Canonical(), b.Canonical())
		}
		if a.Version() != b.Version() {
			t.Errorf("%q and %q: versions %s and %s", c[0], c[1], a.Version(), b.Version())
		}
		if installHash(a.InstallSQL()) != installHash(b.InstallSQL()) {
			t.Errorf("%q and %q install different SQL", c[0], c[1])
		}
	}
	a, b := table(t, "orders columns=id,name").normalized(), table(t, "orders columns=id,total").normalized()
	if a.Version() == b.Version() || installHash(a.InstallSQL()) == installHash(b.InstallSQL()) {
		t.Error("different column sets install the same SQL")
	}
}
