package worker_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
	"github.com/pgredis/pgredis/worker"
)

// index=: sets and sorted sets hold exactly the keys of the rows that
// render their names (compared with a query on PostgreSQL, scores and
// pgredis's companion records included), live and through the start-up
// reconcile and resync: with where=, exclude=, expire_at=, json and hash;
// rows moving between names, A -> B -> A, key changes, a row crossing the
// where= boundary inside one transaction, NULL placeholders and scores,
// deletes, TRUNCATE, and drift (extra and missing members, wrong scores,
// orphan sets and companion records, a set of the wrong type) repaired.
func TestIndexSets(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, `
CREATE TABLE users (id int PRIMARY KEY, org text, age numeric, active boolean, signed timestamptz, secret text);
CREATE TABLE uh (id int PRIMARY KEY, org text, n int, until timestamptz);
INSERT INTO users VALUES
	(1, 'a', 30, true, '2020-01-01 00:00:00.5+00', 's1'),
	(2, 'a', 40, true, '2021-01-01+00', 's2'),
	(3, 'b', NULL, true, NULL, 's3'),
	(4, NULL, 20, true, '2022-01-01+00', 's4'),
	(5, 'b', 'NaN', false, '2023-01-01+00', 's5'),
	(6, 'c', 1e20, true, 'infinity', 's6');
INSERT INTO uh VALUES (1, 'x', 1, '2099-01-01+00'), (2, 'x', 2, NULL), (3, 'y', 3, '2001-01-01+00'), (4, NULL, 4, NULL);`,
		`users where=(active) exclude=secret index=org:{org} index=org_age:{org}@age index=signed@signed;
		 uh format=hash expire_at=until index=uh_org:{org}@n index=uh_all`)
	ctx := context.Background()
	// Drift for the start-up reconcile: an extra member, a wrong score,
	// an orphan set, a set of the wrong type, an orphan companion record.
	b.Redis.SAdd(ctx, "org:a", "users:1", "users:99")
	b.Redis.ZAdd(ctx, "org_age:a", redisZ(7, "users:1"))
	b.Redis.SAdd(ctx, "org:zzz", "users:1")
	b.Redis.Set(ctx, "uh_all", "not a set", 0)
	b.Redis.HSet(ctx, pgredistest.StatePrefix+"ix:deadbeef:{x}users:77", "org:q", "")
	startListening(t, b)
	b.WaitMirror(t, converge)

	steps := []string{
		// Inserts, one with NULLs, one with a NaN score.
		`INSERT INTO users VALUES (7, 'a', 50, true, '2024-01-01+00', 's7'), (8, NULL, NULL, true, NULL, 's8'), (9, 'c', 'NaN', true, NULL, 's9'); INSERT INTO uh VALUES (5, 'y', 5, '2098-01-01+00')`,
		// Moves between names and scores.
		`UPDATE users SET org = 'b' WHERE id = 1; UPDATE users SET age = age + 1 WHERE org = 'a'; UPDATE uh SET org = 'y', n = 10 WHERE id = 1`,
		// A -> B -> A inside one transaction, and in separate statements.
		`BEGIN; UPDATE users SET org = 'z', age = 1 WHERE id = 2; UPDATE users SET org = 'a', age = 41 WHERE id = 2; COMMIT`,
		`UPDATE users SET org = 'q' WHERE id = 7`,
		`UPDATE users SET org = 'a' WHERE id = 7`,
		// NULL placeholder and score: only in the plain-text index.
		`INSERT INTO uh VALUES (6, NULL, NULL, NULL); UPDATE uh SET org = 'y' WHERE id = 6`,
		// A NULL placeholder and score come and go.
		`UPDATE users SET org = NULL WHERE id = 3; UPDATE users SET org = 'd' WHERE id = 4; UPDATE users SET age = NULL WHERE id = 6; UPDATE users SET age = 3 WHERE id = 9`,
		// Key changes of indexed rows.
		`UPDATE users SET id = id + 100 WHERE id IN (1, 2); UPDATE uh SET id = 20 WHERE id = 2`,
		// Crossing where= inside one transaction: out -> in, in -> out.
		`BEGIN; UPDATE users SET active = false WHERE id = 101; UPDATE users SET active = true, org = 'e' WHERE id = 101; UPDATE users SET active = true WHERE id = 5; UPDATE users SET active = false WHERE id = 5; COMMIT`,
		`UPDATE users SET active = NOT active`,
		`UPDATE users SET active = true`,
		// expire_at=: a row whose instant passes by an update leaves its sets.
		`UPDATE uh SET until = '2000-01-01+00' WHERE id = 5; UPDATE uh SET until = '2097-01-01+00' WHERE id = 3`,
		// A row too large for a notification goes by reference, its index
		// names with it.
		`INSERT INTO users VALUES (10, repeat('o', 9000), 1, true, NULL, 's10'); UPDATE users SET org = 'a', secret = repeat('s', 9000) WHERE id = 10`,
		// An excluded column changing alone, then deletes.
		`UPDATE users SET secret = 'new' WHERE id = 6; DELETE FROM users WHERE id IN (6, 102); DELETE FROM uh WHERE id = 1`,
	}
	for i, s := range steps {
		b.Exec(t, s)
		b.WaitMirror(t, converge)
		if t.Failed() {
			t.Fatalf("after step %d: %s", i, s)
		}
	}

	// Drift with the worker running, repaired by resync: a missing
	// member, an extra one, a wrong score, an orphan set, a missing
	// companion record.
	b.Redis.SRem(ctx, "org:a", "users:7")
	b.Redis.SAdd(ctx, "org:d", "users:3")
	b.Redis.ZAdd(ctx, "org_age:a", redisZ(-5, "users:7"))
	b.Redis.ZAdd(ctx, "uh_org:nobody", redisZ(1, "uh:3"))
	comp := b.Redis.Keys(ctx, pgredistest.StatePrefix+"ix:*:{*}users:4").Val()
	if len(comp) != 1 {
		t.Fatalf("companion records of users:4: %q", comp)
	}
	b.Redis.Del(ctx, comp[0])
	reps, err := worker.Resync(ctx, b.Config(t), nil, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	var drift int64
	for _, r := range reps {
		drift += r.Indexes
	}
	if drift < 5 {
		t.Errorf("dry-run resync found %d index entries to repair, want at least 5: %+v", drift, reps)
	}
	if _, err := worker.Resync(ctx, b.Config(t), nil, false, nil); err != nil {
		t.Fatal(err)
	}
	b.RequireMirror(t)

	b.Exec(t, `TRUNCATE users; DELETE FROM uh WHERE id = 3`)
	b.WaitMirror(t, converge)
	b.Exec(t, `TRUNCATE uh`)
	b.WaitMirror(t, converge)
}

