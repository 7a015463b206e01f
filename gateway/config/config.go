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
	// HTTP is the listener for health, readiness, metrics and the REST API,
	// and the settings of the ingest API (which gRPC serves too).
	HTTP HTTP `yaml:"http"`
	// GRPC is the listener for the gRPC API, health service and reflection.
	GRPC GRPC `yaml:"grpc"`
	// ShutdownTimeout bounds a graceful shutdown: in-flight requests get this
	// long to finish before connections are closed.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// MQTT is the embedded broker. Edge nodes only.
	MQTT MQTT `yaml:"mqtt"`
	// Spool tunes the durable log under data_dir/spool.
	Spool Spool `yaml:"spool"`
	// Streams are the spool's streams. A stream removed from the list stays
	// in the spool, untouched, until the spool is rebuilt.
	Streams []Stream `yaml:"streams"`
}

// MQTT configures the embedded MQTT broker.
type MQTT struct {
	// Listen is the TCP listener's host:port; "" turns the broker off.
	Listen string `yaml:"listen"`
	// AllowAnonymous lets clients connect without credentials. There is no
	// other way in yet (users and certificates are to come), so keep Listen
	// on a trusted interface.
	AllowAnonymous bool `yaml:"allow_anonymous"`
	// MaxInflight bounds the publishes of one connection waiting for the
	// spool; it is the Receive Maximum told to MQTT 5 clients.
	MaxInflight int `yaml:"max_inflight"`
	// MaxPacketSize bounds one MQTT packet.
	MaxPacketSize Size `yaml:"max_packet_size"`
	// Routes map topic templates to streams; the first match wins.
	Routes []Route `yaml:"routes"`
	// Unrouted is what happens to a publish no route matches: "drop" (not
	// stored, counted) or the name of a stream to store it in.
	Unrouted string `yaml:"unrouted"`
}

// Route maps MQTT topics to a stream.
type Route struct {
	// Topic template: levels of literals, {name} (captured), + and a last #.
	Topic string `yaml:"topic"`
	// Stream the records go to; it must be in streams.
	Stream string `yaml:"stream"`
	// Key template of captures, e.g. "{device}"; empty keys by topic.
	Key string `yaml:"key"`
	// Format of the payload: "raw" or "json" (a JSON object, else refused).
	Format string `yaml:"format"`
	// TimeField, for json: the field with the event time (RFC 3339 or Unix
	// milliseconds); without it records get their arrival time.
	TimeField string `yaml:"time_field"`
}

// Spool tunes the spool's group commit.
type Spool struct {
	// Linger is how long a commit waits for more records to share its fsync.
	Linger Duration `yaml:"linger"`
	// MaxBatchBytes bounds one group commit's records (uncompressed); one
	// request may not exceed it.
	MaxBatchBytes Size `yaml:"max_batch_bytes"`
}

// Stream is one stream of the spool. A key left out of an entry takes its
// default (see defaults.go).
type Stream struct {
	// Name: 1 to 128 of a-z, A-Z, 0-9, '.', '_', '-'.
	Name string `yaml:"name"`
	// Partitions: fixed once the stream exists.
	Partitions int `yaml:"partitions"`
	// MaxBytes is the stream's disk budget (compressed).
	MaxBytes Size `yaml:"max_bytes"`
	// MaxAge deletes data older than this once it has been forwarded; 0
	// keeps it until max_bytes needs the room.
	MaxAge Duration `yaml:"max_age"`
	// Full is what happens when max_bytes is reached and the oldest data has
	// not been forwarded: "block" refuses new records, "drop_oldest" drops
	// the oldest and records the gap.
	Full string `yaml:"full"`
	// Priority orders replication when a backlog drains: higher first.
	Priority int `yaml:"priority"`
	// Compression of stored batches: "zstd" or "none".
	Compression string `yaml:"compression"`
}

// HTTP configures the HTTP listener.
type HTTP struct {
	// Listen is host:port. Port 0 picks a free port (the bound address is logged).
	Listen string `yaml:"listen"`
	// ReadHeaderTimeout bounds how long a client may take to send request headers.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	// MaxHeaderBytes bounds the size of request headers.
	MaxHeaderBytes Size `yaml:"max_header_bytes"`
	// MaxBodyBytes bounds the body of one JSON ingest request (POST
	// /v1/streams/{stream}/records); a larger one is answered 413.
	MaxBodyBytes Size `yaml:"max_body_bytes"`
	// MaxBulkBytes bounds the body of one NDJSON bulk ingest request, which
	// is streamed, not held in memory.
	MaxBulkBytes Size `yaml:"max_bulk_bytes"`
	// TokensFile is the file of bearer tokens let into the ingest API (HTTP
	// and gRPC): one "NAME SHA256HEX STREAMS" a line, as `tributary token
	// new` prints. A relative path is taken from the directory the node is
	// started in; it is read at startup. Edge nodes only.
	TokensFile string `yaml:"tokens_file"`
	// AllowAnonymous lets ingest requests without a token write to every
	// stream. Edge nodes only.
	AllowAnonymous bool `yaml:"allow_anonymous"`
}

// GRPC configures the gRPC listener.
type GRPC struct {
	// Listen is host:port. Port 0 picks a free port (the bound address is logged).
	Listen string `yaml:"listen"`
	// MaxRecvMsgSize bounds the size of one received gRPC message.
	MaxRecvMsgSize Size `yaml:"max_recv_msg_size"`
}
