package gateway

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tributary-io/tributary/gateway/config"
	"github.com/tributary-io/tributary/internal/buildinfo"
	"github.com/tributary-io/tributary/internal/promreg"
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

// newHTTPMetrics registers tributary_http_requests_total on the node's
// registry.
func newHTTPMetrics(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tributary_http_requests_total",
		Help: `HTTP requests answered, by status code and route (the pattern that served it, e.g. "POST /v1/streams/{stream}/records"; "other" for none).`},
		[]string{"code", "route"})
	if _, err := promreg.Register(reg, requests); err != nil {
		return nil, fmt.Errorf("register http metrics: %w", err)
	}
	return requests, nil
}

// countRequests counts each request next answers, by code and by the
// route of the http.ServeMux that next is (read once it has routed).
func (n *Node) countRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" || route == "/" {
			route = "other"
		}
		code := sw.code
		if code == 0 {
			code = http.StatusOK
		}
		n.requests.WithLabelValues(strconv.Itoa(code), route).Inc()
	})
}

// statusWriter notes the status code written through it.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 && code >= 200 { // 1xx are informational; the final code follows
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes a flush on, for grpc-gateway's streamed responses.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
