// Package gateway assembles a Tributary node from its configuration and runs it.
//
// # Basics
//
// [New] checks a [config.Config] and builds a [Node]; [Node.Start] prepares the
// data directory, binds the listeners and starts serving; [Node.Shutdown] stops
// it gracefully; [Node.Run] does all three around a context, which is what the
// `tributary edge` and `tributary hub` commands call.
//
// A node serves two listeners:
//
//   - HTTP: /healthz (liveness: 200 while the process serves), /readyz
//     (readiness: 200 once every component is ready, 503 with the reasons
//     otherwise and from the moment shutdown begins), /metrics (Prometheus, with
//     Go and process collectors and tributary_build_info), and the REST API
//     under /v1/ (grpc-gateway, served in-process), with HTTP ingest on an
//     edge node (POST /v1/streams/{stream}/records: JSON, or NDJSON bulk),
//     and reading streams on both roles (GET /v1/streams and
//     GET /v1/streams/{stream}/partitions/{partition}/records).
//     tributary_http_requests_total counts every request by code and route.
//   - gRPC: the public API (api/tributary/v1), the standard grpc.health.v1
//     service, and server reflection.
//
// Ingest over HTTP and gRPC (ingest.API) is edge-only: a hub registers no
// IngestService, so gRPC clients get UNIMPLEMENTED and REST clients 404,
// rather than a service that would refuse every call. The REST gateway
// uses ingest's JSON marshaler (for application/json and every other
// content type, so that `curl -d` works) and error handler (a full stream
// is 503 with Retry-After, a too large body 413); the records route is
// also registered on the node's own mux, in front of the gateway, so that
// the bearer token is checked and the body limited before anything is
// read, and so that NDJSON is streamed rather than decoded by the gateway.
//
// gateway is the only package that knows every other one: it turns the config
// into each component's Options, starts components in order and stops them in
// reverse.
//
// # Caveats
//
// The REST API is served by calling the gRPC service implementations directly
// (runtime.RegisterXHandlerServer), not through a loopback connection: unary
// calls only, and gRPC interceptors do not run for REST requests.
//
// Shutdown marks the node not ready first (so /readyz and gRPC health answer
// "not serving"), then drains: in-flight HTTP requests and gRPC calls get until
// the context's deadline, after which connections are closed. Reads waiting
// for new records (StreamService.Read with wait) answer at once, with what
// they have, when shutdown begins.
//
// StreamService (streams.go) reads the spool as it is and moves no cursor.
// With http.tokens_file, reads need a token too (auth.go): a token reads the
// streams its line names, any known token lists a hub's sites, and
// http.allow_anonymous lets calls without a token read everything. Without
// a tokens file reads are open, as before (a warning is logged when a
// listener is not on loopback). /healthz, /readyz, /metrics, gRPC health and
// NodeService stay open, for probes and scrapers. http.tls and grpc.tls
// serve the listeners over TLS; with client_ca_file, mutual TLS.
package gateway
