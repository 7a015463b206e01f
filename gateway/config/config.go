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
	// Upstream is the hub an edge node forwards to. Edge nodes only.
	Upstream Upstream `yaml:"upstream"`
	// Replication is the hub's listener for edge nodes. Hubs only.
	Replication Replication `yaml:"replication"`
	// Spool tunes the durable log under data_dir/spool.
	Spool Spool `yaml:"spool"`
	// Streams are the spool's streams. A stream removed from the list stays
	// in the spool, untouched, until the spool is rebuilt.
	Streams []Stream `yaml:"streams"`
	// Pipelines process streams locally (filter, map, deadband, downsample,
	// window) into other streams. Edge nodes only.
	Pipelines []Pipeline `yaml:"pipelines"`
}

// MQTT configures the embedded MQTT broker.
type MQTT struct {
	// Listen is the plain TCP listener's host:port; "" turns it off. With
	// no listener at all (listen, tls.listen, websocket.listen all ""),
	// the broker is off.
	Listen string `yaml:"listen"`
	// TLS is the MQTT-over-TLS listener, with optional client certificates.
	TLS MQTTTLS `yaml:"tls"`
	// WebSocket is the MQTT-over-WebSocket listener.
	WebSocket MQTTWebSocket `yaml:"websocket"`
	// AllowAnonymous lets clients in without a password or certificate.
	AllowAnonymous bool `yaml:"allow_anonymous"`
	// PasswordFile holds "username:hash" lines (bcrypt or argon2id; see
	// `tributary passwd`). Read at start.
	PasswordFile string `yaml:"password_file"`
	// ACL confines clients to topics; without rules every client that got
	// in may publish and subscribe anywhere.
	ACL []ACLRule `yaml:"acl"`
	// Limits bound what one client, or all of them, can make the broker hold.
	Limits MQTTLimits `yaml:"limits"`
	// Routes map topic templates to streams; the first match wins.
	Routes []Route `yaml:"routes"`
	// Unrouted is what happens to a publish no route matches: "drop" (not
	// stored, counted) or the name of a stream to store it in.
	Unrouted string `yaml:"unrouted"`
}

// MQTTTLS configures the MQTT-over-TLS listener.
type MQTTTLS struct {
	// Listen is host:port, e.g. 0.0.0.0:8883; "" turns TLS off.
	Listen string `yaml:"listen"`
	// CertFile and KeyFile are the server's certificate chain and key (PEM).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile (PEM) turns on client certificates: a client presenting
	// one signed by these CAs is known by its subject common name, which
	// stands for its username (in ACLs too).
	ClientCAFile string `yaml:"client_ca_file"`
	// RequireClientCert refuses, in the handshake, clients without such a
	// certificate (mutual TLS only).
	RequireClientCert bool `yaml:"require_client_cert"`
}

// MQTTWebSocket configures the MQTT-over-WebSocket listener.
type MQTTWebSocket struct {
	// Listen is host:port, e.g. 0.0.0.0:8083; "" turns it off.
	Listen string `yaml:"listen"`
	// Path is where clients connect, e.g. ws://host:8083/mqtt.
	Path string `yaml:"path"`
	// TLS serves wss with mqtt.tls's certificate and client CAs.
	TLS bool `yaml:"tls"`
}

// ACLRule grants users publish and subscribe rights on topic filters.
type ACLRule struct {
	// Users the rule applies to: usernames or certificate identities, or
	// "*" for every client (anonymous ones included).
	Users []string `yaml:"users"`
	// Publish and Subscribe are topic filters; {username} and {clientid}
	// are replaced by the client's own.
	Publish   []string `yaml:"publish"`
	Subscribe []string `yaml:"subscribe"`
}

// MQTTLimits bound the broker's memory and work per client and in all.
type MQTTLimits struct {
	// MaxClients bounds sessions: connected clients plus sessions kept for
	// disconnected ones. A new client id past it is refused (server busy).
	MaxClients int `yaml:"max_clients"`
	// MaxInflight bounds the publishes of one connection waiting for the
	// spool; it is the Receive Maximum told to MQTT 5 clients.
	MaxInflight int `yaml:"max_inflight"`
	// MaxPacketSize bounds one MQTT packet.
	MaxPacketSize Size `yaml:"max_packet_size"`
	// MaxTopicLength bounds topic names and filters, in bytes.
	MaxTopicLength int `yaml:"max_topic_length"`
	// MaxMessageRate throttles each connection to this many publishes a
	// second (its socket is read no faster); 0: no limit.
	MaxMessageRate int `yaml:"max_message_rate"`
	// MaxSessionExpiry caps how long a disconnected client's session is kept.
	MaxSessionExpiry Duration `yaml:"max_session_expiry"`
	// MaxWriteQueue bounds the messages waiting for delivery to one
	// subscriber; past it, deliveries to that subscriber are dropped.
	MaxWriteQueue int `yaml:"max_write_queue"`
	// MaxRetained bounds the topics holding a retained message.
	MaxRetained int `yaml:"max_retained"`
	// ConnectTimeout bounds the time from a new connection to its CONNECT.
	ConnectTimeout Duration `yaml:"connect_timeout"`
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
	// TLS serves HTTPS instead of HTTP.
	TLS ListenerTLS `yaml:"tls"`
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
	// TokensFile is the file of bearer tokens let into the API, REST and
	// gRPC: one "NAME SHA256HEX STREAMS" a line, as `tributary token new`
	// prints. A token writes (edge ingest) and reads (streams and records)
	// the streams its line names; any known token may list a hub's sites.
	// Without it an edge takes no records (unless AllowAnonymous) and
	// reads need no token. A relative path is taken from the directory the
	// node is started in; it is read at startup.
	TokensFile string `yaml:"tokens_file"`
	// AllowAnonymous lets requests without a token in on every stream:
	// ingest on an edge, and reads when TokensFile is set (reads are open
	// without it). A request that sends a token still has it checked. On a
	// hub it needs TokensFile, without which it would change nothing.
	AllowAnonymous bool `yaml:"allow_anonymous"`
}

// GRPC configures the gRPC listener.
type GRPC struct {
	// Listen is host:port. Port 0 picks a free port (the bound address is logged).
	Listen string `yaml:"listen"`
	// TLS serves gRPC over TLS instead of plaintext.
	TLS ListenerTLS `yaml:"tls"`
	// MaxRecvMsgSize bounds the size of one received gRPC message.
	MaxRecvMsgSize Size `yaml:"max_recv_msg_size"`
}

// ListenerTLS serves an API listener (http, grpc) over TLS. All keys
// empty: plaintext.
type ListenerTLS struct {
	// CertFile and KeyFile are the node's certificate chain and key (PEM).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile (PEM) makes the listener mutual TLS: a client must show
	// a certificate signed by these CAs, or the handshake fails (health
	// probes included). Tokens are still checked on top.
	ClientCAFile string `yaml:"client_ca_file"`
}
