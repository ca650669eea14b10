package main

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
)

// buildInfo is pgredis_build_info: always 1, labelled with what the
// binary is, so a dashboard can show the versions running and an alert
// can join on them.
func buildInfo() prometheus.Collector {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "pgredis_build_info",
		Help: "Always 1; the labels say which pgredis build runs (version, commit, Go version).",
	}, []string{"version", "commit", "go_version"})
	g.WithLabelValues(version, commit, runtime.Version()).Set(1)
	return g
}
