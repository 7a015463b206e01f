package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/tributary-io/tributary/cluster"
)

// Upstream is where an edge node forwards its streams. Edge nodes only.
type Upstream struct {
	// Hub is the hub's replication address, host:port. With neither hub
	// nor kafka.brokers the node forwards nothing.
	Hub string `yaml:"hub"`
	// Kafka, with brokers set, writes the streams straight to Kafka instead
	// of to a hub (for a site with a private link to the cluster): the
	// node runs the hub's Kafka writer itself, with the same topics,
	// headers, checkpoints and transactional id, so a site can move between
	// a hub and Kafka directly without loss or duplicates.
	Kafka Kafka `yaml:"kafka"`
	// Alternates are more addresses of the same hub tier, tried in turn
	// when a session to the current one fails.
	Alternates []string `yaml:"alternates"`
	// Plaintext connects without TLS: for a trusted network or a demo.
	Plaintext bool `yaml:"plaintext"`
	// TLS: the CAs that sign the hub's certificate (default: the system's),
	// this site's client certificate, and the name to verify the hub by.
	TLS UpstreamTLS `yaml:"tls"`
	// TokenFile holds this site's bearer token (`tributary token new SITE`),
	// for a hub that takes tokens instead of client certificates.
	TokenFile string `yaml:"token_file"`
	// Streams to forward; empty: every stream.
	Streams []string `yaml:"streams"`
	// Bandwidth caps the bytes sent per second; 0: no cap.
	Bandwidth Size `yaml:"bandwidth"`
	// Window is how many batches may await the hub's ack at once.
	Window int `yaml:"window"`
	// Heartbeat is how often the node reports its heads and backlog.
	Heartbeat Duration `yaml:"heartbeat"`
}

// UpstreamTLS configures the TLS client of the upstream connection.
type UpstreamTLS struct {
	CAFile     string `yaml:"ca_file"`
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
	ServerName string `yaml:"server_name"`
}

// Replication is the hub's replication listener. Hubs only.
type Replication struct {
	// Listen is host:port; "" turns replication off.
	Listen string `yaml:"listen"`
	// Plaintext serves without TLS: for a trusted network or a demo.
	Plaintext bool `yaml:"plaintext"`
	// TLS: the hub's certificate and key, and the CAs that sign the sites'
	// client certificates (a verified certificate's common name is the site).
	TLS ReplicationTLS `yaml:"tls"`
	// TokensFile lets sites in by bearer token: "SITE SHA256HEX STREAMS"
	// lines, as `tributary token new SITE` prints.
	TokensFile string `yaml:"tokens_file"`
	// AllowAnonymous takes the site id a peer claims when it shows neither
	// a certificate nor a token. For a trusted network or a demo.
	AllowAnonymous bool `yaml:"allow_anonymous"`
	// Stream names the hub stream an edge stream goes to: {stream} and
	// {site} are replaced. The stream must be in the hub's streams. With
	// sink kafka, kafka.topic names the topic instead.
	Stream string `yaml:"stream"`
	// MaxPendingBytes caps the record bytes queued or committing (until
	// acknowledged), over all sites: past it, sessions wait and gRPC holds
	// their edges back. Each site holds at most 8 × spool.max_batch_bytes
	// of it, and beyond it the batch it waits with and its connection's
	// flow-control window.
	MaxPendingBytes Size `yaml:"max_pending_bytes"`
	// Sink is where the hub keeps what sites send: spool (its own spool)
	// or kafka (Kafka transactions; the hub keeps no state).
	Sink string `yaml:"sink"`
	// Kafka configures sink kafka.
	Kafka Kafka `yaml:"kafka"`
}

// ReplicationTLS configures the hub's TLS listener.
type ReplicationTLS struct {
	CertFile     string `yaml:"cert_file"`
	KeyFile      string `yaml:"key_file"`
	ClientCAFile string `yaml:"client_ca_file"`
}

