package worker

import (
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
	modes          *modeMetrics
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
	}
	// Known label values start at zero, so rate() sees the first error.
	for _, kind := range []string{"redis", "postgres", "fenced"} {
		m.errors.WithLabelValues(kind)
	}
	reg.MustRegister(m.changes, m.errors, m.batch, m.lag, m.lastApplied, m.reconciles, m.reconcileKeys,
		m.active, m.up, m.queueUsage, m.heartbeatAge, m.heartbeatsSent)
	m.modes = newModeMetrics(reg)
	return m
}

func (m *Metrics) applied(counts map[opKey]int, stamps []time.Time, writes int) {
	if m == nil {
		return
	}
	now := time.Now()
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
	if h.Active && !h.LastBeat.IsZero() {
		m.heartbeatAge.Set(time.Since(h.LastBeat).Seconds())
	} else {
		m.heartbeatAge.Set(0)
	}
}

func (m *Metrics) beatSent() {
	if m != nil {
		m.heartbeatsSent.Inc()
	}
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
	last   time.Time // the newest applied change's trigger stamp
	lastAt time.Time // when it was applied
}

func (l *appliedLog) note(table string, op string, stamp time.Time) {
	if l.counts == nil {
		l.counts = map[opKey]int{}
	}
	l.counts[opKey{table, op}]++
	if len(l.stamps) == 0 || l.stamps[len(l.stamps)-1] != stamp {
		l.stamps = append(l.stamps, stamp)
	}
}

func (l *appliedLog) reset() {
	clear(l.counts)
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
	a.cfg.Metrics.applied(a.log.counts, a.log.stamps, writes)
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
