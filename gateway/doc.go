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
//     under /v1/ (grpc-gateway, served in-process).
//   - gRPC: the public API (api/tributary/v1), the standard grpc.health.v1
//     service, and server reflection.
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
// the context's deadline, after which connections are closed.
package gateway