// TLSConfig reads the files replication.tls names: server certificate and,
// with client_ca_file, client certificates verified if given.
func (r Replication) TLSConfig() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(r.TLS.CertFile, r.TLS.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("cert_file %s, key_file %s: %w", r.TLS.CertFile, r.TLS.KeyFile, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if r.TLS.ClientCAFile != "" {
		if cfg.ClientCAs, err = readPool(r.TLS.ClientCAFile); err != nil {
			return nil, fmt.Errorf("client_ca_file: %w", err)
		}
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

// TLSConfig reads the files upstream.tls names; nil with plaintext.
func (u Upstream) TLSConfig() (*tls.Config, error) {
	if u.Plaintext {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: u.TLS.ServerName}
	var err error
	if u.TLS.CAFile != "" {
		if cfg.RootCAs, err = readPool(u.TLS.CAFile); err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
	}
	if u.TLS.CertFile != "" || u.TLS.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(u.TLS.CertFile, u.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file %s, key_file %s: %w", u.TLS.CertFile, u.TLS.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Token reads upstream.token_file: the token is its first non-empty line.
func (u Upstream) Token() (string, error) {
	if u.TokenFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(u.TokenFile)
	if err != nil {
		return "", err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
			return t, nil
		}
	}
	return "", fmt.Errorf("%s holds no token", u.TokenFile)
}

func readPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", file)
	}
	return p, nil
}

// upstream checks an edge node's upstream, and that a hub has none.
func (v *validator) upstream(c *Config) {
	u := c.Upstream
	if c.Role == RoleHub {
		if u.Hub != "" {
			v.add("upstream.hub", "not allowed for a hub (edge nodes forward to hubs); remove it")
		}
		if u.kafkaSet() {
			v.add("upstream.kafka", "not allowed for a hub (a hub writes to Kafka with replication.sink: kafka); remove it")
		}
		return
	}
	v.intRange("upstream.window", u.Window, 1, 1024)
	v.duration("upstream.heartbeat", u.Heartbeat, Duration(100*time.Millisecond), Duration(time.Minute))
	v.size("upstream.bandwidth", u.Bandwidth, 0, 10*GiB)
	if u.kafkaSet() {
		if u.Hub != "" {
			v.add("upstream.kafka", "upstream.hub and upstream.kafka exclude each other: forward to a hub or straight to Kafka; remove one")
			return
		}
		v.kafkaClient("upstream.kafka", u.Kafka)
		if len(u.Alternates) > 0 || u.Plaintext || u.TLS != (UpstreamTLS{}) || u.TokenFile != "" {
			v.add("upstream.kafka", "alternates, plaintext, tls and token_file are for a hub; Kafka takes kafka.tls and kafka.sasl")
		}
		v.upstreamStreams(c)
		return
	}
	if u.Hub == "" {
		return
	}
	v.listen("upstream.hub", u.Hub)
	for i, a := range u.Alternates {
		v.listen(fmt.Sprintf("upstream.alternates[%d]", i), a)
	}
	v.upstreamStreams(c)
	if u.Plaintext && (u.TLS != UpstreamTLS{}) {
		v.add("upstream.plaintext", "plaintext and upstream.tls exclude each other; remove one")
	}
	if (u.TLS.CertFile == "") != (u.TLS.KeyFile == "") {
		v.add("upstream.tls", "cert_file and key_file go together")
	} else if _, err := u.TLSConfig(); err != nil {
		v.add("upstream.tls", "%v", err)
	}
	if _, err := u.Token(); err != nil {
		v.add("upstream.token_file", "%v", err)
	}
}

// kafkaSet says the config asks for upstream.kafka: it names brokers, or
// sets any other of its keys (then brokers are missing, which is an error
// rather than a node that silently forwards nothing).
func (u Upstream) kafkaSet() bool {
	k := u.Kafka
	k.Brokers = nil
	return len(u.Kafka.Brokers) > 0 || !reflect.DeepEqual(k, defaultKafka("tributary-edge"))
}

// upstreamStreams checks that upstream.streams names streams of the node.
func (v *validator) upstreamStreams(c *Config) {
	names := map[string]bool{}
	for _, s := range c.Streams {
		names[s.Name] = true
	}
	for i, s := range c.Upstream.Streams {
		if !names[s] {
			v.add(fmt.Sprintf("upstream.streams[%d]", i), "stream %q is not in streams", s)
		}
	}
}

// replication checks a hub's replication listener, and that an edge has
// none.
func (v *validator) replication(c *Config) {
	r := c.Replication
	if c.Role != RoleHub {
		if r.Listen != "" {
			v.add("replication.listen", "not allowed for an edge node (hubs serve replication); remove it")
		}
		return
	}
	if err := cluster.CheckStreamName(r.Stream); err != nil {
		v.add("replication.stream", "%v; got %q", err, r.Stream)
	}
	v.kafka(r)
	// One site may hold 8 × spool.max_batch_bytes (judged within that
	// key's own range, which is checked apart).
	v.size("replication.max_pending_bytes", r.MaxPendingBytes, 8*min(max(c.Spool.MaxBatchBytes, 64*KiB), 32*MiB), TiB)
	if r.Listen == "" {
		return
	}
	if v.listen("replication.listen", r.Listen) && (clash(r.Listen, c.HTTP.Listen) || clash(r.Listen, c.GRPC.Listen)) {
		v.add("replication.listen", "%q clashes with http.listen or grpc.listen; use another port", r.Listen)
	}
	switch {
	case r.Plaintext && (r.TLS != ReplicationTLS{}):
		v.add("replication.plaintext", "plaintext and replication.tls exclude each other; remove one")
	case !r.Plaintext && (r.TLS.CertFile == "" || r.TLS.KeyFile == ""):
		v.add("replication.tls", "cert_file and key_file are required (or set plaintext: true on a trusted network)")
	case !r.Plaintext:
		if _, err := r.TLSConfig(); err != nil {
			v.add("replication.tls", "%v", err)
		}
	}
	if !r.AllowAnonymous && r.TokensFile == "" && r.TLS.ClientCAFile == "" {
		v.add("replication", "no site can get in: set tls.client_ca_file, tokens_file or allow_anonymous")
	}
}
