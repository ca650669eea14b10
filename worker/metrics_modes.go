package worker

import "github.com/prometheus/client_golang/prometheus"

// modeMetrics are the active worker's isolation and audit instruments.
type modeMetrics struct {
	quarantines *prometheus.CounterVec
	quarantined prometheus.Gauge
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
	reg.MustRegister(mm.quarantines, mm.quarantined)
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
