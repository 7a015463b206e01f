package gateway

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
	"github.com/tributary-io/tributary/gateway/config"
	"github.com/tributary-io/tributary/ingest"
)

// newHTTPHandler routes /healthz, /readyz and /metrics, hands the REST API
// to the REST gateway, and counts every request by code and route.
//
// The REST gateway decodes JSON with ingest's marshaler, which reads an
// Append body itself (a record value is a JSON object kept verbatim, or
// base64), for application/json and for any other content type, so that
// `curl -d` works; it writes a Read answer's record values as JSON where
// they are JSON (restMarshaler); its error handler answers a full stream with 503 and
// Retry-After, and a too large request with 413. The ingest route is
// registered here too, in front of the gateway: it checks the token before
// the body is read, limits the body, and serves the NDJSON bulk form.
func (n *Node) newHTTPHandler() (http.Handler, error) {
	m := restMarshaler{ingest.NewRESTMarshaler()}
	rest := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, m),
		runtime.WithMarshalerOption("application/json", m),
		runtime.WithErrorHandler(ingest.HTTPErrorHandler),
	)
	if err := tributaryv1.RegisterNodeServiceHandlerServer(context.Background(), rest, &nodeService{n: n}); err != nil {
		return nil, fmt.Errorf("register REST handlers: %w", err)
	}
	mux := http.NewServeMux()
	// The API's routes are listed, though the gateway routes them itself,
	// so that the request counter can name them.
	mux.Handle("GET /v1/node", rest)
	if err := tributaryv1.RegisterStreamServiceHandlerServer(context.Background(), rest, &streamService{n: n}); err != nil {
		return nil, fmt.Errorf("register REST handlers: %w", err)
	}
	mux.Handle("GET /v1/streams", rest)
	mux.Handle("GET /v1/streams/{stream}/partitions/{partition}/records", rest)
	if n.api != nil {
		if err := tributaryv1.RegisterIngestServiceHandlerServer(context.Background(), rest, n.api); err != nil {
			return nil, fmt.Errorf("register REST handlers: %w", err)
		}
		mux.Handle(ingest.RecordsPattern, n.api.RecordsHandler(rest))
	}
	if n.cfg.Role == config.RoleHub {
		if err := tributaryv1.RegisterSiteServiceHandlerServer(context.Background(), rest, &siteService{n: n}); err != nil {
			return nil, fmt.Errorf("register REST handlers: %w", err)
		}
		mux.Handle("GET /v1/sites", rest)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", n.ready.serveHTTP)
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.reg, promhttp.HandlerOpts{
		Registry:          n.reg,
		EnableOpenMetrics: true,
	}))
	mux.Handle("/", rest)
	return n.countRequests(mux), nil
}

// readiness is a set of named checks; the node is ready when every check is
// nil. Components add their own checks; "serving" is set by Start and cleared
// by Shutdown.
type readiness struct {
	mu     sync.Mutex
	checks map[string]error
}

// set records the state of check name: nil means ready.
func (r *readiness) set(name string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.checks == nil {
		r.checks = make(map[string]error)
	}
	r.checks[name] = err
}

// failing lists the checks that are not ready, sorted, as "name: reason".
// A node with no checks yet (before Start) is not ready.
func (r *readiness) failing() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.checks) == 0 {
		return []string{"serving: not started"}
	}
	var out []string
	for name, err := range r.checks {
		if err != nil {
			out = append(out, name+": "+err.Error())
		}
	}
	sort.Strings(out)
	return out
}

// serveHTTP answers 200 "ok" when ready, else 503 with one failing check a line.
func (r *readiness) serveHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	failing := r.failing()
	if len(failing) == 0 {
		fmt.Fprintln(w, "ok")
		return
	}
	w.WriteHeader(http.StatusServiceUnavailable)
	fmt.Fprintln(w, strings.Join(failing, "\n"))
}
