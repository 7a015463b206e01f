package cluster

import (
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-io/tributary/internal/tokens"
	"github.com/tributary-io/tributary/spool"
)

// Options configure a Server. Spool or Kafka is required.
type Options struct {
	// Spool is the hub's spool: records, checkpoints and sessions go there,
	// unless Kafka is set.
	Spool *spool.Spool
	// Kafka, when set, sends records, checkpoints and site records to Kafka
	// instead (see KafkaOptions); Spool is then not used.
	Kafka *KafkaOptions
	// StreamName names the hub stream (with Kafka: the topic) an edge
	// stream is stored in: "{stream}" and "{site}" are replaced. Default
	// "{stream}".
	StreamName string
	// Tokens lets sites in by bearer token: the token's name is the site id,
	// its streams the edge streams the site may send. Nil: no tokens.
	Tokens *tokens.Set
	// AllowAnonymous takes the site id from the Hello when the peer shows no
	// verified certificate and no token. For a trusted network or a demo
	// only. A presented token or certificate is always checked.
	AllowAnonymous bool
	// MaxTxnBytes caps the record bytes of one commit; a larger batch is
	// committed in several transactions, each with its checkpoint. Keep it
	// at most the spool's MaxBatchBytes. Default 4 MiB.
	MaxTxnBytes int
	// Pipeline is how many batches of one session may be committing at
	// once; more wait in the receive loop (and gRPC's flow control pushes
	// back on the edge). Default 64.
	Pipeline int
	// PipelineBytes caps the record bytes of one session's writes not yet
	// acknowledged (queued or committing): past it the hub reads no more
	// of the session's batches, and gRPC's flow control holds the edge
	// back. With Pipeline it bounds what a site can make the hub hold
	// while its store is slow or away. Default 8 × MaxTxnBytes (32 MiB);
	// at least 2 × MaxTxnBytes.
	PipelineBytes int
	// MaxPendingBytes caps the same over all sessions: however many sites
	// send while the store is slow, at most this much of their records is
	// queued or committing (until its ack is sent); a session past it
	// waits, and its edge is held back, until acks free some. Each waiting
	// session also holds the batch it waits with (at most the spool's
	// MaxBatchBytes, decoded) and its connection's flow-control window.
	// Default 256 MiB; at least PipelineBytes.
	MaxPendingBytes int64
	// Registerer receives the metrics; nil registers none.
	Registerer prometheus.Registerer
	// Logger; nil logs nothing.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() (Options, error) {
	if o.Spool == nil && o.Kafka == nil {
		return o, errors.New("cluster: Options.Spool or Options.Kafka is required")
	}
	if o.StreamName == "" {
		o.StreamName = "{stream}"
	}
	if err := CheckStreamName(o.StreamName); err != nil {
		return o, err
	}
	if o.MaxTxnBytes <= 0 {
		o.MaxTxnBytes = 4 << 20
	}
	if o.Pipeline <= 0 {
		o.Pipeline = 64
	}
	if o.PipelineBytes <= 0 {
		o.PipelineBytes = 8 * o.MaxTxnBytes
	}
	o.PipelineBytes = max(o.PipelineBytes, 2*o.MaxTxnBytes)
	if o.MaxPendingBytes <= 0 {
		o.MaxPendingBytes = 256 << 20
	}
	o.MaxPendingBytes = max(o.MaxPendingBytes, int64(o.PipelineBytes))
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}

// CheckStreamName checks a StreamName template: it must use {stream}, so that
// two edge streams never land in one hub stream unnoticed.
func CheckStreamName(tmpl string) error {
	if !strings.Contains(tmpl, "{stream}") {
		return errors.New(`must contain {stream} (and may contain {site}), e.g. "{stream}" or "{site}-{stream}"`)
	}
	rest := strings.NewReplacer("{stream}", "", "{site}", "").Replace(tmpl)
	if strings.ContainsAny(rest, "{}") {
		return errors.New(`only {stream} and {site} may be substituted`)
	}
	return nil
}

// hubStream is the hub stream that edge stream s of site takes.
func (o Options) hubStream(site, s string) string {
	return strings.NewReplacer("{stream}", s, "{site}", site).Replace(o.StreamName)
}
