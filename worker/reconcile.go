package worker

import (
	"bytes"
	"context"
	"fmt"
	"hash/maphash"
	"maps"
	"slices"
	"time"

	"github.com/pgredis/pgredis/internal/spec"
)

// Report is what a reconcile of one table found and did.
type Report struct {
	Table     string        `json:"table"`
	Scanned   int64         `json:"rows_scanned"`
	Written   int64         `json:"keys_written"`
	Deleted   int64         `json:"keys_deleted"`
	Unchanged int64         `json:"keys_unchanged"`
	DryRun    bool          `json:"dry_run"`
	Duration  time.Duration `json:"duration_ns"`
	Error     string        `json:"error,omitempty"`
}

// keySet remembers the keys a snapshot rendered in 16 bytes each (two
// independent 64-bit hashes), so a million-row table costs 16 MB, not the
// keys themselves.
type keySet struct {
	seeds [2]maphash.Seed
	sums  [][16]byte
}

func newKeySet() *keySet {
	return &keySet{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
}

func (s *keySet) sum(k string) [16]byte {
	var b [16]byte
	a, c := maphash.String(s.seeds[0], k), maphash.String(s.seeds[1], k)
	for i := 0; i < 8; i++ {
		b[i], b[8+i] = byte(a>>(8*i)), byte(c>>(8*i))
	}
	return b
}

func (s *keySet) add(k string) { s.sums = append(s.sums, s.sum(k)) }

func (s *keySet) seal() {
	slices.SortFunc(s.sums, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
}

func (s *keySet) has(k string) bool {
	sum := s.sum(k)
	_, ok := slices.BinarySearchFunc(s.sums, sum, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
	return ok
}

const reconcileBatch = 1000

// reconcile makes the table's keys equal the table: it streams the table's
// rendered rows, writes the keys whose value differs, then deletes the
// keys in the table's key pattern that no row rendered. The caller must be
// the only writer of the mirror (the lock holder, between batches of its
// own apply loop), so nothing moves under it in Redis.
func (w *active) reconcile(ctx context.Context, t *table, dry bool) (rep Report, err error) {
	start := time.Now()
	rep = Report{Table: t.Table.String(), DryRun: dry}
	defer func() { w.cfg.Metrics.reconciled(rep, err) }()
	seen := newKeySet()
	rows, err := w.pool.Query(ctx, t.RenderSQL)
	if err != nil {
		return rep, pgErr(fmt.Errorf("error reading table %s: %w", t.Table, err))
	}
	defer rows.Close()
	var keys, vals []string
	flush := func() error {
		if len(keys) == 0 {
			return nil
		}
		writes, err := w.diff(ctx, t, keys, vals)
		if err != nil {
			return err
		}
		rep.Written += int64(len(writes))
		rep.Unchanged += int64(len(keys) - len(writes))
		keys, vals = keys[:0], vals[:0]
		if dry {
			return nil
		}
		return w.store.apply(ctx, writes)
	}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return rep, pgErr(fmt.Errorf("error reading table %s: %w", t.Table, err))
		}
		rep.Scanned++
		seen.add(k)
		keys, vals = append(keys, k), append(vals, v)
		if len(keys) == reconcileBatch {
			if err := flush(); err != nil {
				return rep, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return rep, pgErr(fmt.Errorf("error reading table %s: %w", t.Table, err))
	}
	if err := flush(); err != nil {
		return rep, err
	}
	seen.seal()
	err = w.store.scan(ctx, t.glob, func(found []string) error {
		var dels []write
		for _, k := range found {
			if t.Key.Matches(k) && !seen.has(k) {
				dels = append(dels, t.del(k))
			}
		}
		rep.Deleted += int64(len(dels))
		if dry {
			return nil
		}
		return w.store.apply(ctx, dels)
	})
	rep.Duration = time.Since(start)
	return rep, err
}

// diff returns the writes that make keys hold vals.
func (w *active) diff(ctx context.Context, t *table, keys, vals []string) ([]write, error) {
	var writes []write
	var ttls []int64
	if t.TTL > 0 {
		var err error
		if ttls, err = w.store.readTTLs(ctx, keys); err != nil {
			return nil, err
		}
	}
	if t.Format == spec.FormatHash {
		have, err := w.store.readHashes(ctx, keys)
		if err != nil {
			return nil, err
		}
		for i, k := range keys {
			want, err := t.set(k, vals[i])
			if err != nil {
				return nil, err
			}
			same := want.del && have[i] == nil
			if !want.del && have[i] != nil {
				same = maps.Equal(have[i], fieldMap(want.fields))
			}
			if !same || (ttls != nil && ttls[i] == -1 && !want.del) {
				writes = append(writes, want)
			}
		}
		return writes, nil
	}
	have, ok, err := w.store.readStrings(ctx, keys)
	if err != nil {
		return nil, err
	}
	for i, k := range keys {
		if !ok[i] || have[i] != vals[i] || (ttls != nil && ttls[i] == -1) {
			want, _ := t.set(k, vals[i])
			writes = append(writes, want)
		}
	}
	return writes, nil
}

func fieldMap(fields []string) map[string]string {
	m := make(map[string]string, len(fields)/2)
	for i := 0; i+1 < len(fields); i += 2 {
		m[fields[i]] = fields[i+1]
	}
	return m
}

// truncate deletes every key of the table.
func (w *active) truncate(ctx context.Context, t *table) error {
	return w.store.scan(ctx, t.glob, func(found []string) error {
		var dels []write
		for _, k := range found {
			if t.Key.Matches(k) {
				dels = append(dels, t.del(k))
			}
		}
		return w.store.apply(ctx, dels)
	})
}
