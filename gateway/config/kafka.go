package config

import (
	"crypto/tls"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/tributary-io/tributary/cluster"
)

// The hub's sinks: where it keeps what sites send.
const (
	SinkSpool = "spool"
	SinkKafka = "kafka"
)

// Kafka configures a Kafka writer: a hub's sink (replication.sink: kafka)
// or an edge's upstream (upstream.kafka).
type Kafka struct {
	// Brokers are seed brokers, host:port. Required.
	Brokers []string `yaml:"brokers"`
	// ClientID names the hub to the brokers (logs, quotas).
	ClientID string `yaml:"client_id"`
	// Topic names the topic of an edge stream: {stream} and {site} are
	// replaced.
	Topic string `yaml:"topic"`
	// CheckpointTopic is the compacted topic of checkpoints and site records.
	CheckpointTopic string `yaml:"checkpoint_topic"`
	// TransactionalIDPrefix + site is the transactional id of a site's
	// producer: Kafka fences a stale hub by it.
	TransactionalIDPrefix string `yaml:"transactional_id_prefix"`
	// CreateTopics creates missing topics (the checkpoint topic compacted);
	// off, a missing topic is an error that names it.
	CreateTopics bool `yaml:"create_topics"`
	// Partitions and ReplicationFactor of created topics; 0: the broker's
	// defaults.
	Partitions        int `yaml:"partitions"`
	ReplicationFactor int `yaml:"replication_factor"`
	// Compression of produced batches: none, gzip, snappy, lz4, zstd.
	Compression string `yaml:"compression"`
	// Timeout bounds one transaction; past it the session ends and the
	// edge, which still holds the records, reconnects.
	Timeout Duration `yaml:"timeout"`
	// MaxRecordBytes is the largest record written, counted as Kafka
	// counts a topic's max.message.bytes (key, value, headers, the
	// tributary.* headers among them, and about 70 bytes of framing), and
	// the largest batch: keep it at most the topics' max.message.bytes. A
	// larger record stops the site's replication at it with an error that
	// names it; the edge keeps it and what follows.
	MaxRecordBytes Size      `yaml:"max_record_bytes"`
	TLS            KafkaTLS  `yaml:"tls"`
	SASL           KafkaSASL `yaml:"sasl"`
}

