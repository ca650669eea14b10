// Package pgredistest sets up a synced table pair for tests: a database
// cloned from a migrated template, a Redis database of its own, triggers
// installed for a PGREDIS_TABLES spec, and an in-process worker. Its mirror
// check derives the expected Redis content from PostgreSQL alone (key
// columns' ::text, to_jsonb, ::text of each column), never from pgredis's
// own rendering SQL, so it catches a trigger or reconcile that renders
// wrong.
package pgredistest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/pgredis/pgredis/internal/spec"
	"github.com/pgredis/pgredis/internal/testenv"
	"github.com/pgredis/pgredis/migrations"
	"github.com/pgredis/pgredis/notify"
	"github.com/pgredis/pgredis/worker"
)

// StatePrefix is the state prefix every bundle uses.
const StatePrefix = "pgredis:"

// Bundle is one test's database, Redis database and table spec.
type Bundle struct {
	DatabaseURL string
	RedisURL    string
	Tables      string
	PG          *pgxpool.Pool
	Redis       *redis.Client
	Specs       []spec.Table
	// Outside marks keys that are no table's (a test's unrelated keys):
	// Diff neither expects nor flags them; the test checks them itself.
	Outside func(key string) bool

	newClient func() redis.UniversalClient
	mirror    redis.UniversalClient
}

// Migrate applies pgredis's migrations to the database at url; it is the
// template setup every bundle's database is cloned from.
func Migrate(ctx context.Context, url string) error {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return err
	}
	m, err := migrations.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer m.Close()
	return m.Up()
}

// New creates the bundle: ddl runs first (create the tables), then the
// triggers for tables (a PGREDIS_TABLES value) are installed, as
// pgredis migrate up would.
func New(t testing.TB, ddl, tables string) *Bundle {
	t.Helper()
	b := Open(t, testenv.Database(t, "migrated", Migrate), testenv.Redis(t), "")
	if ddl != "" {
		b.Exec(t, ddl)
	}
	if tables != "" {
		b.Install(t, tables)
	}
	return b
}

// Open makes a bundle of an existing database and Redis database (set up
// by a test, say through the pgredis binary); tables is the PGREDIS_TABLES
// value Diff checks against.
func Open(t testing.TB, databaseURL, redisURL, tables string) *Bundle {
	t.Helper()
	ctx := context.Background()
	b := &Bundle{DatabaseURL: databaseURL, RedisURL: redisURL, Tables: tables}
	var err error
	if b.PG, err = pgxpool.New(ctx, b.DatabaseURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.PG.Close)
	opts, err := redis.ParseURL(b.RedisURL)
	if err != nil {
		t.Fatal(err)
	}
	b.Redis = redis.NewClient(opts)
	t.Cleanup(func() { b.Redis.Close() })
	if tables != "" {
		if b.Specs, err = spec.Parse(tables); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// Install installs triggers for a PGREDIS_TABLES value, as migrate up does.
func (b *Bundle) Install(t testing.TB, tables string) {
	t.Helper()
	ctx := context.Background()
	specs, err := spec.Parse(tables)
	if err != nil {
		t.Fatal(err)
	}
	err = pgx.BeginFunc(ctx, b.PG, func(tx pgx.Tx) error {
		resolved, err := notify.Resolve(ctx, tx, specs, StatePrefix)
		if err != nil {
			return err
		}
		return notify.Install(ctx, tx, resolved)
	})
	if err != nil {
		t.Fatal(err)
	}
	b.Tables, b.Specs = tables, specs
}

// Exec runs SQL (several statements allowed) and fails the test on error.
func (b *Bundle) Exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	if _, err := b.PG.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("exec %q: %v", sql, err)
	}
}

