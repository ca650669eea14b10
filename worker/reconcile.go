package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/pgredis/pgredis/internal/spec"
	"github.com/pgredis/pgredis/notify"
)

// Report is what a reconcile of one table found and did.
type Report struct {
	Table     string `json:"table"`
	Scanned   int64  `json:"rows_scanned"`
	Written   int64  `json:"keys_written"`
	Deleted   int64  `json:"keys_deleted"`
	Unchanged int64  `json:"keys_unchanged"`
	// Expired counts keys of a ttl= table that were missing (expired, as
	// their TTL allows) and were written again: not drift.
	Expired int64 `json:"keys_expired"`
	// Missing counts keys written because they were missing (a subset of
	// Written).
	Missing int64 `json:"keys_missing"`
	// Indexes counts index= entries repaired (a member added, removed
	// or rescored, an orphan set or a companion record rewritten).
	Indexes  int64         `json:"index_entries_repaired"`
	DryRun   bool          `json:"dry_run"`
	Duration time.Duration `json:"duration_ns"`
	Error    string        `json:"error,omitempty"`
}

// keySet remembers the keys a snapshot rendered in 16 bytes each (two
// independent 64-bit hashes), so a million-row table costs 16 MB, not the
// keys themselves.
type keySet struct {
	seeds [2]maphash.Seed
	sums  []keySum
}

// keySum is a key's two hashes; comparing two words instead of 16 bytes
// made the sweep's lookups several times cheaper.
type keySum struct{ a, b uint64 }

func cmpSum(x, y keySum) int {
	if c := cmp.Compare(x.a, y.a); c != 0 {
		return c
	}
	return cmp.Compare(x.b, y.b)
}

