package worker

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pgredis/pgredis/notify"
)

// Metrics are the worker's Prometheus instruments. The caller owns the
// registry (no globals here): NewMetrics registers on it, and a nil
// *Metrics (the default) measures nothing.
type Metrics struct {
	changes        *prometheus.CounterVec
	errors         *prometheus.CounterVec
	batch          prometheus.Histogram
	lag            prometheus.Histogram
	lastApplied    prometheus.Gauge
	reconciles     *prometheus.CounterVec
	reconcileKeys  *prometheus.CounterVec
	active         prometheus.Gauge
	up             *prometheus.GaugeVec
	queueUsage     prometheus.Gauge
	heartbeatAge   prometheus.Gauge
	heartbeatsSent prometheus.Counter

	reconcileDuration *prometheus.HistogramVec
	deferredTotal     *prometheus.CounterVec
	tableLastChange   *prometheus.GaugeVec
	tableLag          *prometheus.GaugeVec
	pipelineLag       prometheus.Gauge

	// beats tracks heartbeats in flight, for pipelineLag.
	beats struct {
		sync.Mutex
		sent []int64 // send stamps (Unix µs) of beats not back yet, oldest first
		rtt  float64 // round trip of the newest beat that came back
	}
	unfit *prometheus.GaugeVec
	modes *modeMetrics
	// capture describes the capture mode (metrics_capture.go).
	capture *captureMetrics
}

// NewMetrics creates the worker's metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pgredis_changes_applied_total",
			Help: "Row changes applied to Redis from notifications, by table and operation (set, delete, fetch, truncate).",
		}, []string{"table", "op"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pgredis_apply_errors_total",
			Help: "Failures applying changes or reconciling, by kind (redis, postgres, fenced).",
		}, []string{"kind"}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "pgredis_batch_size",
			Help:    "Redis writes per applied batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "pgredis_lag_seconds",
			Help:    "End-to-end lag: from the trigger's clock_timestamp() to the change applied in Redis.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
		lastApplied: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pgredis_last_applied_timestamp_seconds",
			Help: "Unix time the last change notification was applied to Redis.",
		}),
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pgredis_reconcile_runs_total",
			Help: "Reconciliations of a table (not dry runs), by table and result (ok, error).",
		}, []string{"table", "result"}),
		reconcileKeys: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pgredis_reconcile_keys_total",
			Help: "Keys reconciliations found, by table and action (written, deleted, unchanged); written and deleted are drift repaired.",
		}, []string{"table", "action"}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pgredis_worker_active",
			Help: "1 while this process holds the worker lock and applies changes, 0 while it stands by.",
		}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pgredis_connection_up",
			Help: "1 when the last probe of the store (postgres, redis) succeeded.",
		}, []string{"store"}),
		queueUsage: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pgredis_notification_queue_usage_ratio",
			Help: "pg_notification_queue_usage(): fraction of PostgreSQL's NOTIFY queue in use (commits that NOTIFY fail at 1).",
		}),
		heartbeatAge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pgredis_heartbeat_age_seconds",
			Help: "Seconds since the active worker's last heartbeat came back through LISTEN and was applied in order (0 on a standby).",
		}),
		heartbeatsSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pgredis_heartbeats_sent_total",
			Help: "Heartbeats the active worker sent through PostgreSQL.",
		}),
		reconcileDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pgredis_reconcile_duration_seconds",
			Help:    "How long reconciliations of a table (not dry runs) took, by table.",
			Buckets: []float64{.01, .05, .1, .5, 1, 5, 10, 30, 60, 300, 900},
		}, []string{"table"}),
		deferredTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pgredis_notifications_deferred_total",
			Help: "Change notifications not applied one by one but left to the reconcile that follows, by reason (redis_down: Redis was unavailable or refused writes; reconcile_pending: a rebuild was due anyway).",
		}, []string{"reason"}),
		tableLastChange: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pgredis_table_last_change_timestamp_seconds",
			Help: "Unix time (the trigger's clock_timestamp()) of the newest change of the table applied to Redis.",
		}, []string{"table"}),
		tableLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pgredis_table_lag_seconds",
			Help: "Lag of the newest change of the table applied to Redis: from its trigger's clock_timestamp() to its write.",
		}, []string{"table"}),
		pipelineLag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pgredis_pipeline_lag_seconds",
			Help: "How far the active worker's apply pipeline trails PostgreSQL, measured with heartbeats: the round trip of the last heartbeat that came back, or the age of the oldest one still in flight, whichever is larger (0 on a standby). Meaningful when no table is written.",
		}),
	}
	// Known label values start at zero, so rate() sees the first error.
	for _, kind := range []string{"redis", "postgres", "fenced"} {
		m.errors.WithLabelValues(kind)
	}
	for _, reason := range []string{"redis_down", "reconcile_pending"} {
		m.deferredTotal.WithLabelValues(reason)
	}
	reg.MustRegister(m.changes, m.errors, m.batch, m.lag, m.lastApplied, m.reconciles, m.reconcileKeys,
		m.active, m.up, m.queueUsage, m.heartbeatAge, m.heartbeatsSent,
		m.reconcileDuration, m.deferredTotal, m.tableLastChange, m.tableLag, m.pipelineLag)
	m.unfit = newUnfitGauge(reg)
	m.modes = newModeMetrics(reg)
	m.capture = newCaptureMetrics(reg)
	return m
}

