package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc"

	firmwaresim "github.com/tributary-io/tributary/firmware-sim"
	"github.com/tributary-io/tributary/gateway/config"
)

const verifySynopsis = `tributary verify --ledger FILE [--addr HOST:PORT] [--token-file FILE] [--tls-ca FILE] [--streams a,b] [--until 30s] [--json] [--details 20]
       tributary verify --ledger FILE --kafka BROKERS [--topics a,b] [--checkpoint-topic NAME] [--until 30s] ...
       tributary verify --ledger FILE --kafka-config HUB.yaml [--topics a,b] [--until 30s] ...

Reads a hub's streams and checks them against the simulator's ledger: per
device, the acknowledged messages that are missing (as sequence ranges), those
stored more than once, and those out of order. Copies of messages the ledger
marks resent are counted but do not fail: MQTT QoS 1 is at-least-once.

With --kafka or --kafka-config it reads what a hub with replication.sink: kafka
wrote instead: the topics (default: all but the checkpoint topic and internal
ones), at read_committed, each partition up to its last stable offset. A device
must then stay in one Kafka partition of a topic, in offset order.
--kafka-config takes the brokers, TLS, SASL and checkpoint topic from a hub's
config file (replication.kafka) or an edge's (upstream.kafka).

Exit codes: 0 every acknowledged message is at the hub exactly once and in
order; 1 problems found (or the hub could not be read); 2 a usage error (a bad
flag, an unreadable ledger or config, an unknown stream or topic).`

// verifyOptions are verify's flags, checked.
type verifyOptions struct {
	ledger  string
	addr    string
	api     apiFlags // how to reach --addr: TLS, token
	json    bool
	details int
	opts    firmwaresim.VerifyOptions
	// kafka: read Kafka (--kafka or --kafka-config) rather than --addr.
	kafka      bool
	brokers    []string
	kafkaCfg   config.Kafka // from --kafka-config; zero without
	checkpoint string
}

// runVerify is `tributary verify`.
func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseVerify(args, stderr)
	if err != nil {
		return finish(stderr, err)
	}
	ok, err := verify(ctx, o, stdout)
	if err != nil {
		return finish(stderr, err)
	}
	if !ok {
		return exitFailure
	}
	return exitOK
}

func parseVerify(args []string, stderr io.Writer) (verifyOptions, error) {
	var o verifyOptions
	fs := newFlagSet("verify", verifySynopsis, stderr)
	fs.StringVar(&o.ledger, "ledger", "", "the simulator's ledger file (required)")
	fs.StringVar(&o.addr, "addr", "127.0.0.1:9091", "the hub's gRPC API address (its grpc.listen)")
	o.api.register(fs)
	streams := fs.String("streams", "", "comma-separated streams to read (default: every stream of the hub)")
	brokers := fs.String("kafka", "", "read Kafka instead of --addr: comma-separated seed brokers, host:port (a hub with replication.sink: kafka)")
	kafkaConfig := fs.String("kafka-config", "", "read Kafka with the brokers, TLS, SASL and checkpoint topic of this hub config (replication.kafka) or edge config (upstream.kafka)")
	topics := fs.String("topics", "", "with Kafka: comma-separated topics to read (default: every topic but the checkpoint topic and internal ones)")
	fs.StringVar(&o.checkpoint, "checkpoint-topic", "", "with Kafka: the hub's checkpoint topic, for the site's gap records (default: the config's, else "+firmwaresim.DefaultCheckpointTopic+")")
	fs.DurationVar(&o.opts.Until, "until", 0, "read again until every acknowledged message is there, the hub stops growing, or this long has passed (0: read once)")
	fs.DurationVar(&o.opts.Quiet, "quiet", 0, "with --until: stop early once the hub has not grown for this long and has no replication lag for the site (default 5s)")
	fs.StringVar(&o.opts.Site, "site", "", "count only records of this site (default: the ledger's site)")
	fs.BoolVar(&o.opts.IncludeUnlabelled, "include-unlabelled", false, "also count records without a tributary.site header (reading an edge node directly)")
	fs.BoolVar(&o.json, "json", false, "print the whole report as JSON")
	fs.IntVar(&o.details, "details", 20, "list at most this many failing devices")
	if err := parseFlags(fs, args); err != nil {
		return o, err
	}
	if o.ledger == "" {
		return o, usageError{errors.New("verify: --ledger FILE is required (the ledger `tributary sim` writes)")}
	}
	o.opts.Streams = splitList(*streams)
	if err := o.kafkaFlags(fs, *brokers, *kafkaConfig, splitList(*topics)); err != nil {
		return o, err
	}
	if o.opts.Until < 0 {
		return o, usageError{fmt.Errorf("verify: --until %v: want 0 (read once) or more", o.opts.Until)}
	}
	if o.details < 0 {
		return o, usageError{fmt.Errorf("verify: --details %d: want 0 or more", o.details)}
	}
	return o, nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// kafkaFlags checks the Kafka flags: which of them go together, the
// brokers, and the config file --kafka-config names.
func (o *verifyOptions) kafkaFlags(fs *flag.FlagSet, brokers, kafkaConfig string, topics []string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	o.kafka = set["kafka"] || set["kafka-config"]
	if !o.kafka {
		for _, name := range []string{"topics", "checkpoint-topic"} {
			if set[name] {
				return usageError{fmt.Errorf("verify: --%s is for Kafka: give --kafka BROKERS or --kafka-config FILE", name)}
			}
		}
		return nil
	}
	switch {
	case set["addr"]:
		return usageError{errors.New("verify: --addr (a hub's read API) and --kafka/--kafka-config (its Kafka topics) exclude each other")}
	case set["streams"]:
		return usageError{errors.New("verify: --streams is for --addr; with Kafka, --topics names the topics")}
	}
	for _, name := range []string{"token-file", "tls", "tls-ca", "tls-server-name", "tls-cert", "tls-key"} {
		if set[name] {
			return usageError{fmt.Errorf("verify: --%s is for --addr; Kafka's TLS and SASL come from --kafka-config", name)}
		}
	}
	o.opts.Streams = topics
	if kafkaConfig != "" {
		k, err := kafkaSection(kafkaConfig)
		if err != nil {
			return err
		}
		o.kafkaCfg, o.brokers = k, k.Brokers
		if o.checkpoint == "" {
			o.checkpoint = k.CheckpointTopic
		}
	}
	if set["kafka"] {
		o.brokers = splitList(brokers)
	}
	if len(o.brokers) == 0 {
		return usageError{errors.New("verify: --kafka: at least one broker, host:port")}
	}
	for _, b := range o.brokers {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			return usageError{fmt.Errorf("verify: --kafka: want host:port such as kafka-1:9092; got %q", b)}
		}
	}
	return nil
}