func newKeySet() *keySet {
	return &keySet{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
}

func (s *keySet) sum(k string) keySum {
	return keySum{maphash.String(s.seeds[0], k), maphash.String(s.seeds[1], k)}
}

func (s *keySet) add(k string) { s.sums = append(s.sums, s.sum(k)) }

func (s *keySet) seal() { slices.SortFunc(s.sums, cmpSum) }

func (s *keySet) has(k string) bool {
	_, ok := slices.BinarySearchFunc(s.sums, s.sum(k), cmpSum)
	return ok
}

const (
	reconcileBatch = 1000
	// reconcileConns batches are diffed and written at once, on as many
	// Redis connections, while the snapshot keeps streaming: a reconcile
	// is otherwise a series of round trips each waiting for the last.
	reconcileConns = 4
)

// reconciler reconciles one table at a time against Redis.
type reconciler struct {
	cfg   *Config
	pool  *pgxpool.Pool
	store *store
}

// reconcile makes the table's keys equal the table: it streams the table's
// rendered rows, writes the keys whose value differs, then deletes the
// keys in the table's key pattern that no row rendered. The caller must be
// the only writer of the mirror (the lock holder, between batches of its
// own apply loop), so nothing moves under it in Redis. Batches go to Redis
// concurrently: every key appears once in a snapshot, so their order does
// not matter, and all of them are done before reconcile returns.
func (w *reconciler) reconcile(ctx context.Context, t *table, dry bool, progress func(Progress)) (Report, error) {
	rep, err := w.run(ctx, t, dry, w.meter(ctx, t, progress), false)
	if isRowTrouble(err) {
		// A row PostgreSQL cannot render fails the whole snapshot: go
		// row by row, so every other row is mirrored and the bad ones
		// are named.
		w.cfg.Logger.Warn("a row of the table cannot be rendered; reconciling it row by row to find it", "table", t.Table.String(), "error", err)
		return w.run(ctx, t, dry, w.meter(ctx, t, progress), true)
	}
	return rep, err
}

// audit is a dry run for the continuous audit, paced to
// AuditRowsPerSecond so it does not load PostgreSQL or Redis. It only
// reads, so it runs beside the apply loop.
func (w *reconciler) audit(ctx context.Context, t *table) (Report, error) {
	m := w.meter(ctx, t, func(Progress) {})
	m.pace, m.ctx = float64(w.cfg.AuditRowsPerSecond), ctx
	return w.run(ctx, t, true, m, false)
}

func (w *reconciler) run(ctx context.Context, t *table, dry bool, progress *meter, byRow bool) (rep Report, err error) {
	start := time.Now()
	rep = Report{Table: t.Table.Label(), DryRun: dry}
	defer func() {
		w.observeReconcile(rep, err)
		w.cfg.Metrics.reconciledExpired(rep)
	}()
	seen := newKeySet()
	var refused refusals
	var written, unchanged, expired, missing atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	batches := make(chan [2][]string, reconcileConns)
	var ix *indexState
	if len(t.Indexes) > 0 {
		ix = &indexState{byKey: map[string][]member{}}
	}
	for range reconcileConns {
		g.Go(func() error {
			for b := range batches {
				if ix != nil {
					if err := ix.add(t, b[0], b[1]); err != nil {
						return err
					}
				}
				writes, exp, miss, err := w.diff(gctx, t, b[0], b[1])
				if err != nil {
					return err
				}
				written.Add(int64(len(writes) - exp))
				expired.Add(int64(exp))
				missing.Add(int64(miss))
				unchanged.Add(int64(len(b[0]) - len(writes)))
				if !dry {
					if err := w.store.apply(gctx, writes); err != nil {
						if !refused.add(err) {
							return err
						}
					}
				}
			}
			return nil
		})
	}
	bad := &unrenderable{}
	if byRow {
		err = w.snapshotByRow(gctx, t, seen, &rep, progress, batches, bad)
	} else {
		err = w.snapshot(gctx, t, seen, &rep, progress, batches)
	}
	close(batches)
	if gerr := g.Wait(); gerr != nil && (err == nil || errors.Is(err, context.Canceled)) {
		err = gerr
	}
	rep.Written, rep.Unchanged, rep.Expired, rep.Missing = written.Load(), unchanged.Load(), expired.Load(), missing.Load()
	if err != nil {
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
	if err == nil && ix != nil {
		rep.Indexes, err = w.reconcileIndexes(ctx, t, ix, dry)
	}
	rep.Duration = time.Since(start)
	if err == nil {
		// The keys Redis refused are the table's trouble, reported once
		// the rest of it is exact.
		err = refused.err()
	}
	if err == nil && len(bad.keys) > 0 {
		// Their keys were not seen, so the sweep deleted any old value.
		err = bad
	}
	return rep, err
}

// isRowTrouble reports a data exception (SQLSTATE class 22): a value
// PostgreSQL cannot render, such as a json \u0000 to_jsonb rejects.
func isRowTrouble(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && strings.HasPrefix(pe.Code, "22")
}

// unrenderable are the keys of rows PostgreSQL cannot render.
type unrenderable struct {
	keys  []string
	cause error
}

func (e *unrenderable) Error() string {
	return fmt.Sprintf("rows of keys %s cannot be rendered: %v", strings.Join(e.keys, ", "), e.cause)
}

func (e *unrenderable) Unwrap() error { return e.cause }

// snapshotByRow renders the table one row at a time (each through the
// fetch query, by its key columns), skipping and noting the rows that
// fail: slow, but only for a table with a row that cannot be rendered.
func (w *reconciler) snapshotByRow(ctx context.Context, t *table, seen *keySet, rep *Report, progress *meter, batches chan<- [2][]string, bad *unrenderable) error {
	var cols []string
	for _, c := range t.Key.Columns() {
		if !slices.Contains(cols, c) {
			cols = append(cols, c)
		}
	}
	sel := make([]string, len(cols))
	for i, c := range cols {
		sel[i] = "(r." + spec.QuoteIdent(c) + ")::text"
	}
	rows, err := w.pool.Query(ctx, fmt.Sprintf("SELECT %s FROM %s r", strings.Join(sel, ", "), t.Table.Ident()))
	if err != nil {
		return fmt.Errorf("error reading table %s: %w", t.Table, err)
	}
	var tuples [][]any
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			rows.Close()
			return fmt.Errorf("error reading table %s: %w", t.Table, err)
		}
		tuples = append(tuples, vals)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("error reading table %s: %w", t.Table, err)
	}
	out := &rowBatches{out: batches}
	for _, args := range tuples {
		var k, v string
		err := w.pool.QueryRow(ctx, t.FetchSQL, args...).Scan(&k, &v)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			continue
		case isRowTrouble(err):
			strs := make([]string, len(args))
			for i, a := range args {
				strs[i], _ = a.(string)
			}
			key, kerr := t.fetchKey(strs)
			if kerr != nil {
				key = strings.Join(strs, ",")
			}
			bad.keys, bad.cause = append(bad.keys, key), err
			continue
		case err != nil:
			return fmt.Errorf("error reading table %s: %w", t.Table, err)
		}
		rep.Scanned++
		progress.row(rep.Scanned)
		seen.add(k)
		if err := out.add(ctx, k, v); err != nil {
			return err
		}
	}
	return out.flush(ctx)
}

// rowBatches hands a table's rendered rows to the diff workers in batches
// of reconcileBatch.
type rowBatches struct {
	out        chan<- [2][]string
	keys, vals []string
}

func (b *rowBatches) add(ctx context.Context, k, v string) error {
	b.keys, b.vals = append(b.keys, k), append(b.vals, v)
	if len(b.keys) < reconcileBatch {
		return nil
	}
	return b.flush(ctx)
}

