package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tributary-io/tributary/gateway/config"
	"github.com/tributary-io/tributary/internal/buildinfo"
)

// newRegistry makes the node's own Prometheus registry (not the global one, so
// that several nodes can run in one process, as the demo and tests do) with
// the Go and process collectors and tributary_build_info.
func newRegistry(cfg config.Config) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	bi := buildinfo.Get()
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tributary_build_info",
		Help: "A metric with a constant '1' value labelled by the build and the node's role.",
		ConstLabels: prometheus.Labels{
			"version":   bi.Version,
			"revision":  bi.Commit,
			"goversion": bi.GoVersion,
			"goos":      bi.OS,
			"goarch":    bi.Arch,
			"role":      string(cfg.Role),
		},
	})
	buildInfo.Set(1)
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo,
	)
	return reg
}
