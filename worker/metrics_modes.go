package worker

import "github.com/prometheus/client_golang/prometheus"

// modeMetrics are the active worker's isolation and audit instruments.
type modeMetrics struct {
	quarantines *prometheus.CounterVec
	quarantined prometheus.Gauge
	drift       *prometheus.CounterVec
}

func newModeMetrics(reg prometheus.Registerer) *modeMetrics {
	mm := &modeMetrics{
		quarantines: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pgredis_table_quarantines_total",
			Help: "Times a table was quarantined (its own trouble: a shape that no longer fits, a row that cannot be rendered or written) while the other tables stayed live, by table.",
		}, []string{"table"}),
		quarantined: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pgredis_tables_quarantined",
			Help: "Tables quarantined now (retried with backoff; see the log, pgredis status and /readyz for which and why).",
		}),
	}
	mm.drift = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pgredis_audit_keys_total",
		Help: "Drift the continuous audit found and repaired, by table and cause: changed, missing, extra (keys no row renders), index (index= entries), expired (ttl= keys re-added: not drift); and rebuilds by cause restored (Redis restarted or failed over) and evicted (Redis cannot hold the mirror), with an empty table.",
	}, []string{"table", "cause"})
	reg.MustRegister(mm.quarantines, mm.quarantined, mm.drift)
	return mm
}

func (m *Metrics) tableQuarantined(table string) {
	if m != nil && m.modes != nil {
		m.modes.quarantines.WithLabelValues(table).Inc()
	}
}

func (m *Metrics) quarantineSize(n int) {
	if m != nil && m.modes != nil {
		m.modes.quarantined.Set(float64(n))
	}
}

// reconciledExpired counts the ttl= keys a reconcile re-added (not drift).
func (m *Metrics) reconciledExpired(rep Report) {
	if m != nil && !rep.DryRun && rep.Expired > 0 {
		m.reconcileKeys.WithLabelValues(rep.Table, "expired").Add(float64(rep.Expired))
	}
}

// driftCause counts n keys of drift repaired for cause.
func (m *Metrics) driftCause(table, cause string, n int64) {
	if m != nil && m.modes != nil && n > 0 {
		m.modes.drift.WithLabelValues(table, cause).Add(float64(n))
	}
}