// flush sends what was added since the last batch, if anything.
func (b *rowBatches) flush(ctx context.Context) error {
	if len(b.keys) == 0 {
		return nil
	}
	select {
	case b.out <- [2][]string{b.keys, b.vals}:
	case <-ctx.Done():
		return ctx.Err()
	}
	b.keys, b.vals = make([]string, 0, reconcileBatch), make([]string, 0, reconcileBatch)
	return nil
}

// refusals collects the keys Redis refused across a reconcile's batches.
type refusals struct {
	mu  sync.Mutex
	ref *refusedWrites
}

// add keeps err when it is a refusal of values, and says so.
func (r *refusals) add(err error) bool {
	var ref *refusedWrites
	if !errors.As(err, &ref) {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ref == nil {
		r.ref = &refusedWrites{cause: ref.cause}
	}
	r.ref.keys = append(r.ref.keys, ref.keys...)
	return true
}

func (r *refusals) err() error {
	if r.ref == nil {
		return nil
	}
	return r.ref
}

// snapshotSQL renders the table the cheap way for its current columns
// when they still fit its installed spec, and as installed otherwise (the
// query then fails the way the trigger does, and is reported).
func (w *reconciler) snapshotSQL(ctx context.Context, t *table) string {
	now, err := notify.Resolve(ctx, w.pool, []spec.Table{t.Table}, "")
	if err != nil || now[0].Key.String() != t.Key.String() {
		return t.RenderSQL
	}
	return now[0].SnapshotSQL()
}

// snapshot streams the table's rendered rows in batches.
func (w *reconciler) snapshot(ctx context.Context, t *table, seen *keySet, rep *Report, progress *meter, batches chan<- [2][]string) error {
	rows, err := w.pool.Query(ctx, w.snapshotSQL(ctx, t))
	if err != nil {
		return fmt.Errorf("error reading table %s: %w", t.Table, err)
	}
	defer rows.Close()
	out := &rowBatches{out: batches}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return fmt.Errorf("error reading table %s: %w", t.Table, err)
		}
		rep.Scanned++
		progress.row(rep.Scanned)
		seen.add(k)
		if err := out.add(ctx, k, v); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("error reading table %s: %w", t.Table, err)
	}
	return out.flush(ctx)
}

// diff returns the writes that make keys hold vals, and how many of them
// re-add a ttl= key that is missing: such a key may have expired, as its
// TTL allows, so it is counted as expired, not as drift.
func (w *reconciler) diff(ctx context.Context, t *table, keys, vals []string) (writes []write, expired, missing int, err error) {
	var ttls []int64
	if t.TTL > 0 {
		if ttls, err = w.store.readTTLs(ctx, keys); err != nil {
			return nil, 0, 0, err
		}
	}
	// expire_at=: a key whose expiry instant is not its row's is rewritten.
	var exps []int64
	if t.ExpireAt != "" {
		if exps, err = w.store.readExpireTimes(ctx, keys); err != nil {
			return nil, 0, 0, err
		}
	}
	wrongExpiry := func(i int, want write) bool {
		if exps == nil || want.del || exps[i] == -2 {
			return false
		}
		if want.expireAtMS == 0 {
			return exps[i] != -1
		}
		return exps[i] != want.expireAtMS
	}
	if t.Format == spec.FormatHash {
		have, err := w.store.readHashes(ctx, keys)
		if err != nil {
			return nil, 0, 0, err
		}
		for i, k := range keys {
			want, err := t.set(k, vals[i])
			if err != nil {
				return nil, 0, 0, err
			}
			same := want.del && have[i] == nil
			if !want.del && have[i] != nil {
				same = maps.Equal(have[i], fieldMap(want.fields))
			}
			if !same || (ttls != nil && ttls[i] == -1 && !want.del) || wrongExpiry(i, want) {
				writes = append(writes, want)
				switch {
				case t.TTL > 0 && have[i] == nil:
					expired++
				case have[i] == nil:
					missing++
				}
			}
		}
		return writes, expired, missing, nil
	}
	have, ok, err := w.store.readStrings(ctx, keys)
	if err != nil {
		return nil, 0, 0, err
	}
	for i, k := range keys {
		want, err := t.set(k, vals[i])
		if err != nil {
			return nil, 0, 0, err
		}
		if want.del {
			// expire_at= whose instant has passed (or passed since the
			// rows were read): the key must be gone, and is no drift
			// when it already is.
			if ok[i] {
				writes = append(writes, want)
			}
			continue
		}
		if !ok[i] || have[i] != want.value || (ttls != nil && ttls[i] == -1) || wrongExpiry(i, want) {
			writes = append(writes, want)
			switch {
			case t.TTL > 0 && !ok[i]:
				expired++
			case !ok[i]:
				missing++
			}
		}
	}
	return writes, expired, missing, nil
}

func fieldMap(fields []string) map[string]string {
	m := make(map[string]string, len(fields)/2)
	for i := 0; i+1 < len(fields); i += 2 {
		m[fields[i]] = fields[i+1]
	}
	return m
}