func redisZ(score float64, member string) redis.Z { return redis.Z{Score: score, Member: member} }

// index= in a Redis Cluster: keys, companion records and sets spread
// over the slots of three masters; the sets follow live (the apply
// script defers their commands to a fenced call per slot) and through
// resync.
func TestIndexSetsCluster(t *testing.T) {
	t.Parallel()
	nodes := testenv.StartCluster(t, 3)
	addrs := []string{nodes[0].Addr(), nodes[1].Addr(), nodes[2].Addr()}
	b := pgredistest.New(t, `
CREATE TABLE users (id int PRIMARY KEY, org text, age int, active boolean);
INSERT INTO users SELECT i, 'o' || (i % 7), i, i % 5 <> 0 FROM generate_series(1, 200) i;`,
		"users where=(active) index=org:{org} index=age:{org}@age index=everyone")
	b.UseRedis(t, func() redis.UniversalClient { return redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs}) })
	cfg := b.Config(t)
	errs := &errorCount{Handler: cfg.Logger.Handler()}
	cfg.Logger = slog.New(errs)
	b.StartWorkerWith(t, cfg)
	b.WaitMirror(t, converge)
	for i, s := range []string{
		`UPDATE users SET org = 'o' || ((id + 1) % 7) WHERE id % 3 = 0`,
		`BEGIN; UPDATE users SET age = age + 1000; UPDATE users SET active = NOT active WHERE id < 50; COMMIT`,
		`UPDATE users SET id = id + 1000 WHERE id % 11 = 0; DELETE FROM users WHERE id % 13 = 0`,
		`UPDATE users SET org = NULL WHERE id % 17 = 0`,
	} {
		b.Exec(t, s)
		b.WaitMirror(t, converge)
		if t.Failed() {
			t.Fatalf("after step %d: %s", i, s)
		}
	}
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	defer rdb.Close()
	ctx := context.Background()
	rdb.SRem(ctx, "org:o1", rdb.SRandMember(ctx, "org:o1").Val())
	rdb.SAdd(ctx, "org:nobody", "users:1")
	rdb.ZAdd(ctx, "age:o2", redisZ(-1, rdb.ZRandMember(ctx, "age:o2", 1).Val()[0]))
	if _, err := worker.Resync(ctx, b.Config(t), nil, false, nil); err != nil {
		t.Fatal(err)
	}
	b.RequireMirror(t)
	b.Exec(t, `TRUNCATE users`)
	b.WaitMirror(t, converge)
	// Converging is not enough: a refused script is repaired by the
	// reconcile that follows it. The live path must not need one.
	if n := errs.n.Load(); n != 0 {
		t.Errorf("the worker logged %d errors", n)
	}
}

// errorCount counts the error records a worker logs.
type errorCount struct {
	slog.Handler
	n      atomic.Int64
	parent *errorCount // of a logger made With attributes
}

func (h *errorCount) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		h.root().n.Add(1)
	}
	return h.Handler.Handle(ctx, r)
}

func (h *errorCount) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &errorCount{Handler: h.Handler.WithAttrs(attrs), parent: h.root()}
}