// kafkaSection is the Kafka section of a node's config file: a hub's
// replication.kafka (with replication.sink: kafka) or an edge's
// upstream.kafka.
func kafkaSection(path string) (config.Kafka, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return config.Kafka{}, usageError{err}
	}
	switch {
	case cfg.Role == config.RoleHub && cfg.Replication.Sink == config.SinkKafka:
		return cfg.Replication.Kafka, nil
	case cfg.Role == config.RoleHub:
		return config.Kafka{}, usageError{fmt.Errorf("verify: --kafka-config %s: the hub's replication.sink is %s, not kafka; verify it with --addr", path, cfg.Replication.Sink)}
	case len(cfg.Upstream.Kafka.Brokers) > 0:
		return cfg.Upstream.Kafka, nil
	}
	return config.Kafka{}, usageError{fmt.Errorf("verify: --kafka-config %s: the edge has no upstream.kafka; give a hub's config (replication.sink: kafka)", path)}
}

// kafkaClient is the franz-go client options for o: the brokers, and TLS
// and SASL as the --kafka-config file says.
func (o verifyOptions) kafkaClient() ([]kgo.Opt, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(o.brokers...), kgo.ClientID("tributary-verify")}
	dial, err := o.kafkaCfg.DialOpts()
	if err != nil {
		return nil, usageError{fmt.Errorf("verify: --kafka-config: %w", err)}
	}
	opts = append(opts, dial...)
	return opts, nil
}

// verify runs the check and prints the report; it says whether the hub
// passed.
func verify(ctx context.Context, o verifyOptions, stdout io.Writer) (bool, error) {
	ledger, err := firmwaresim.ReadLedger(o.ledger)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, usageError{fmt.Errorf("verify: --ledger: %w", err)}
		}
		return false, usageError{fmt.Errorf("verify: %w", err)} // FILE:LINE: what is wrong
	}
	r, err := o.read(ctx, ledger)
	if err != nil {
		return false, err
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return r.OK(), enc.Encode(struct {
			OK      bool   `json:"ok"`
			Summary string `json:"summary"`
			*firmwaresim.Report
		}{r.OK(), r.Summary(), r})
	}
	fmt.Fprintln(stdout, r.Summary())
	return r.OK(), r.WriteDetails(stdout, o.details)
}

// read reads the hub (or its Kafka topics) and counts against ledger.
func (o verifyOptions) read(ctx context.Context, ledger *firmwaresim.Ledger) (*firmwaresim.Report, error) {
	var (
		r     *firmwaresim.Report
		err   error
		where string
	)
	if o.kafka {
		client, cerr := o.kafkaClient()
		if cerr != nil {
			return nil, cerr
		}
		where = "Kafka at " + strings.Join(o.brokers, ",")
		r, err = firmwaresim.VerifyKafka(ctx, firmwaresim.KafkaOptions{Client: client, CheckpointTopic: o.checkpoint}, ledger, o.opts)
	} else {
		dopts, derr := o.api.dialOptions("verify")
		if derr != nil {
			return nil, derr
		}
		conn, cerr := grpc.NewClient(o.addr, dopts...)
		if cerr != nil {
			return nil, usageError{fmt.Errorf("verify: --addr %q: %w", o.addr, cerr)}
		}
		defer conn.Close()
		where = "the hub at " + o.addr
		r, err = firmwaresim.Verify(ctx, conn, ledger, o.opts)
	}
	switch {
	case err != nil && firmwaresim.IsUsageError(err):
		return nil, usageError{fmt.Errorf("verify: %w", err)}
	case err != nil:
		return nil, fmt.Errorf("verify: reading %s: %w", where, err)
	}
	return r, nil
}
