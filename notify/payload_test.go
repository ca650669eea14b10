package notify

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// encode builds a change payload the way the trigger SQL does, so the
// decoder is checked against an independent encoder.
func encode(version string, seq, micros int64, changes []Change) string {
	var b strings.Builder
	fmt.Fprintf(&b, "p1 %s %d %d\n", version, seq, micros)
	field := func(s string) { b.WriteString(strconv.Itoa(len(s)) + ":" + s) }
	for _, c := range changes {
		b.WriteByte(byte(c.Op))
		switch c.Op {
		case OpSet:
			field(c.Key)
			field(c.Value)
		case OpDelete:
			field(c.Key)
		case OpReconcile:
			field(c.Value)
		case OpFetch:
			b.WriteString(strconv.Itoa(len(c.Args)) + ":")
			for _, a := range c.Args {
				field(a)
			}
		}
	}
	return b.String()
}

func TestDecode(t *testing.T) {
	t.Parallel()
	changes := []Change{
		{Op: OpSet, Key: "users:1", Value: `{"id": 1, "name": "a\nb:c"}`},
		{Op: OpDelete, Key: "users:a:b"},
		{Op: OpFetch, Args: []string{"1", "x:y", ""}},
		{Op: OpTruncate},
		{Op: OpReconcile, Value: "trigger on public.users failed: column \"x\" does not exist"},
		{Op: OpReconcile},
		{Op: OpSet, Key: "", Value: ""},
	}
	m, err := Decode(encode("0123abcd", 42, 1700000000123456, changes))
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != "0123abcd" || m.Seq != 42 || !m.Stamp.Equal(time.UnixMicro(1700000000123456)) || m.Control != nil {
		t.Fatalf("header decoded as %+v", m)
	}
	if !sameChanges(m.Changes, changes) {
		t.Fatalf("changes decoded as %+v, want %+v", m.Changes, changes)
	}

	ctl := Control{Kind: "resync", ID: "abc", DryRun: true, Tables: []string{"public.users", "orders"}}
	m, err = Decode(ctl.Encode())
	if err != nil || m.Control == nil || !reflect.DeepEqual(*m.Control, ctl) {
		t.Fatalf("control decoded as %+v, %v", m.Control, err)
	}
}

func sameChanges(a, b []Change) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Op != b[i].Op || a[i].Key != b[i].Key || a[i].Value != b[i].Value || len(a[i].Args) != len(b[i].Args) {
			return false
		}
		for j := range a[i].Args {
			if a[i].Args[j] != b[i].Args[j] {
				return false
			}
		}
	}
	return true
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"", "no header line"},
		{"p1 v 1 2", "no header line"},
		{"p2 v 1 2\nT", "unknown payload header"},
		{"p1 v 1\nT", "unknown payload header"},
		{"p1 v 1 2 3\nT", "unknown payload header"},
		{"p2 v 1 2 x\nT", "transaction id"},
		{"p2 v 1 2 0\nT", "transaction id"},
		{"p1  1 2\nT", "empty version"},
		{"p1 v x 2\nT", "sequence"},
		{"p1 v 1 y\nT", "stamp"},
		{"p1 v 1 2\n", "no entries"},
		{"p1 v 1 2\nZ", "unknown entry op"},
		{"p1 v 1 2\nS3:ab", "truncated"},
		{"p1 v 1 2\nS2:ab", "bad length prefix"},
		{"p1 v 1 2\nS2:ab5:abc", "truncated"},
		{"p1 v 1 2\nD-1:", "bad length prefix"},
		{"p1 v 1 2\nD:", "bad length prefix"},
		{"p1 v 1 2\nDx:", "bad length prefix"},
		{"p1 v 1 2\nD1234567890:x", "bad length prefix"},
		{"p1 v 1 2\nR0:", "without key columns"},
		{"p1 v 1 2\nR2:1:a", "bad length prefix"},
		{"p1 v 1 2\nR9:1:a", "truncated"},
		{"p1 v 1 2\nX5:ab", "truncated"},
		{"c1 resync", "malformed control"},
		{"c1 resync id 2", "malformed control"},
	} {
		_, err := Decode(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Decode(%q) = %v, want an error containing %q", c.in, err, c.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("p1 0123abcd 1 1700000000000000\nS7:users:17:{\"a\":1}D7:users:2T", "users:1", `{"a":1}`, int64(1), byte(0))
	f.Add("p1 v 9 0\nR2:1:12:x:X0:", "k:\n", "", int64(-5), byte(3))
	f.Add("c1 resync id 0 public.users", "", "\x00\xff", int64(1<<62), byte(7))
	f.Add("p1 v 1 2\nS999999999:", "ключ", "значение", int64(0), byte(255))
	f.Fuzz(func(t *testing.T, payload, key, value string, seq int64, ops byte) {
		// Any input: no panic, and a decoded change never holds more than
		// the payload carried.
		if m, err := Decode(payload); err == nil && m.Control == nil {
			if len(m.Changes) == 0 {
				t.Fatalf("Decode(%q) succeeded without changes", payload)
			}
			for _, c := range m.Changes {
				if len(c.Key)+len(c.Value) > len(payload) {
					t.Fatalf("Decode(%q) produced a change larger than the payload", payload)
				}
			}
		}
		// Round trip: whatever bytes keys and values hold.
		var changes []Change
		for i := range 4 {
			switch (ops >> (2 * i)) & 3 {
			case 0:
				changes = append(changes, Change{Op: OpSet, Key: key, Value: value})
			case 1:
				changes = append(changes, Change{Op: OpDelete, Key: value + key})
			case 2:
				changes = append(changes, Change{Op: OpFetch, Args: []string{key, value, key + value}[:1+i%3]})
			case 3:
				if i%2 == 0 {
					changes = append(changes, Change{Op: OpTruncate})
				} else {
					changes = append(changes, Change{Op: OpReconcile, Value: value})
				}
			}
		}
		enc := encode("v"+strconv.Itoa(int(ops)), seq, seq/3, changes)
		m, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(%q): %v", enc, err)
		}
		if m.Seq != seq || m.Stamp.UnixMicro() != seq/3 || !sameChanges(m.Changes, changes) {
			t.Fatalf("Decode(%q) = %+v, want seq %d and %+v", enc, m, seq, changes)
		}
	})
}

// A change carries its transaction's id; the older format decodes with none.
func TestDecodeTxid(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"p2 v 1 2 77\nT": 77, "p1 v 1 2\nT": 0} {
		m, err := Decode(in)
		if err != nil || m.Txid != want || m.Version != "v" || len(m.Changes) != 1 {
			t.Errorf("Decode(%q) = txid %d, %+v, %v; want txid %d", in, m.Txid, m, err, want)
		}
	}
}