func (h *errorCount) WithGroup(name string) slog.Handler {
	return &errorCount{Handler: h.Handler.WithGroup(name), parent: h.root()}
}

func (h *errorCount) root() *errorCount {
	if h.parent != nil {
		return h.parent
	}
	return h
}

// The continuous audit repairs index drift made by hand while a worker
// runs (no restart, no resync): an extra and a missing member, a wrong
// score, an orphan set; logged and counted as cause "index".
func TestAuditRepairsIndexDrift(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, `
CREATE TABLE items (id int PRIMARY KEY, kind text, rank int);
INSERT INTO items SELECT g, 'k' || (g % 3), g FROM generate_series(1, 30) g;`,
		"items index=kind:{kind} index=rank:{kind}@rank")
	logs, reg := audited(t, b, time.Second)
	ctx := context.Background()
	b.Redis.SRem(ctx, "kind:k1", "items:1")
	b.Redis.SAdd(ctx, "kind:k1", "items:2")
	b.Redis.ZAdd(ctx, "rank:k0", redisZ(1000, "items:3"))
	b.Redis.SAdd(ctx, "kind:gone", "items:4")
	b.WaitMirror(t, 10*time.Second)
	logs.Wait(t, 20*time.Second, "audit repaired drift", "table=public.items")
	if n := sumBy(t, reg, "pgredis_audit_keys_total", "cause", "index"); n < 4 {
		t.Errorf("pgredis_audit_keys_total{cause=index} = %v, want at least 4", n)
	}
}

// Guarantee 4 across a spec change: once migrate up drops an index=, its
// sets are outside every pattern pgredis owns, so moving a key that was
// in them leaves them alone (the companion records of the old options
// are not read); the kept index stays exact.
func TestIndexDroppedLeavesItsSets(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, `
CREATE TABLE items (id int PRIMARY KEY, kind text);
INSERT INTO items SELECT g, 'k' || (g % 3) FROM generate_series(1, 12) g;`,
		"items index=kind:{kind} index=old:{kind}")
	w := startListening(t, b)
	b.WaitMirror(t, converge)
	ctx := context.Background()
	before := map[string][]string{}
	for _, n := range b.Redis.Keys(ctx, "old:*").Val() {
		before[n] = b.Redis.SMembers(ctx, n).Val()
	}
	if len(before) != 3 {
		t.Fatalf("old index sets %v", before)
	}
	if err := w.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	b.Install(t, "items index=kind:{kind}")
	b.Outside = func(k string) bool { return strings.HasPrefix(k, "old:") }
	// Rows moved while no worker runs: the start-up reconcile rewrites
	// their keys before it checks the sets.
	b.Exec(t, `UPDATE items SET kind = 'k7' WHERE id IN (1, 2)`)
	startListening(t, b)
	b.WaitMirror(t, converge)
	b.Exec(t, `UPDATE items SET kind = 'k9' WHERE id < 6; DELETE FROM items WHERE id > 10`)
	b.WaitMirror(t, converge)
	for n, want := range before {
		got := b.Redis.SMembers(ctx, n).Val()
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s = %q, want it left alone: %q", n, got, want)
		}
	}
}

// index= on a partitioned table (rows moving between partitions), with
// key= and columns= leaving the indexed columns out of the value, scored
// by a date and a real (infinity, negative zero, NaN), live and through
// the start-up reconcile.
func TestIndexPartitionedScores(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, `
CREATE TABLE ev (id int, day date, kind text, amount real, PRIMARY KEY (id, day)) PARTITION BY RANGE (day);
CREATE TABLE ev_2024 PARTITION OF ev FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE ev_2025 PARTITION OF ev FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO ev VALUES (1, '2024-03-01', 'a', 1.5), (2, '2024-04-01', 'b', 'Infinity'), (3, '2025-01-01', 'a', '-0'), (4, '2025-02-01', NULL, 'NaN');`,
		"ev key=ev:{id}:{day} columns=id index=ev_kind:{kind}@day index=ev_amount@amount")
	ctx := context.Background()
	b.Redis.ZAdd(ctx, "ev_amount", redisZ(3, "ev:9:2024-01-01"))
	startListening(t, b)
	b.WaitMirror(t, converge)
	for i, s := range []string{
		`UPDATE ev SET day = '2025-03-01' WHERE id = 1`,
		`UPDATE ev_2025 SET kind = 'b', amount = -1e30 WHERE id = 3; INSERT INTO ev_2024 VALUES (5, '2024-12-31', 'b', 2)`,
		`UPDATE ev SET amount = 'NaN' WHERE id = 2; UPDATE ev SET amount = 7 WHERE id = 4`,
		`DELETE FROM ev_2024`,
	} {
		b.Exec(t, s)
		b.WaitMirror(t, converge)
		if t.Failed() {
			t.Fatalf("after step %d: %s", i, s)
		}
	}
}
