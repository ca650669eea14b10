package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/pgredis/pgredis/internal/spec"
	"github.com/pgredis/pgredis/notify"
)

// The fast tier: the active worker's transitions, through fakes at the
// seams (source, mirror, tableReconciler), with no server. The real
// services are exercised by the *_test.go files of package worker_test.

type reply struct {
	id string
	m  replyMsg
}

type fakeSource struct {
	payloadC chan string
	lostC    chan error
	holdsErr error
	reloadFn func() (map[string]*table, error)
	replies  []reply
	marks    []string
}

func (f *fakeSource) payloads() <-chan string { return f.payloadC }
func (f *fakeSource) lost() <-chan error      { return f.lostC }
func (f *fakeSource) holdsLock(context.Context) error {
	return f.holdsErr
}
func (f *fakeSource) reload(context.Context) (map[string]*table, error) { return f.reloadFn() }
func (f *fakeSource) reply(_ context.Context, id string, m replyMsg) error {
	f.replies = append(f.replies, reply{id, m})
	return nil
}
func (f *fakeSource) mark(_ context.Context, id string) error {
	f.marks = append(f.marks, id)
	return nil
}
func (f *fakeSource) readLarge(context.Context, []pendingWrite) error { return nil }
func (f *fakeSource) resetCapture(context.Context) error              { return nil }
func (f *fakeSource) barriers(context.Context) ([]string, error)      { return nil, nil }
func (f *fakeSource) sync() <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}
func (f *fakeSource) forgetBarriers(context.Context, []string) error {
	return nil
}

// answers returns the replies to id, in order.
func (f *fakeSource) answers(id string) []replyMsg {
	var out []replyMsg
	for _, r := range f.replies {
		if r.id == id {
			out = append(out, r.m)
		}
	}
	return out
}

type fakeMirror struct {
	claims   int
	owned_   bool
	ownerTok string
	applyErr error
	pingErr  error
	applied  [][]write
	ident    string
	mem      memInfo
}

func (f *fakeMirror) claim(context.Context) error { f.claims++; f.owned_ = true; return nil }
func (f *fakeMirror) owned(context.Context) (bool, error) {
	return f.owned_, nil
}
func (f *fakeMirror) owner(context.Context) (string, error) { return f.ownerTok, nil }
func (f *fakeMirror) apply(_ context.Context, ws []write) error {
	if f.applyErr != nil {
		return f.applyErr
	}
	f.applied = append(f.applied, ws)
	return nil
}
func (f *fakeMirror) ping(context.Context) error { return f.pingErr }
func (f *fakeMirror) identity(context.Context) (string, error) {
	return f.ident, nil
}
func (f *fakeMirror) memory(context.Context) (memInfo, error) { return f.mem, nil }
func (f *fakeMirror) scan(context.Context, string, func([]string) error) error {
	return nil
}

type fakeRec struct {
	mu     sync.Mutex
	errs   map[string]error
	calls  []string
	audits []string
	// drift is what an audit's dry run finds, by table name.
	drift map[string]int64
}

func (f *fakeRec) reconcile(_ context.Context, t *table, dry bool, _ func(Progress)) (Report, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, t.Name)
	return Report{Table: t.Table.String(), DryRun: dry}, f.errs[t.Name]
}

