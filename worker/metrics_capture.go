package worker

import "github.com/prometheus/client_golang/prometheus"

// captureMetrics describe the capture mode (docs/architecture.md: "Capture modes:
// notify and queue").
type captureMetrics struct {
	mode     prometheus.Gauge
	switches *prometheus.CounterVec
	depth    prometheus.Gauge
	waiters  prometheus.Gauge
}

func newCaptureMetrics(reg prometheus.Registerer) *captureMetrics {
	cm := &captureMetrics{
		mode: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pgredis_capture_mode",
			Help: "The capture mode in force: 0 notify (triggers send pg_notify), 1 queue (triggers append to pgredis.queue, the worker drains it), 0.5 while switching.",
		}),
		switches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pgredis_capture_switches_total",
			Help: "Capture mode switches completed, by direction (to_queue, to_notify).",
		}, []string{"direction"}),
		depth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pgredis_capture_queue_rows",
			Help: "Rows waiting in the capture queue (pgredis.queue) at the last sample.",
		}),
		waiters: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pgredis_notify_lock_waiters",
			Help: "Backends waiting for the cluster-wide lock notifying commits take, at the last sample: notifying commits contend.",
		}),
	}
	for _, d := range []string{"to_queue", "to_notify"} {
		cm.switches.WithLabelValues(d)
	}
	reg.MustRegister(cm.mode, cm.switches, cm.depth, cm.waiters)
	return cm
}

func (m *Metrics) captureMode(v float64) {
	if m != nil && m.capture != nil {
		m.capture.mode.Set(v)
	}
}

func (m *Metrics) captureSwitched(to capMode) {
	if m != nil && m.capture != nil {
		d := "to_notify"
		if to == capQueue {
			d = "to_queue"
		}
		m.capture.switches.WithLabelValues(d).Inc()
	}
}

func (m *Metrics) captureSampled(depth int64, waiters int) {
	if m != nil && m.capture != nil {
		m.capture.depth.Set(float64(depth))
		m.capture.waiters.Set(float64(waiters))
	}
}