// Config is a worker configuration for the bundle, with fast test timings.
func (b *Bundle) Config(t testing.TB) worker.Config {
	t.Helper()
	pgcfg, err := pgx.ParseConfig(b.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	var rdb redis.UniversalClient
	if b.newClient != nil {
		rdb = b.newClient()
	} else {
		opts, err := redis.ParseURL(b.RedisURL)
		if err != nil {
			t.Fatal(err)
		}
		rdb = redis.NewClient(opts)
	}
	t.Cleanup(func() { rdb.Close() })
	level := slog.LevelWarn
	if os.Getenv("PGREDIS_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return worker.Config{
		PG:            pgcfg,
		Redis:         rdb,
		Tables:        b.Specs,
		StatePrefix:   StatePrefix,
		Logger:        slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level})),
		StandbyPoll:   100 * time.Millisecond,
		CheckInterval: 100 * time.Millisecond,
		MaxBackoff:    time.Second,

		HeartbeatInterval: 200 * time.Millisecond,
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// StartWorker starts an in-process worker, stopped at cleanup.
func (b *Bundle) StartWorker(t testing.TB) *worker.Worker {
	t.Helper()
	return b.StartWorkerWith(t, b.Config(t))
}

// StartWorkerWith starts a worker with cfg, stopped at cleanup.
func (b *Bundle) StartWorkerWith(t testing.TB, cfg worker.Config) *worker.Worker {
	t.Helper()
	w, err := worker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := w.Stop(ctx); err != nil {
			t.Error(err)
		}
	})
	return w
}

// WaitMirror polls until Redis mirrors every table exactly.
func (b *Bundle) WaitMirror(t testing.TB, timeout time.Duration) {
	t.Helper()
	testenv.Eventually(t, timeout, func() error { return b.Diff(context.Background()) })
}

