package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	firmwaresim "github.com/tributary-io/tributary/firmware-sim"
	"github.com/tributary-io/tributary/gateway/config"
)

// demoKafka is where the demo's hub writes with --kafka: the brokers, and
// topics of this run's own. The devices count their messages from 0 again
// each run, so a run must not share topics with an earlier one on the same
// cluster (the verifier would take its records for duplicates), nor a
// transactional id with one running beside it (each would fence the
// other). Every name carries the run id: the topics
// tributary-demo-RUN-STREAM, the checkpoint topic
// tributary-demo-RUN-checkpoints and the transactional ids
// tributary-demo-RUN-SITE. The run id begins with the UTC start time, so
// old runs' topics sort together and are easy to delete.
type demoKafka struct {
	brokers []string
	run     string
}

// newDemoKafka names a new run against brokers, started at now.
func newDemoKafka(brokers []string, now time.Time) demoKafka {
	var b [2]byte
	_, _ = rand.Read(b[:]) // never fails
	return demoKafka{brokers: brokers, run: now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])}
}

// parseBrokers checks --kafka: comma-separated host:port.
func parseBrokers(v string) ([]string, error) {
	brokers := splitList(v)
	if len(brokers) == 0 {
		return nil, fmt.Errorf("--kafka: at least one broker, host:port")
	}
	for _, b := range brokers {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			return nil, fmt.Errorf("--kafka: want host:port such as kafka-1:9092; got %q", b)
		}
	}
	return brokers, nil
}

func (k demoKafka) prefix() string          { return "tributary-demo-" + k.run + "-" }
func (k demoKafka) checkpointTopic() string { return k.prefix() + "checkpoints" }

// topics are the run's data topics, one per demo stream.
func (k demoKafka) topics() []string {
	var ts []string
	for _, n := range demoStreamNames() {
		ts = append(ts, k.prefix()+n)
	}
	return ts
}

// configure makes c, the demo hub, write into Kafka: replication.sink
// kafka, creating the run's topics. Such a hub keeps no state, so it has
// no data directory.
func (k demoKafka) configure(c *config.Config) {
	c.DataDir = ""
	c.Replication.Sink = config.SinkKafka
	kc := &c.Replication.Kafka
	kc.Brokers = k.brokers
	kc.ClientID = "tributary-demo"
	kc.Topic = k.prefix() + "{stream}"
	kc.CheckpointTopic = k.checkpointTopic()
	kc.TransactionalIDPrefix = k.prefix()
	kc.CreateTopics = true
}

// reachable checks that a broker answers, so that a wrong --kafka fails
// at the start rather than after the run.
func (k demoKafka) reachable(ctx context.Context) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.brokers...), kgo.ClientID("tributary-demo"), kgo.DisableClientMetrics())
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		return fmt.Errorf("no Kafka broker answers at %s: %w", strings.Join(k.brokers, ","), err)
	}
	return nil
}

// verify checks the run's topics against ledger, as the demo's final
// verdict.
func (k demoKafka) verify(ctx context.Context, ledger *firmwaresim.Ledger, opts firmwaresim.VerifyOptions) (*firmwaresim.Report, error) {
	opts.Streams = k.topics()
	return firmwaresim.VerifyKafka(ctx, firmwaresim.KafkaOptions{
		Client:          []kgo.Opt{kgo.SeedBrokers(k.brokers...), kgo.ClientID("tributary-demo-verify")},
		CheckpointTopic: k.checkpointTopic(),
	}, ledger, opts)
}

// verifyCommand is the tributary verify command line that checks the
// run's topics against the ledger again.
func (k demoKafka) verifyCommand(ledgerPath string) string {
	return fmt.Sprintf("tributary verify --ledger %s --kafka %s --topics %s --checkpoint-topic %s",
		ledgerPath, strings.Join(k.brokers, ","), strings.Join(k.topics(), ","), k.checkpointTopic())
}

// banner is the startup banner's lines about Kafka, and the commands to
// look around.
func (k demoKafka) banner(hubGRPC, ledgerPath string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  Kafka         %s   the hub writes there (replication.sink: kafka) and keeps no data itself\n", strings.Join(k.brokers, ","))
	fmt.Fprintf(&b, "  topics        %s{%s}; checkpoints in %s\n", k.prefix(), strings.Join(demoStreamNames(), ","), k.checkpointTopic())
	fmt.Fprintf(&b, "                (run %s: each run writes topics of its own, as the devices count from 0 again)\n", k.run)
	fmt.Fprintf(&b, "  look around   tributary sites --addr %s\n", hubGRPC)
	fmt.Fprintf(&b, "                kcat -C -b %s -t %s -X isolation.level=read_committed -f '%%p/%%o %%k %%s\\n'\n",
		strings.Join(k.brokers, ","), k.topics()[0])
	fmt.Fprintf(&b, "                %s\n", k.verifyCommand(ledgerPath))
	return b.String()
}

// demoStreamNames are the names of the demo's streams.
func demoStreamNames() []string {
	var ns []string
	for _, s := range demoStreams(config.RoleHub) {
		ns = append(ns, s.Name)
	}
	return ns
}