func (m *Metrics) applied(counts map[opKey]int, stamps []time.Time, newest map[string]time.Time, writes int) {
	if m == nil {
		return
	}
	now := time.Now()
	for table, s := range newest {
		m.tableLastChange.WithLabelValues(table).Set(float64(s.UnixMicro()) / 1e6)
		m.tableLag.WithLabelValues(table).Set(max(0, now.Sub(s).Seconds()))
	}
	for k, n := range counts {
		m.changes.WithLabelValues(k.table, k.op).Add(float64(n))
	}
	for _, s := range stamps {
		m.lag.Observe(max(0, now.Sub(s).Seconds()))
	}
	if writes > 0 {
		m.batch.Observe(float64(writes))
	}
	if len(stamps) > 0 {
		m.lastApplied.Set(float64(now.UnixNano()) / 1e9)
	}
}

func (m *Metrics) applyError(kind string) {
	if m != nil {
		m.errors.WithLabelValues(kind).Inc()
	}
}

func (m *Metrics) reconciled(rep Report, err error) {
	if m == nil || rep.DryRun {
		return
	}
	result := "ok"
	if err != nil || rep.Error != "" {
		result = "error"
	}
	m.reconciles.WithLabelValues(rep.Table, result).Inc()
	if rep.Duration > 0 {
		m.reconcileDuration.WithLabelValues(rep.Table).Observe(rep.Duration.Seconds())
	}
	m.reconcileKeys.WithLabelValues(rep.Table, "written").Add(float64(rep.Written))
	m.reconcileKeys.WithLabelValues(rep.Table, "deleted").Add(float64(rep.Deleted))
	m.reconcileKeys.WithLabelValues(rep.Table, "unchanged").Add(float64(rep.Unchanged))
}

func (m *Metrics) probed(h Health, queue float64, queueOK bool) {
	if m == nil {
		return
	}
	m.active.Set(b2f(h.Active))
	m.up.WithLabelValues("postgres").Set(b2f(h.PostgresUp))
	m.up.WithLabelValues("redis").Set(b2f(h.RedisUp))
	if queueOK {
		m.queueUsage.Set(queue)
	}
	m.setUnfit(h.Unfit)
	if h.Active && !h.LastBeat.IsZero() {
		m.heartbeatAge.Set(time.Since(h.LastBeat).Seconds())
	} else {
		m.heartbeatAge.Set(0)
	}
	m.beats.Lock()
	defer m.beats.Unlock()
	if !h.Active {
		m.beats.sent, m.beats.rtt = m.beats.sent[:0], 0
		m.pipelineLag.Set(0)
		return
	}
	lag := m.beats.rtt
	if len(m.beats.sent) > 0 {
		lag = max(lag, time.Since(time.UnixMicro(m.beats.sent[0])).Seconds())
	}
	m.pipelineLag.Set(lag)
}

