package worker

import "github.com/prometheus/client_golang/prometheus"

func newUnfitGauge(reg prometheus.Registerer) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "pgredis_table_unfit",
		Help: "1 while a synced table's writes are not mirrored as installed: a column its spec names is gone, a pgredis trigger is disabled or missing (on the table or a partition), or the table was swapped by renames.",
	}, []string{"table"})
	reg.MustRegister(g)
	return g
}

// setUnfit shows exactly the tables the last check found unfit.
func (m *Metrics) setUnfit(unfit map[string]string) {
	if m.unfit == nil {
		return
	}
	m.unfit.Reset()
	for t := range unfit {
		m.unfit.WithLabelValues(t).Set(1)
	}
}