// RequireMirror fails unless Redis mirrors every table exactly right now.
func (b *Bundle) RequireMirror(t testing.TB) {
	t.Helper()
	if err := b.Diff(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Expected is what Redis should hold for the bundle's tables, derived from
// PostgreSQL alone: key -> JSON text (format=json) or field map (hash).
type Expected struct {
	Strings map[string]string
	Hashes  map[string]map[string]string
	TTL     map[string]time.Duration
	// ExpireAt is each expire_at= key's expiry instant in Unix ms, -1
	// for none.
	ExpireAt map[string]int64
	// Sets and ZSets are the index= sets: name -> members (and scores).
	Sets  map[string]map[string]bool
	ZSets map[string]map[string]float64
}

// Expect computes the expected mirror of every table.
func (b *Bundle) Expect(ctx context.Context) (Expected, error) {
	exp := Expected{Strings: map[string]string{}, Hashes: map[string]map[string]string{}, TTL: map[string]time.Duration{}, ExpireAt: map[string]int64{},
		Sets: map[string]map[string]bool{}, ZSets: map[string]map[string]float64{}}
	conn, err := b.PG.Acquire(ctx)
	if err != nil {
		return exp, err
	}
	defer conn.Release()
	// The contract renders values as a UTC, ISO session does.
	if _, err := conn.Exec(ctx, "SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; SET IntervalStyle = 'postgres'; SET extra_float_digits = 1"); err != nil {
		return exp, err
	}
	defer conn.Exec(ctx, "RESET ALL")
	resolved, err := notify.Resolve(ctx, conn, b.Specs, "")
	if err != nil {
		return exp, err
	}
	for _, t := range resolved {
		keyCols := t.Key.Columns()
		var valueCols []string
		for _, c := range t.Value {
			valueCols = append(valueCols, c.Name)
		}
		if t.Exclude != nil {
			// From the catalog with this package's own query rather
			// than Resolve's value columns: exclude= must mean every
			// column the table has now but those.
			if valueCols, err = columnsBut(ctx, conn, t.Ident(), t.Exclude); err != nil {
				return exp, err
			}
		}
		// One query, so keys and values come from the same row.
		// where= as the user wrote it: the mirror holds the rows
		// PostgreSQL says match.
		var conds []string
		if t.Where != "" {
			conds = append(conds, t.Where)
		}
		// expire_at=: a row whose instant has passed is not in the
		// mirror; the session is in UTC, so timestamp and date columns
		// read as UTC.
		expiry := "-1"
		if t.ExpireAt != "" {
			c := "r." + spec.QuoteIdent(t.ExpireAt)
			conds = append(conds, fmt.Sprintf("(%[1]s IS NULL OR %[1]s::timestamptz > now())", c))
			expiry = fmt.Sprintf("CASE WHEN %[1]s IS NULL OR %[1]s = 'infinity' THEN -1 ELSE floor(extract(epoch FROM %[1]s::timestamptz) * 1000)::bigint END", c)
		}
		filter := ""
		if len(conds) > 0 {
			filter = " WHERE " + strings.Join(conds, " AND ")
		}
		if err := expectIndexes(ctx, conn, t, filter, &exp); err != nil {
			return exp, err
		}
		rows, err := conn.Query(ctx, fmt.Sprintf("SELECT %s, to_jsonb(r.*), %s, %s FROM %s r%s", expiry, textCols(keyCols), textCols(valueCols), t.Ident(), filter))
		if err != nil {
			return exp, err
		}
		type row struct {
			doc    map[string]any
			expiry int64
			keys   []*string
			text   []*string
		}
		var all []row
		for rows.Next() {
			var docText []byte
			r := row{keys: make([]*string, len(keyCols)), text: make([]*string, len(valueCols))}
			dest := []any{&r.expiry, &docText}
			for i := range r.keys {
				dest = append(dest, &r.keys[i])
			}
			for i := range r.text {
				dest = append(dest, &r.text[i])
			}
			if err := rows.Scan(dest...); err != nil {
				return exp, err
			}
			d := json.NewDecoder(strings.NewReader(string(docText)))
			d.UseNumber()
			if err := d.Decode(&r.doc); err != nil {
				return exp, err
			}
			all = append(all, r)
		}
		if err := rows.Err(); err != nil {
			return exp, err
		}
		for _, r := range all {
			vals := make([]string, len(r.keys))
			null := false
			for j, p := range r.keys {
				if p == nil {
					null = true
				} else {
					vals[j] = *p
				}
			}
			if null {
				continue
			}
			key := t.Key.Render(vals)
			if t.TTL > 0 {
				exp.TTL[key] = t.TTL
			}
			if t.ExpireAt != "" {
				exp.ExpireAt[key] = r.expiry
			}
			if t.Format == spec.FormatHash {
				fields := map[string]string{}
				for j, c := range valueCols {
					if v := r.text[j]; v != nil {
						fields[c] = *v
					}
				}
				if len(fields) > 0 {
					exp.Hashes[key] = fields
				}
				continue
			}
			doc := r.doc
			for _, c := range t.Exclude {
				delete(doc, c)
			}
			if t.Columns != nil {
				doc = map[string]any{}
				for _, c := range valueCols {
					doc[c] = r.doc[c]
				}
			}
			enc, err := json.Marshal(doc)
			if err != nil {
				return exp, err
			}
			exp.Strings[key] = string(enc)
		}
	}
	// A row whose key Redis does not hold (a hash with no field) is in
	// no index set either.
	for _, members := range exp.Sets {
		for k := range members {
			if _, ok := exp.Hashes[k]; !ok && exp.Strings[k] == "" {
				delete(members, k)
			}
		}
	}
	for _, members := range exp.ZSets {
		for k := range members {
			if _, ok := exp.Hashes[k]; !ok && exp.Strings[k] == "" {
				delete(members, k)
			}
		}
	}
	maps.DeleteFunc(exp.Sets, func(_ string, m map[string]bool) bool { return len(m) == 0 })
	maps.DeleteFunc(exp.ZSets, func(_ string, m map[string]float64) bool { return len(m) == 0 })
	return exp, nil
}

// columnsBut lists the table's columns other than exclude, in attnum order.
func columnsBut(ctx context.Context, conn *pgxpool.Conn, table string, exclude []string) ([]string, error) {
	rows, err := conn.Query(ctx, `SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND NOT attname = ANY($2) ORDER BY attnum`, table, exclude)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func textCols(cols []string) string {
	var out []string
	for _, c := range cols {
		out = append(out, "(r."+spec.QuoteIdent(c)+")::text")
	}
	return strings.Join(out, ", ")
}

// Diff compares Redis with the expected mirror: every key of the Redis
// database must be expected (or a state key) with the expected value.
// JSON values compare as documents, parsed with exact numbers.
func (b *Bundle) Diff(ctx context.Context) error {
	exp, err := b.Expect(ctx)
	if err != nil {
		return err
	}
	rdb := b.mirrorClient()
	keys, err := allKeys(ctx, rdb)
	if err != nil {
		return err
	}
	var problems []string
	seen := map[string]bool{}
	for _, k := range keys {
		if strings.HasPrefix(k, StatePrefix) || (b.Outside != nil && b.Outside(k)) {
			continue
		}
		seen[k] = true
		if p, ok := diffIndex(ctx, rdb, exp, k); ok {
			if p != "" {
				problems = append(problems, p)
			}
			continue
		}
		if want, ok := exp.Strings[k]; ok {
			got, err := rdb.Get(ctx, k).Result()
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", k, err))
			} else if !sameJSON(got, want) {
				problems = append(problems, fmt.Sprintf("%s = %s, want %s", k, got, want))
			}
		} else if want, ok := exp.Hashes[k]; ok {
			got, err := rdb.HGetAll(ctx, k).Result()
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", k, err))
			} else if !maps.Equal(got, want) {
				problems = append(problems, fmt.Sprintf("%s = %v, want %v", k, got, want))
			}
		} else {
			problems = append(problems, fmt.Sprintf("unexpected key %q", k))
			continue
		}
		if at, ok := exp.ExpireAt[k]; ok {
			if got, err := rdb.Do(ctx, "PEXPIRETIME", k).Int64(); err != nil || got != at {
				problems = append(problems, fmt.Sprintf("%s: expiry instant %d ms, want %d (%v)", k, got, at, err))
			}
		}
		if ttl, ok := exp.TTL[k]; ok {
			got := rdb.PTTL(ctx, k).Val()
			if got <= 0 || got > ttl {
				problems = append(problems, fmt.Sprintf("%s: ttl %v, want (0, %v]", k, got, ttl))
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(exp.Strings)) {
		if !seen[k] {
			problems = append(problems, fmt.Sprintf("missing key %q", k))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(exp.Hashes)) {
		if !seen[k] {
			problems = append(problems, fmt.Sprintf("missing key %q", k))
		}
	}
	for _, k := range slices.Concat(slices.Sorted(maps.Keys(exp.Sets)), slices.Sorted(maps.Keys(exp.ZSets))) {
		if !seen[k] {
			problems = append(problems, fmt.Sprintf("missing index set %q", k))
		}
	}
	problems = append(problems, diffCompanions(ctx, rdb, exp, keys)...)
	if len(problems) > 0 {
		slices.Sort(problems)
		if len(problems) > 10 {
			problems = append(problems[:10], fmt.Sprintf("... and %d more", len(problems)-10))
		}
		return fmt.Errorf("mirror differs (%d expected keys):\n  %s", len(exp.Strings)+len(exp.Hashes), strings.Join(problems, "\n  "))
	}
	return nil
}

func sameJSON(a, b string) bool {
	var x, y any
	dx := json.NewDecoder(strings.NewReader(a))
	dx.UseNumber()
	dy := json.NewDecoder(strings.NewReader(b))
	dy.UseNumber()
	if dx.Decode(&x) != nil || dy.Decode(&y) != nil {
		return false
	}
	ex, _ := json.Marshal(x)
	ey, _ := json.Marshal(y)
	return string(ex) == string(ey)
}
