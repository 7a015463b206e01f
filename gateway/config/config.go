package config

// Role says which kind of node a configuration describes.
type Role string

// The roles a node can take.
const (
	RoleEdge Role = "edge" // runs at a site: ingest, spool, local processing, forwarding
	RoleHub  Role = "hub"  // runs centrally: receives from edge nodes
)

// Config is one node's configuration file. Every key is documented, with its
// default, in defaults.go; a key that is absent takes that default.
type Config struct {
	// Role is "edge" or "hub". Required: it decides which other keys are allowed.
	Role Role `yaml:"role"`
	// Site is the edge node's site id (1–63 of a-z, 0-9, '-'; starting with a
	// letter or digit). Required for an edge node, not allowed for a hub.
	Site string `yaml:"site"`
	// DataDir holds everything the node stores. It is created if missing.
	DataDir string `yaml:"data_dir"`
	// HTTP is the listener for health, readiness, metrics and the REST API.
	HTTP HTTP `yaml:"http"`
	// GRPC is the listener for the gRPC API, health service and reflection.
	GRPC GRPC `yaml:"grpc"`
	// ShutdownTimeout bounds a graceful shutdown: in-flight requests get this
	// long to finish before connections are closed.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
}

// HTTP configures the HTTP listener.
type HTTP struct {
	// Listen is host:port. Port 0 picks a free port (the bound address is logged).
	Listen string `yaml:"listen"`
	// ReadHeaderTimeout bounds how long a client may take to send request headers.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	// MaxHeaderBytes bounds the size of request headers.
	MaxHeaderBytes Size `yaml:"max_header_bytes"`
}

// GRPC configures the gRPC listener.
type GRPC struct {
	// Listen is host:port. Port 0 picks a free port (the bound address is logged).
	Listen string `yaml:"listen"`
	// MaxRecvMsgSize bounds the size of one received gRPC message.
	MaxRecvMsgSize Size `yaml:"max_recv_msg_size"`
}