func (f *fakeRec) audit(_ context.Context, t *table) (Report, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.audits = append(f.audits, t.Name)
	return Report{Table: t.Table.String(), DryRun: true, Written: f.drift[t.Name]}, nil
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type rig struct {
	m     *machine
	src   *fakeSource
	st    *fakeMirror
	rec   *fakeRec
	logs  *logBuf
	met   *Metrics
	beats int
	// published is the last quarantine report.
	published map[string]string
	acct, sub *table
}

func testTable(t *testing.T, name, version string) *table {
	t.Helper()
	parsed, err := spec.Parse(name)
	if err != nil {
		t.Fatal(err)
	}
	key, err := spec.ParseTemplate(name + ":{id}")
	if err != nil {
		t.Fatal(err)
	}
	return newTable(notify.Installed{Table: parsed[0], Key: key, Version: version})
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{
		src:  &fakeSource{payloadC: make(chan string, 256), lostC: make(chan error, 1)},
		st:   &fakeMirror{},
		rec:  &fakeRec{errs: map[string]error{}, drift: map[string]int64{}},
		logs: &logBuf{},
		met:  NewMetrics(prometheus.NewRegistry()),
		acct: testTable(t, "acct", "v1"),
		sub:  testTable(t, "sub", "v2"),
	}
	cfg := &Config{Logger: slog.New(slog.NewTextHandler(r.logs, nil)), BatchSize: 64, MaxBackoff: time.Millisecond, Metrics: r.met}
	r.m = newMachine(cfg, r.src, r.st, r.rec, map[string]*table{"v1": r.acct, "v2": r.sub})
	r.m.beat = func(context.Context, *notify.Control) { r.beats++ }
	r.m.report = func(q map[string]string) { r.published = q }
	t.Cleanup(func() { r.m.retry.Stop() })
	return r
}

// step runs one mode and checks where it goes.
func (r *rig) step(t *testing.T, from, want mode) {
	t.Helper()
	got, err := r.m.step(context.Background(), from)
	if err != nil {
		t.Fatalf("%s: %v", from, err)
	}
	if got != want {
		t.Fatalf("%s went to %s, want %s; log:\n%s", from, got, want, r.logs)
	}
}

// live brings the rig to apply mode, as a tenure's start does.
func (r *rig) live(t *testing.T) {
	t.Helper()
	r.step(t, modeClaim, modeRepair)
	r.step(t, modeRepair, modeApply)
	r.rec.calls = nil
}

func (r *rig) send(payloads ...string) {
	for _, p := range payloads {
		r.src.payloadC <- p
	}
}

func setPayload(version, key, value string) string {
	return fmt.Sprintf("p1 %s 1 0\nS%d:%s%d:%s", version, len(key), key, len(value), value)
}

func control(kind, id string) string { return notify.Control{Kind: kind, ID: id}.Encode() }

func TestModesStartUpClaimsAndRepairsEveryTable(t *testing.T) {
	r := newRig(t)
	r.step(t, modeClaim, modeRepair)
	if r.st.claims != 1 || len(r.m.dirty) != 2 {
		t.Fatalf("claim: %d claims, %d dirty tables; want 1 and 2", r.st.claims, len(r.m.dirty))
	}
	r.step(t, modeRepair, modeApply)
	if got := strings.Join(r.rec.calls, ","); got != "acct,sub" || len(r.m.dirty) != 0 {
		t.Fatalf("repair reconciled %q leaving %d dirty; want acct,sub and none", got, len(r.m.dirty))
	}
}

// A resync request is taken in order with the changes, acknowledged at
// once, and served between batches, after the changes before it reached
// Redis; it never runs from inside a batch.
func TestModesResyncIsServedBetweenBatches(t *testing.T) {
	r := newRig(t)
	r.live(t)
	r.send(setPayload("v1", "acct:1", "{}"), control("resync", "r1"), control("beat", "b1"))
	r.step(t, modeApply, modeServe)
	if len(r.st.applied) != 1 || r.st.applied[0][0].key != "acct:1" {
		t.Fatalf("applied %v, want the batch's write", r.st.applied)
	}
	if len(r.rec.calls) != 0 {
		t.Fatalf("a reconcile ran inside the batch: %v", r.rec.calls)
	}
	if a := r.src.answers("r1"); len(a) != 1 || !a[0].Accepted {
		t.Fatalf("r1 answers %+v, want one acknowledgement", a)
	}
	if r.beats != 1 {
		t.Fatalf("%d beats recorded, want 1", r.beats)
	}
	r.step(t, modeServe, modeApply)
	a := r.src.answers("r1")
	if len(a) != 4 || a[1].Report == nil || a[2].Report == nil || !a[3].Done || a[3].Error != "" {
		t.Fatalf("r1 answers %+v, want accepted, two reports, done", a)
	}
}

// A resync repeats its request until it is acknowledged (a worker that
// just took the lock may not LISTEN yet); the worker serves an id once,
// whether the repeat arrives before or after it served it.
func TestModesResyncRepeatServedOnce(t *testing.T) {
	r := newRig(t)
	r.live(t)
	r.send(control("resync", "r1"), control("resync", "r1"))
	r.step(t, modeApply, modeServe)
	r.step(t, modeServe, modeApply)
	r.send(control("resync", "r1"), setPayload("v1", "acct:1", "{}"))
	r.step(t, modeApply, modeApply)
	done := 0
	for _, a := range r.src.answers("r1") {
		if a.Done {
			done++
		}
	}
	if done != 1 || len(r.rec.calls) != 2 {
		t.Fatalf("r1 served %d times (reconciled %v), want once", done, r.rec.calls)
	}
	for i := range maxTaken + 10 {
		r.m.ctl.add(&notify.Control{Kind: "resync", ID: fmt.Sprint(i)})
		r.m.ctl.takeRequests()
	}
	if len(r.m.ctl.taken) != maxTaken {
		t.Fatalf("%d request ids remembered, want %d", len(r.m.ctl.taken), maxTaken)
	}
}

// Item 4: a resync request in the same batch as a change whose Redis
// write fails is answered (with the reason), and one that arrives while
// Redis is down is answered at once; beats do not pile up meanwhile.
func TestModesResyncDuringRedisRefusalIsAnswered(t *testing.T) {
	r := newRig(t)
	r.live(t)
	r.st.applyErr = redisErr(errors.New("OOM command not allowed when used memory > 'maxmemory'"))
	r.send(control("resync", "r1"), setPayload("v1", "acct:1", "{}"))
	r.step(t, modeApply, modeDown)
	a := r.src.answers("r1")
	if len(a) != 2 || !a[1].Done || !strings.Contains(a[1].Error, "cannot write to Redis") {
		t.Fatalf("r1 answers %+v, want accepted then an error naming Redis", a)
	}
	// Far more beats than any buffer: down mode reads and drops them.
	for i := range 5000 {
		r.send(control("beat", fmt.Sprint("b", i)))
		if i == 4000 {
			r.send(control("resync", "r2"))
		}
		if len(r.src.payloadC) > 100 {
			r.m.retry.Stop()
			r.step(t, modeDown, modeDown)
		}
	}
	for len(r.src.payloadC) > 0 {
		r.m.retry.Stop()
		r.step(t, modeDown, modeDown)
	}
	if a := r.src.answers("r2"); len(a) != 1 || !a[0].Done || !strings.Contains(a[0].Error, "OOM") {
		t.Fatalf("r2 answers %+v, want one error naming the refusal", a)
	}
	if len(r.m.ctl.beats) != 0 || len(r.m.ctl.requests) != 0 || r.beats != 0 {
		t.Fatalf("down mode kept %d beats and %d requests, recorded %d beats; want none", len(r.m.ctl.beats), len(r.m.ctl.requests), r.beats)
	}
	if n := value(t, r.met.errors.WithLabelValues("redis")); n != 1 {
		t.Fatalf("redis apply errors = %v, want 1", n)
	}
}

// Down mode retries with backoff and claims again once Redis answers.
func TestModesDownRetriesThenClaims(t *testing.T) {
	r := newRig(t)
	r.m.markDown(redisErr(errors.New("connection refused")))
	r.st.pingErr = redisErr(errors.New("connection refused"))
	r.step(t, modeDown, modeDown)
	r.st.pingErr = nil
	r.step(t, modeDown, modeClaim)
	r.step(t, modeClaim, modeRepair)
	r.step(t, modeRepair, modeApply)
	if !strings.Contains(r.logs.String(), "Redis is back") {
		t.Fatalf("no recovery logged:\n%s", r.logs)
	}
}

// Item 7: a PostgreSQL error while rereading the registry ends the tenure
// (the worker reconnects) and is neither logged nor counted as Redis's.
func TestModesRegistryErrorIsNotARedisError(t *testing.T) {
	r := newRig(t)
	r.live(t)
	pgerr := &pgconn.PgError{Code: "42703", Message: `column "fetch_sql" does not exist`}
	r.src.reloadFn = func() (map[string]*table, error) {
		return nil, fmt.Errorf("error reading pgredis.tables: %w", pgerr)
	}
	r.send(setPayload("v9", "acct:1", "{}"))
	next, err := r.m.step(context.Background(), modeApply)
	if next != modeDone || !errors.As(err, &pgerr) {
		t.Fatalf("went to %s with %v, want done with the PostgreSQL error", next, err)
	}
	if strings.Contains(r.logs.String(), "Redis is") {
		t.Fatalf("a PostgreSQL error logged as Redis's:\n%s", r.logs)
	}
	if n := value(t, r.met.errors.WithLabelValues("redis")); n != 0 {
		t.Fatalf("redis apply errors = %v, want 0", n)
	}
	if n := value(t, r.met.errors.WithLabelValues("postgres")); n != 1 {
		t.Fatalf("postgres apply errors = %v, want 1", n)
	}
}

// Item 3 (transitions): a table whose reconcile fails on its own trouble
// is quarantined and reported while the others are reconciled; it is
// retried once its backoff is due and released when it succeeds.
func TestModesTableTroubleIsQuarantined(t *testing.T) {
	r := newRig(t)
	r.rec.errs["acct"] = &pgconn.PgError{Code: "22P05", Message: "unsupported Unicode escape sequence"}
	r.step(t, modeClaim, modeRepair)
	r.step(t, modeRepair, modeApply)
	if got := strings.Join(r.rec.calls, ","); got != "acct,sub" {
		t.Fatalf("reconciled %q, want acct,sub", got)
	}
	if _, ok := r.published["public.acct"]; !ok || len(r.published) != 1 {
		t.Fatalf("published %v, want public.acct quarantined", r.published)
	}
	// An OpReconcile for it waits for the backoff instead of looping.
	r.send(fmt.Sprintf("p1 v1 1 0\nX%d:%s", 3, "why"))
	r.step(t, modeApply, modeApply)
	if len(r.rec.calls) != 2 {
		t.Fatalf("a quarantined table was retried before its backoff: %v", r.rec.calls)
	}
	r.rec.calls = nil
	delete(r.rec.errs, "acct")
	r.m.now = func() time.Time { return time.Now().Add(time.Hour) }
	if next, err := r.m.check(context.Background()); next != modeRepair || err != nil {
		t.Fatalf("check went to %s (%v), want repair", next, err)
	}
	r.step(t, modeRepair, modeApply)
	if got := strings.Join(r.rec.calls, ","); got != "acct" || len(r.published) != 0 {
		t.Fatalf("retry reconciled %q and left %v quarantined; want acct and none", got, r.published)
	}
	if n := value(t, r.met.modes.quarantined); n != 0 {
		t.Fatalf("quarantined gauge %v, want 0", n)
	}
}

// A write refused by the fence: Redis lost the claim (claim again), or
// another worker holds it while this one lost the lock (stand down).
func TestModesFenced(t *testing.T) {
	r := newRig(t)
	r.live(t)
	r.st.applyErr = ErrFenced
	r.send(setPayload("v1", "acct:1", "{}"))
	r.step(t, modeApply, modeClaim)

	r.st.ownerTok = "0123456789abcdef"
	r.src.holdsErr = fmt.Errorf("%w: not held", errSessionLost)
	r.send(setPayload("v1", "acct:1", "{}"))
	next, err := r.m.step(context.Background(), modeApply)
	if next != modeDone || err == nil || !strings.Contains(err.Error(), "standing down") {
		t.Fatalf("went to %s with %v, want done, standing down", next, err)
	}
}

func TestModesLostClaimRebuilds(t *testing.T) {
	r := newRig(t)
	r.live(t)
	r.st.owned_ = false
	if next, err := r.m.check(context.Background()); next != modeClaim || err != nil {
		t.Fatalf("check went to %s (%v), want claim", next, err)
	}
}

// A payload the worker cannot decode rebuilds the mirror; a resync request
// later in the same batch is kept and served after the rebuild.
func TestModesUndecodableBatchKeepsRequests(t *testing.T) {
	r := newRig(t)
	r.live(t)
	r.send("garbage", control("resync", "r1"))
	r.step(t, modeApply, modeClaim)
	r.step(t, modeClaim, modeRepair)
	r.step(t, modeRepair, modeServe)
	r.step(t, modeServe, modeApply)
	if a := r.src.answers("r1"); len(a) == 0 || !a[len(a)-1].Done || a[len(a)-1].Error != "" {
		t.Fatalf("r1 answers %+v, want done", a)
	}
}

// A tenure that ends on a PostgreSQL failure still answers the requests
// waiting for it.
func TestModesPostgresFailureAnswersWaitingRequests(t *testing.T) {
	r := newRig(t)
	r.live(t)
	r.rec.errs["acct"] = errors.New("conn closed")
	r.send(control("resync", "r1"), control("resync", "r2"))
	r.step(t, modeApply, modeServe)
	next, err := r.m.step(context.Background(), modeServe)
	if next != modeDone || err == nil {
		t.Fatalf("went to %s with %v, want done with the error", next, err)
	}
	for _, id := range []string{"r1", "r2"} {
		a := r.src.answers(id)
		if last := a[len(a)-1]; !last.Done || last.Error == "" {
			t.Fatalf("%s answers %+v, want a final error", id, a)
		}
	}
}

// A one-shot resync reconciles, sends its marker and ends once the marker
// comes back after the changes before it.
func TestModesOneShot(t *testing.T) {
	r := newRig(t)
	r.m.once = &oneShot{mark: "m1"}
	r.step(t, modeOneShot, modeApply)
	if len(r.m.once.reports) != 2 || len(r.src.marks) != 1 {
		t.Fatalf("one-shot: %d reports, %d marks; want 2 and 1", len(r.m.once.reports), len(r.src.marks))
	}
	r.send(setPayload("v1", "acct:1", "{}"))
	r.step(t, modeApply, modeApply)
	r.send(control("mark", "m1"), setPayload("v1", "acct:2", "{}"))
	r.step(t, modeApply, modeDone)
	if len(r.st.applied) != 2 {
		t.Fatalf("%d batches applied, want 2", len(r.st.applied))
	}
}

// The controller's queues are bounded whatever arrives.
func TestControllerBounded(t *testing.T) {
	var c controller
	for i := range 1000 {
		c.add(&notify.Control{Kind: "beat", ID: fmt.Sprint(i)})
	}
	refused := 0
	for i := range maxRequests + 10 {
		if c.add(&notify.Control{Kind: "resync", ID: fmt.Sprint(i)}) != nil {
			refused++
		}
	}
	if len(c.beats) != 1 || len(c.requests) != maxRequests || refused != 10 {
		t.Fatalf("%d beats, %d requests kept, %d refused; want 1, %d, 10", len(c.beats), len(c.requests), refused, maxRequests)
	}
}

// value reads a counter or gauge.
func value(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

// Item 1 (transitions): a Redis whose identity changed (restarted, failed
// over, restored from an older snapshot) is rebuilt even though it still
// holds this worker's claim.
func TestModesNewRedisIdentityRebuilds(t *testing.T) {
	r := newRig(t)
	r.st.ident = "run-a/repl-a"
	r.live(t)
	if next, err := r.m.check(context.Background()); next != modeApply || err != nil {
		t.Fatalf("check went to %s (%v), want apply", next, err)
	}
	r.st.ident = "run-b/repl-a"
	if next, err := r.m.check(context.Background()); next != modeClaim || err != nil {
		t.Fatalf("check went to %s (%v), want claim", next, err)
	}
}

// Item 2 (transitions): a claim lost to eviction is reported and waits in
// down mode with backoff; one lost otherwise is rebuilt at once.
func TestModesEvictedClaimIsReported(t *testing.T) {
	r := newRig(t)
	r.st.mem = memInfo{maxmemory: 1 << 20, policy: "allkeys-random", evicted: 10}
	r.live(t)
	r.st.owned_ = false
	if next, _ := r.m.check(context.Background()); next != modeClaim {
		t.Fatalf("a claim lost without evictions went to %s, want claim", next)
	}
	r.st.mem.evicted = 500
	if next, _ := r.m.check(context.Background()); next != modeDown {
		t.Fatalf("a claim lost to evictions went to %s, want down", next)
	}
	if !strings.Contains(r.logs.String(), "Redis cannot hold the mirror") {
		t.Fatalf("not reported:\n%s", r.logs)
	}
	// The rebuild succeeds and is evicted again: the backoff goes on
	// growing, and the report is not repeated within the minute.
	r.m.healthy()
	r.st.mem.evicted = 900
	if next, _ := r.m.check(context.Background()); next != modeDown || r.m.evictAttempt != 2 {
		t.Fatalf("a second eviction of the claim went to %s at attempt %d, want down at 2", next, r.m.evictAttempt)
	}
	if n := strings.Count(r.logs.String(), "Redis cannot hold the mirror"); n != 1 {
		t.Fatalf("reported %d times, want once", n)
	}
	// A claim check that sees no new evictions starts the backoff over.
	r.st.owned_ = true
	if next, _ := r.m.check(context.Background()); next != modeApply || r.m.evictAttempt != 0 {
		t.Fatalf("with no new evictions check went to %s at attempt %d, want apply at 0", next, r.m.evictAttempt)
	}
}

// Evictions under an allkeys-* policy that spared the claim are reported
// (mirror keys may be among them), at most once a minute, and every table
// is reconciled after a backoff while the mirror stays live; under a
// volatile-* policy (only ttl= keys go) they are not.
func TestModesEvictionsSparingTheClaimAreReported(t *testing.T) {
	r := newRig(t)
	r.st.mem = memInfo{maxmemory: 1 << 20, policy: "volatile-lru", evicted: 10}
	r.live(t)
	ctx := context.Background()
	r.st.mem.evicted = 50
	if next, err := r.m.check(ctx); next != modeApply || err != nil {
		t.Fatalf("check went to %s (%v), want apply", next, err)
	}
	if strings.Contains(r.logs.String(), "cannot hold the mirror") {
		t.Fatalf("volatile-lru evictions reported:\n%s", r.logs)
	}
	r.st.mem.policy = "allkeys-lru"
	clock := time.Now()
	r.m.now = func() time.Time { return clock }
	for _, evicted := range []int64{60, 70} {
		r.st.mem.evicted = evicted
		if next, err := r.m.check(ctx); next != modeApply || err != nil {
			t.Fatalf("check went to %s (%v), want apply until the backoff is over", next, err)
		}
	}
	if n := strings.Count(r.logs.String(), "Redis cannot hold the mirror: it evicted 10 keys"); n != 1 {
		t.Fatalf("reported %d times, want once:\n%s", n, r.logs)
	}
	clock = clock.Add(r.m.cfg.MaxBackoff)
	if next, err := r.m.check(ctx); next != modeRepair || err != nil || len(r.m.dirty) != len(r.m.tables) {
		t.Fatalf("check went to %s (%v) with %d of %d tables dirty, want a repair of all", next, err, len(r.m.dirty), len(r.m.tables))
	}
	r.step(t, modeRepair, modeApply)
	clock = clock.Add(time.Hour)
	if next, err := r.m.check(ctx); next != modeApply || err != nil {
		t.Fatalf("with no new evictions check went to %s (%v), want apply", next, err)
	}
}

// Item 2 (transitions): the audit checks one table per tick, in turn, with
// a dry run beside the apply loop; only a table that shows drift is
// reconciled in the loop, and what it repaired is counted by cause.
func TestModesAuditVisitsEveryTableInTurn(t *testing.T) {
	r := newRig(t)
	r.live(t)
	r.rec.drift["sub"] = 2
	var next []mode
	for range 4 {
		r.m.startAudit(context.Background())
		r.m.startAudit(context.Background()) // one check at a time
		next = append(next, r.m.auditChecked(<-r.m.auditRes))
		if next[len(next)-1] == modeAudit {
			r.step(t, modeAudit, modeApply)
		}
	}
	if got := strings.Join(r.rec.audits, ","); got != "acct,sub,acct,sub" {
		t.Fatalf("audit checked %q, want acct,sub,acct,sub", got)
	}
	if got := fmt.Sprint(next); got != "[apply audit apply audit]" {
		t.Fatalf("after the checks: %s, want apply, audit, apply, audit", got)
	}
	if got := strings.Join(r.rec.calls, ","); got != "sub,sub" {
		t.Fatalf("audit reconciled %q, want sub,sub", got)
	}
	r.m.audited(Report{Table: "public.acct", Written: 3, Missing: 1, Deleted: 2, Expired: 4})
	for cause, want := range map[string]float64{"changed": 2, "missing": 1, "extra": 2, "expired": 4} {
		if n := value(t, r.met.modes.drift.WithLabelValues("public.acct", cause)); n != want {
			t.Errorf("drift %s = %v, want %v", cause, n, want)
		}
	}
}

// Item 3 (transitions): a value Redis refuses on its own quarantines its
// table; the worker stays in apply mode instead of Redis-down.
func TestModesRefusedValueQuarantinesItsTable(t *testing.T) {
	r := newRig(t)
	r.live(t)
	r.st.applyErr = &refusedWrites{keys: []string{"acct:1"}, cause: errors.New("ERR Protocol error: invalid bulk length")}
	r.send(setPayload("v1", "acct:1", "{}"), setPayload("v2", "sub:1", "{}"))
	r.step(t, modeApply, modeApply)
	if _, ok := r.published["public.acct"]; !ok || len(r.published) != 1 {
		t.Fatalf("published %v, want public.acct quarantined", r.published)
	}
	if !strings.Contains(r.logs.String(), "key=acct:1") {
		t.Fatalf("the key is not named:\n%s", r.logs)
	}
}

// A registry reread (migrate up ran) carries quarantines and dirty marks
// over to the new tables by name, so none is reported for a table gone.
func TestModesReloadCarriesQuarantineOver(t *testing.T) {
	r := newRig(t)
	r.rec.errs["acct"] = &pgconn.PgError{Code: "42703"}
	r.live(t)
	acct2 := testTable(t, "acct", "v3")
	r.src.reloadFn = func() (map[string]*table, error) {
		return map[string]*table{"v3": acct2, "v2": r.sub}, nil
	}
	r.send(setPayload("v3", "acct:1", "{}"))
	r.step(t, modeApply, modeApply)
	if r.m.quarantine[acct2] == nil || r.m.quarantine[r.acct] != nil || len(r.published) != 1 {
		t.Fatalf("quarantine %v, published %v; want it moved to the reread table", r.m.quarantine, r.published)
	}
}