// beatControl is the heartbeat message: its send time travels with it,
// so the worker can time the round trip when it comes back.
func beatControl(id string, sent time.Time) notify.Control {
	return notify.Control{Kind: "beat", ID: id, Tables: []string{strconv.FormatInt(sent.UnixMicro(), 10)}}
}

// maxBeatsInFlight bounds the send stamps kept while no beat comes back
// (the oldest, which decides the lag, are kept).
const maxBeatsInFlight = 4096

func (m *Metrics) beatSent(sent time.Time) {
	if m == nil {
		return
	}
	m.heartbeatsSent.Inc()
	m.beats.Lock()
	if len(m.beats.sent) < maxBeatsInFlight {
		m.beats.sent = append(m.beats.sent, sent.UnixMicro())
	}
	m.beats.Unlock()
}

// beatApplied records a heartbeat that came back through the pipeline at
// applied: beats are applied in the order sent, so every beat sent before
// it has come back or was lost with a session, and is no longer in flight.
func (m *Metrics) beatApplied(c *notify.Control, applied time.Time) {
	if m == nil || len(c.Tables) == 0 {
		return
	}
	sent, err := strconv.ParseInt(c.Tables[0], 10, 64)
	if err != nil {
		return
	}
	m.beats.Lock()
	defer m.beats.Unlock()
	m.beats.rtt = max(0, applied.Sub(time.UnixMicro(sent)).Seconds())
	i := 0
	for i < len(m.beats.sent) && m.beats.sent[i] <= sent {
		i++
	}
	m.beats.sent = append(m.beats.sent[:0], m.beats.sent[i:]...)
}

// deferred counts the change notifications of a batch the apply loop
// leaves to the coming reconcile.
func (m *Metrics) deferred(batch []string, redisDown bool) {
	if m == nil {
		return
	}
	n := 0
	for _, p := range batch {
		if len(p) < 3 || p[:3] != "c1 " {
			n++
		}
	}
	reason := "reconcile_pending"
	if redisDown {
		reason = "redis_down"
	}
	m.deferredTotal.WithLabelValues(reason).Add(float64(n))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// opKey labels a change count.
type opKey struct{ table, op string }

// appliedLog accumulates what a batch applies until it is written, so the
// metrics count only what reached Redis.
type appliedLog struct {
	counts map[opKey]int
	stamps []time.Time
	newest map[string]time.Time // each table's newest change stamp
	last   time.Time            // the newest applied change's trigger stamp
	lastAt time.Time            // when it was applied
}

func (l *appliedLog) note(table string, op string, stamp time.Time) {
	if l.counts == nil {
		l.counts = map[opKey]int{}
	}
	l.counts[opKey{table, op}]++
	if l.newest == nil {
		l.newest = map[string]time.Time{}
	}
	if stamp.After(l.newest[table]) {
		l.newest[table] = stamp
	}
	if len(l.stamps) == 0 || l.stamps[len(l.stamps)-1] != stamp {
		l.stamps = append(l.stamps, stamp)
	}
}

func (l *appliedLog) reset() {
	clear(l.counts)
	clear(l.newest)
	l.stamps = l.stamps[:0]
}

func opName(op notify.Op) string {
	switch op {
	case notify.OpSet:
		return "set"
	case notify.OpDelete:
		return "delete"
	case notify.OpFetch:
		return "fetch"
	case notify.OpTruncate:
		return "truncate"
	default:
		return "reconcile"
	}
}

// committed records that everything noted since the last call reached
// Redis, in a batch of writes Redis writes.
func (a *applier) committed(writes int) {
	a.cfg.Metrics.applied(a.log.counts, a.log.stamps, a.log.newest, writes)
	a.logBatch(writes)
	for _, s := range a.log.stamps {
		if s.After(a.log.last) {
			a.log.last, a.log.lastAt = s, time.Now()
		}
	}
	a.log.reset()
}

// errorKind labels an apply failure by the store that failed.
func errorKind(err error) string {
	if isPGFailure(err) || isShapeError(err) {
		return "postgres"
	}
	return "redis"
}