// KafkaTLS turns TLS to the brokers on: with the system's CAs when only
// enabled is set, or with ca_file; cert_file and key_file are the hub's
// client certificate.
type KafkaTLS struct {
	Enabled  bool   `yaml:"enabled"`
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// KafkaSASL authenticates the hub: mechanism plain, scram-sha-256 or
// scram-sha-512; the password is the first line of password_file.
type KafkaSASL struct {
	Mechanism    string `yaml:"mechanism"`
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
}

var (
	kafkaCompressions = []string{"none", "gzip", "snappy", "lz4", "zstd"}
	kafkaMechanisms   = []string{"plain", "scram-sha-256", "scram-sha-512"}
)

// defaultKafka is a Kafka section at its defaults. The transactional id
// prefix is the same for hubs and edges: a site's producer has one id
// whichever of them writes for it, so each fences the other.
func defaultKafka(clientID string) Kafka {
	return Kafka{
		ClientID:              clientID,
		Topic:                 "{stream}",
		CheckpointTopic:       "tributary-checkpoints",
		TransactionalIDPrefix: "tributary-hub-",
		Compression:           "zstd",
		Timeout:               Duration(30 * time.Second),
		MaxRecordBytes:        MiB,
	}
}

// TLSConfig is the TLS client config kafka.tls asks for; nil without TLS.
func (k Kafka) TLSConfig() (*tls.Config, error) {
	t := k.TLS
	if !t.Enabled && t.CAFile == "" && t.CertFile == "" && t.KeyFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	var err error
	if t.CAFile != "" {
		if cfg.RootCAs, err = readPool(t.CAFile); err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file %s, key_file %s: %w", t.CertFile, t.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// DialOpts are the franz-go options that reach and authenticate to the
// brokers as the section says: TLS and SASL (not the seed brokers, the
// client id or anything about producing).
func (k Kafka) DialOpts() ([]kgo.Opt, error) {
	var opts []kgo.Opt
	tlsCfg, err := k.TLSConfig()
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	if tlsCfg != nil {
		opts = append(opts, kgo.DialTLSConfig(tlsCfg))
	}
	s := k.SASL
	if s.Mechanism == "" {
		return opts, nil
	}
	pass, err := s.Password()
	if err != nil {
		return nil, fmt.Errorf("sasl.password_file: %w", err)
	}
	switch s.Mechanism {
	case "plain":
		opts = append(opts, kgo.SASL(plain.Auth{User: s.Username, Pass: pass}.AsMechanism()))
	case "scram-sha-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: s.Username, Pass: pass}.AsSha256Mechanism()))
	case "scram-sha-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: s.Username, Pass: pass}.AsSha512Mechanism()))
	default:
		return nil, fmt.Errorf("sasl.mechanism %q: want plain, scram-sha-256 or scram-sha-512", s.Mechanism)
	}
	return opts, nil
}

// Password reads kafka.sasl.password_file: its first non-empty line.
func (s KafkaSASL) Password() (string, error) {
	b, err := os.ReadFile(s.PasswordFile)
	if err != nil {
		return "", err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if p := strings.TrimRight(line, "\r"); p != "" {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s holds no password", s.PasswordFile)
}

// kafka checks replication.sink and, for kafka, replication.kafka.
func (v *validator) kafka(r Replication) {
	switch r.Sink {
	case SinkSpool:
		return
	case SinkKafka:
	default:
		v.add("replication.sink", "must be spool or kafka; got %q", r.Sink)
		return
	}
	v.kafkaClient("replication.kafka", r.Kafka)
}

// kafkaClient checks a Kafka section (replication.kafka of a hub, or
// upstream.kafka of an edge) found at key path at.
func (v *validator) kafkaClient(at string, k Kafka) {
	if len(k.Brokers) == 0 {
		v.add(at+".brokers", "at least one broker (host:port) is required")
	}
	for i, b := range k.Brokers {
		v.listen(fmt.Sprintf("%s.brokers[%d]", at, i), b)
	}
	if err := cluster.CheckStreamName(k.Topic); err != nil {
		v.add(at+".topic", "%v; got %q", err, k.Topic)
	}
	if err := cluster.CheckTopicName(k.CheckpointTopic); err != nil {
		v.add(at+".checkpoint_topic", "%v", err)
	}
	if k.TransactionalIDPrefix == "" {
		v.add(at+".transactional_id_prefix", "must not be empty (e.g. tributary-hub-)")
	}
	v.intRange(at+".partitions", k.Partitions, 0, 100000)
	v.intRange(at+".replication_factor", k.ReplicationFactor, 0, 32767)
	if !slices.Contains(kafkaCompressions, k.Compression) {
		v.add(at+".compression", "must be one of: %s; got %q", strings.Join(kafkaCompressions, ", "), k.Compression)
	}
	v.duration(at+".timeout", k.Timeout, Duration(time.Second), Duration(10*time.Minute))
	v.size(at+".max_record_bytes", k.MaxRecordBytes, cluster.MinRecordBytes, cluster.MaxRecordBytesLimit)
	if (k.TLS.CertFile == "") != (k.TLS.KeyFile == "") {
		v.add(at+".tls", "cert_file and key_file go together")
	} else if _, err := k.TLSConfig(); err != nil {
		v.add(at+".tls", "%v", err)
	}
	s := k.SASL
	if s == (KafkaSASL{}) {
		return
	}
	if !slices.Contains(kafkaMechanisms, s.Mechanism) {
		v.add(at+".sasl.mechanism", "must be one of: %s; got %q", strings.Join(kafkaMechanisms, ", "), s.Mechanism)
	}
	if s.Username == "" {
		v.add(at+".sasl.username", "required with sasl")
	}
	if s.PasswordFile == "" {
		v.add(at+".sasl.password_file", "required with sasl")
	} else if _, err := s.Password(); err != nil {
		v.add(at+".sasl.password_file", "%v", err)
	}
}
