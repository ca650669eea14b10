package worker

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pgredis/pgredis/internal/spec"
	"github.com/pgredis/pgredis/notify"
)

// table is an installed table as the worker applies it.
type table struct {
	notify.Installed
	glob string
	// argIndex maps each template placeholder to its fetch argument.
	argIndex []int
	// indexID names the table's index= options in its companion records.
	indexID string
}

func newTable(in notify.Installed) *table {
	// The value's index fields come in canonical order (notify/index.go).
	in.Indexes = spec.Table{Indexes: in.Indexes}.Normalized().Indexes
	t := &table{Installed: in, glob: in.Key.Glob(), indexID: indexID(in.Indexes)}
	var distinct []string
	for _, c := range in.Key.Columns() {
		i := slices.Index(distinct, c)
		if i < 0 {
			i = len(distinct)
			distinct = append(distinct, c)
		}
		t.argIndex = append(t.argIndex, i)
	}
	return t
}

// fetchKey renders the key of a row named by a fetch entry's arguments.
func (t *table) fetchKey(args []string) (string, error) {
	vals := make([]string, len(t.argIndex))
	for i, a := range t.argIndex {
		if a >= len(args) {
			return "", fmt.Errorf("fetch entry for %s has %d key values, want more", t.Table, len(args))
		}
		vals[i] = args[a]
	}
	return t.Key.Render(vals), nil
}

// set builds the write that stores a rendered value under key.
func (t *table) set(key, value string) (write, error) {
	w := write{key: key, value: value, ttlMS: t.TTL.Milliseconds(), index: t.indexID}
	if w.index != "" {
		members, rest, err := t.cutIndexes(key, value)
		if err != nil {
			return write{}, err
		}
		w.members, w.value, value = members, rest, rest
	}
	if t.ExpireAt != "" {
		at, rest, ok := strings.Cut(value, ":")
		if !ok {
			return write{}, renderError{fmt.Errorf("value for %s key %q has no expiry prefix (installed by another pgredis? run pgredis migrate up)", t.Table, key)}
		}
		w.value, value = rest, rest
		if at != "-" {
			ms, err := strconv.ParseInt(at, 10, 64)
			if err != nil {
				return write{}, renderError{fmt.Errorf("value for %s key %q has a malformed expiry %q: %w", t.Table, key, at, err)}
			}
			// A row whose instant has passed is not in the mirror.
			if ms <= time.Now().UnixMilli() {
				return t.del(key), nil
			}
			w.expireAtMS = ms
		}
	}
	if t.Format != spec.FormatHash {
		return w, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(value), &m); err != nil {
		return write{}, renderError{fmt.Errorf("hash value for %s key %q is not a JSON object of strings: %w", t.Table, key, err)}
	}
	w.hash, w.value = true, ""
	w.fields = make([]string, 0, 2*len(m))
	for f, v := range m {
		w.fields = append(w.fields, f, v)
	}
	if len(m) == 0 {
		// Redis has no empty hash: a row whose synced columns are all NULL has no key.
		w.del, w.members = true, nil
	}
	return w, nil
}

func (t *table) del(key string) write {
	return write{key: key, del: true, index: t.indexID}
}
