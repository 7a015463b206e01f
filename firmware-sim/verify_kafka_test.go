package firmwaresim

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkaTest is an in-process Kafka cluster (kfake) with the topics a Kafka
// hub writes: telemetry (two partitions), the checkpoint topic, and one
// topic no hub wrote.
type kafkaTest struct {
	t       *testing.T
	brokers []string
}

func newKafkaTest(t *testing.T) *kafkaTest {
	t.Helper()
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "telemetry"),
		kfake.SeedTopics(1, DefaultCheckpointTopic, "other"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	return &kafkaTest{t: t, brokers: kc.ListenAddrs()}
}

// client is a producer that puts each record in the partition it names;
// with a transactional id, it produces in transactions.
func (k *kafkaTest) client(txnID string) *kgo.Client {
	k.t.Helper()
	opts := []kgo.Opt{kgo.SeedBrokers(k.brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DisableClientMetrics()}
	if txnID != "" {
		opts = append(opts, kgo.TransactionalID(txnID))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		k.t.Fatal(err)
	}
	k.t.Cleanup(cl.Close)
	return cl
}

// msgs are simulator messages of device in topic/partition, as a Kafka
// hub writes them for site ("" for no site header).
func msgs(topic string, part int32, site, device string, seqs ...uint64) []*kgo.Record {
	var out []*kgo.Record
	for _, s := range seqs {
		r := &kgo.Record{Topic: topic, Partition: part, Key: []byte(device),
			Value: fmt.Appendf(nil, `{"device":%q,"seq":%d,"profile":"meter","values":{"v":1}}`, device, s)}
		if site != "" {
			r.Headers = []kgo.RecordHeader{{Key: "tributary.site", Value: []byte(site)},
				{Key: "tributary.stream", Value: []byte(topic)}, {Key: "tributary.offset", Value: []byte("0")}}
		}
		out = append(out, r)
	}
	return out
}

func (k *kafkaTest) produce(cl *kgo.Client, recs ...*kgo.Record) {
	k.t.Helper()
	if err := cl.ProduceSync(k.t.Context(), recs...).FirstErr(); err != nil {
		k.t.Fatal(err)
	}
}

// txn produces recs in one transaction of cl and commits it (or aborts:
// commit false).
func (k *kafkaTest) txn(cl *kgo.Client, commit bool, recs ...*kgo.Record) {
	k.t.Helper()
	if err := cl.BeginTransaction(); err != nil {
		k.t.Fatal(err)
	}
	k.produce(cl, recs...)
	if err := cl.EndTransaction(k.t.Context(), kgo.TransactionEndTry(commit)); err != nil {
		k.t.Fatal(err)
	}
}

func (k *kafkaTest) verify(l *Ledger, o VerifyOptions) *Report {
	k.t.Helper()
	r, err := VerifyKafka(k.t.Context(), KafkaOptions{Client: []kgo.Opt{kgo.SeedBrokers(k.brokers...)}}, l, o)
	if err != nil {
		k.t.Fatal(err)
	}
	return r
}

func details(r *Report) string {
	var b strings.Builder
	_ = r.WriteDetails(&b, 10)
	return r.Summary() + "\n" + b.String()
}

// What a Kafka hub could get wrong, and what it may do, produced straight
// into the topics: a missing message, a copy the pipeline made, a resent
// copy (fine), an aborted transaction (its records must not count), a
// transaction still open when reading starts (read once must neither wait
// for it nor count it), a device in two partitions, a message out of
// order, other sites' and unlabelled records, and the site's edge losses
// from the checkpoint topic.
func TestVerifyKafka(t *testing.T) {
	const site = "plant-01"
	k := newKafkaTest(t)
	l := NewLedger(site)
	ackAll(l, "meter-1", 0, 9)
	ackAll(l, "meter-2", 0, 9)
	l.Resent("meter-2", 3)
	ackAll(l, "meter-4", 0, 3)
	ackAll(l, "meter-5", 0, 2)

	hub, other, plain := k.client("tributary-hub-"+site), k.client("tributary-hub-plant-02"), k.client("")
	// meter-1 without 5; then a copy of 7 outside any transaction.
	k.txn(hub, true, msgs("telemetry", 0, site, "meter-1", 0, 1, 2, 3, 4, 6, 7, 8, 9)...)
	k.produce(plain, msgs("telemetry", 0, site, "meter-1", 7)...)
	// meter-2 with a resent copy of 3; meter-4 split; meter-5 out of order.
	k.txn(hub, true, append(append(append(msgs("telemetry", 1, site, "meter-2", 0, 1, 2, 3, 3, 4, 5, 6, 7, 8, 9),
		msgs("telemetry", 0, site, "meter-4", 0, 1)...), msgs("telemetry", 1, site, "meter-4", 2, 3)...),
		msgs("telemetry", 1, site, "meter-5", 0, 2, 1)...)...)
	k.produce(plain, msgs("telemetry", 1, "plant-02", "meter-1", 0)...)
	k.produce(plain, msgs("other", 0, "", "meter-1", 0)...)
	// An aborted transaction holding meter-1's missing 5 and a copy of 8,
	// its marker written after a record of a transaction still open: the
	// partition's last stable offset is that open record, past the
	// aborted ones.
	if err := hub.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	k.produce(hub, msgs("telemetry", 0, site, "meter-1", 5, 8)...)
	if err := other.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	k.produce(other, msgs("telemetry", 0, site, "meter-1", 10)...)
	if err := hub.EndTransaction(t.Context(), kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	// The checkpoint topic: the site's record, a gap of 4 records, a
	// checkpoint, and another site's gap.
	k.txn(hub, true,
		&kgo.Record{Topic: DefaultCheckpointTopic, Key: []byte(site + "/site"), Value: []byte(`{"epoch":"e1"}`)},
		&kgo.Record{Topic: DefaultCheckpointTopic, Key: []byte(site + "/gap/e1/telemetry/0/00000000000000000100"), Value: []byte(`{"from":100,"to":104}`)},
		&kgo.Record{Topic: DefaultCheckpointTopic, Key: []byte(site + "/ckpt/e1/telemetry/0"), Value: []byte{0, 0, 0, 0, 0, 0, 0, 9}},
		&kgo.Record{Topic: DefaultCheckpointTopic, Key: []byte("plant-02/gap/e1/telemetry/0/00000000000000000000"), Value: []byte(`{"from":0,"to":50}`)},
	)

	start := time.Now()
	r := k.verify(l, VerifyOptions{})
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("read once took %v: it waited for the open transaction", took)
	}
	if r.OK() || r.Missing != 1 || r.Duplicated != 1 || r.ResentDuplicates != 1 || r.OutOfOrder != 1 || r.SplitDevices != 1 ||
		r.AtHub != 9+1+11+4+3 || r.Extra != 0 || r.OtherSite != 1 || r.Unlabelled != 1 || r.Foreign != 0 {
		t.Fatalf("got\n%s", details(r))
	}
	if !r.SiteKnown || r.SiteGapRecords != 4 || r.SiteLagRecords != 0 || r.Source != "kafka" || strings.Join(r.Streams, ",") != "other,telemetry" {
		t.Errorf("site known %v, gaps %d, lag %d, source %q, streams %v", r.SiteKnown, r.SiteGapRecords, r.SiteLagRecords, r.Source, r.Streams)
	}
	want := []string{
		"meter-1: missing 5 (1 of 10 acked); duplicated 7 (1 extra copy)",
		"meter-4: in several partitions: telemetry/0,telemetry/1",
		"meter-5: 1 out of order (first: seq 1 after 2 at telemetry/1 offset",
		"in Kafka: 1 missing, 1 duplicated (1 resent duplicate explained by QoS 1)",
		"the checkpoint topic says site plant-01 lost 4 records at the edge",
	}
	for _, w := range want {
		if !strings.Contains(details(r), w) {
			t.Errorf("report lacks %q:\n%s", w, details(r))
		}
	}

	// Once the open transaction commits, its record counts: meter-1's 10,
	// never acknowledged. --topics limits what is read.
	if err := other.EndTransaction(t.Context(), kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	r = k.verify(l, VerifyOptions{Streams: []string{"telemetry"}})
	if r.Missing != 1 || r.Duplicated != 1 || r.Extra != 1 || r.Unlabelled != 0 || strings.Join(r.Streams, ",") != "telemetry" {
		t.Fatalf("after the commit, telemetry only:\n%s", details(r))
	}
}

// With Until, VerifyKafka reads again, only what is new, until what was
// acknowledged has arrived.
func TestVerifyKafkaWaitsForTheRest(t *testing.T) {
	k := newKafkaTest(t)
	l := NewLedger("plant-01")
	ackAll(l, "meter-1", 0, 9)
	hub := k.client("tributary-hub-plant-01")
	k.txn(hub, true, msgs("telemetry", 0, "plant-01", "meter-1", seqs(0, 4)...)...)
	go func() {
		time.Sleep(300 * time.Millisecond)
		if err := hub.BeginTransaction(); err != nil {
			return
		}
		_ = hub.ProduceSync(context.Background(), msgs("telemetry", 0, "plant-01", "meter-1", seqs(5, 9)...)...).FirstErr()
		_ = hub.EndTransaction(context.Background(), kgo.TryCommit)
	}()
	r := k.verify(l, VerifyOptions{Until: 10 * time.Second, Poll: 50 * time.Millisecond})
	if !r.OK() || r.Passes < 2 || r.AtHub != 10 || r.Stopped != "every acknowledged message is in Kafka" {
		t.Fatalf("%d passes, stopped: %s\n%s", r.Passes, r.Stopped, details(r))
	}
	// Nothing of the site in the checkpoint topic: the site is unknown,
	// and that is not an error.
	if r.SiteKnown {
		t.Errorf("site known without a site record")
	}
}

func TestVerifyKafkaErrors(t *testing.T) {
	k := newKafkaTest(t)
	for _, tc := range []struct {
		topics []string
		is     error
		want   string
	}{
		{[]string{"telemetry", "nope"}, ErrUnknownStream, `topic "nope": no such stream in Kafka; it has: other, telemetry`},
		{[]string{DefaultCheckpointTopic}, ErrBadOption, "the checkpoint topic"},
	} {
		_, err := VerifyKafka(t.Context(), KafkaOptions{Client: []kgo.Opt{kgo.SeedBrokers(k.brokers...)}}, NewLedger("p"), VerifyOptions{Streams: tc.topics})
		if !errors.Is(err, tc.is) || !IsUsageError(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("topics %v: %v; want %q", tc.topics, err, tc.want)
		}
	}
	// No cluster there: a failure, not a usage error.
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	_, err := VerifyKafka(ctx, KafkaOptions{Client: []kgo.Opt{kgo.SeedBrokers("127.0.0.1:1")}}, NewLedger("p"), VerifyOptions{})
	if err == nil || IsUsageError(err) {
		t.Errorf("no cluster: %v", err)
	}
}
