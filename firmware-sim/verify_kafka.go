package firmwaresim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DefaultCheckpointTopic is the checkpoint topic of a hub's Kafka sink
// (replication.kafka.checkpoint_topic) unless its config names another.
const DefaultCheckpointTopic = "tributary-checkpoints"

// KafkaOptions say which Kafka cluster VerifyKafka reads.
type KafkaOptions struct {
	// Client reaches the cluster: kgo.SeedBrokers, and TLS and SASL if
	// the cluster wants them.
	Client []kgo.Opt
	// CheckpointTopic is the hub's checkpoint topic. It is never read as
	// data; the site's records there say the site is known and which
	// records its edge lost. Default DefaultCheckpointTopic.
	CheckpointTopic string
}

// VerifyKafka is Verify for a hub that writes into Kafka
// (replication.sink: kafka): it reads topics instead of a node's streams
// and counts what it finds the same way. A topic stands for a stream and
// a Kafka partition for a stream partition: a device must stay in one
// partition of a topic, in order of offset there.
//
// VerifyOptions.Streams names the topics (default: every topic but the
// checkpoint topic and internal ones, "__…"); PageRecords does not apply.
// The site's gap records in the checkpoint topic give Report.SiteGapRecords;
// Kafka cannot tell replication lag (it does not know the edge's head), so
// with Until, Quiet alone ends the wait early.
//
// Records are read at read_committed: those of aborted transactions (and
// the transaction markers) are never counted. Each pass reads every
// partition from where the last pass stopped up to the partition's last
// stable offset as listed when the pass starts (no record past it is
// visible yet at read_committed). It tracks its position by the fetch
// position Kafka's batches give, which moves past markers and aborted
// records too, so a pass ends exactly when it has every record below that
// offset, without waiting for a quiet spell.
func VerifyKafka(ctx context.Context, k KafkaOptions, ledger *Ledger, opts VerifyOptions) (*Report, error) {
	o, err := opts.withDefaults(ledger)
	if err != nil {
		return nil, err
	}
	if k.CheckpointTopic == "" {
		k.CheckpointTopic = DefaultCheckpointTopic
	}
	// No metrics pushed to the brokers: closing would wait for the last push.
	cl, err := kgo.NewClient(append(slices.Clip(k.Client), kgo.DisableClientMetrics())...)
	if err != nil {
		return nil, fmt.Errorf("%w: kafka client: %w", ErrBadOption, err)
	}
	defer cl.Close()
	t := newTally(ledger, o)
	src := &kafkaSource{
		o: o, ckptTopic: k.CheckpointTopic, cl: cl, adm: kadm.NewClient(cl), t: t, dec: kgo.DefaultDecompressor(),
		ckptNext: map[int32]int64{}, siteGaps: map[string]uint64{},
	}
	return run(ctx, o, t, src, sourceKafka)
}

// kafkaSource reads topics of a Kafka cluster, and the site's records in
// the checkpoint topic.
type kafkaSource struct {
	o         VerifyOptions
	ckptTopic string
	cl        *kgo.Client
	adm       *kadm.Client
	t         *tally
	dec       kgo.Decompressor

	mu       sync.Mutex
	ckptNext map[int32]int64   // checkpoint partition → the next offset to read
	siteSeen bool              // the site's site record is there
	siteGaps map[string]uint64 // gap key → records the site's edge lost
}

// kpart is one Kafka partition to read in a pass.
type kpart struct {
	topic     string
	id        [16]byte
	partition int32
	leader    int32
	start     int64 // the log start offset
	end       int64 // the last stable offset: read_committed sees nothing past it
}

func (k *kafkaSource) pass(ctx context.Context) (int, error) {
	data, ckpt, err := k.partitions(ctx)
	if err != nil {
		return 0, err
	}
	jobs := make([]func(context.Context) (int, error), 0, len(data)+len(ckpt))
	for _, p := range data {
		jobs = append(jobs, func(ctx context.Context) (int, error) { return k.readData(ctx, p) })
	}
	for _, p := range ckpt {
		jobs = append(jobs, func(ctx context.Context) (int, error) { return 0, k.readCheckpoints(ctx, p) })
	}
	return parallel(ctx, k.o.Parallel, jobs)
}

// site is what the checkpoint topic says: the site is known once its site
// record is there; its gaps are the records its edge lost.
func (k *kafkaSource) site(context.Context) siteState {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.siteSeen {
		return siteState{}
	}
	st := siteState{known: true}
	for _, n := range k.siteGaps {
		st.gaps += n
	}
	return st
}

// partitions lists the partitions to read in this pass: those of the
// chosen topics, and those of the checkpoint topic when it is there and
// the site is known. A leader being elected, or a topic the hub has just
// created, is waited for, up to CallTimeout.
func (k *kafkaSource) partitions(ctx context.Context) (data, ckpt []kpart, err error) {
	cctx, cancel := context.WithTimeout(ctx, k.o.CallTimeout)
	defer cancel()
	for {
		data, ckpt, err = k.listPartitions(cctx)
		if err == nil || !kerr.IsRetriable(err) {
			return data, ckpt, err
		}
		select {
		case <-cctx.Done():
			return nil, nil, fmt.Errorf("%w (still, after %v)", err, k.o.CallTimeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (k *kafkaSource) listPartitions(ctx context.Context) (data, ckpt []kpart, err error) {
	var tds kadm.TopicDetails
	if len(k.o.Streams) > 0 {
		tds, err = k.adm.ListTopics(ctx, append(slices.Clone(k.o.Streams), k.ckptTopic)...)
	} else {
		tds, err = k.adm.ListTopics(ctx)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("kafka metadata: %w", err)
	}
	var names []string
	if len(k.o.Streams) > 0 {
		for _, n := range k.o.Streams {
			if n == k.ckptTopic {
				return nil, nil, fmt.Errorf("%w: topic %q is the checkpoint topic, not a stream's", ErrBadOption, n)
			}
			if td, ok := tds[n]; !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
				return nil, nil, k.unknownTopic(ctx, n)
			}
			names = append(names, n)
		}
	} else {
		for n, td := range tds {
			if n != k.ckptTopic && !td.IsInternal && !strings.HasPrefix(n, "__") {
				names = append(names, n)
			}
		}
		slices.Sort(names)
	}
	listed := slices.Clone(names)
	_, hasCkpt := tds[k.ckptTopic]
	hasCkpt = hasCkpt && tds[k.ckptTopic].Err == nil && k.o.Site != ""
	if hasCkpt {
		listed = append(listed, k.ckptTopic)
	}
	for _, n := range listed {
		td := tds[n]
		if td.Err != nil {
			return nil, nil, fmt.Errorf("kafka topic %s: %w", n, td.Err)
		}
		for _, p := range td.Partitions {
			if p.Err != nil {
				return nil, nil, fmt.Errorf("kafka topic %s partition %d: %w", n, p.Partition, p.Err)
			}
		}
	}
	if len(listed) == 0 {
		return nil, nil, nil
	}
	starts, err := k.adm.ListStartOffsets(ctx, listed...)
	if err != nil {
		return nil, nil, fmt.Errorf("kafka start offsets: %w", err)
	}
	ends, err := k.adm.ListCommittedOffsets(ctx, listed...)
	if err != nil {
		return nil, nil, fmt.Errorf("kafka last stable offsets: %w", err)
	}
	for _, n := range listed {
		td := tds[n]
		if n != k.ckptTopic {
			k.t.stream(n)
		}
		for _, pd := range td.Partitions.Sorted() {
			s, _ := starts.Lookup(n, pd.Partition)
			e, _ := ends.Lookup(n, pd.Partition)
			for _, lo := range []kadm.ListedOffset{s, e} {
				if lo.Err != nil {
					return nil, nil, fmt.Errorf("kafka offsets of %s/%d: %w", n, pd.Partition, lo.Err)
				}
			}
			p := kpart{topic: n, id: td.ID, partition: pd.Partition, leader: pd.Leader, start: max(s.Offset, 0), end: max(e.Offset, 0)}
			if n == k.ckptTopic {
				ckpt = append(ckpt, p)
			} else {
				data = append(data, p)
			}
		}
	}
	return data, ckpt, nil
}

// unknownTopic is the usage error for a --topics name Kafka lacks, with
// the topics it has.
func (k *kafkaSource) unknownTopic(ctx context.Context, name string) error {
	var have []string
	if tds, err := k.adm.ListTopics(ctx); err == nil {
		for n := range tds {
			if n != k.ckptTopic && !strings.HasPrefix(n, "__") {
				have = append(have, n)
			}
		}
	}
	slices.Sort(have)
	return fmt.Errorf("topic %q: %w in Kafka; it has: %s", name, ErrUnknownStream, strings.Join(have, ", "))
}

// readData reads p from where the last pass stopped into the tally.
func (k *kafkaSource) readData(ctx context.Context, p kpart) (int, error) {
	key := streamPart{p.topic, p.partition}
	next, started := k.t.position(p.topic, p.partition)
	pos := int64(next)
	var expired []ExpiredNote
	switch {
	case !started && p.start > 0:
		expired = append(expired, ExpiredNote{p.topic, p.partition, 0, uint64(p.start)})
		pos = p.start
	case pos < p.start:
		expired = append(expired, ExpiredNote{p.topic, p.partition, uint64(pos), uint64(p.start)})
		pos = p.start
	}
	if len(expired) > 0 {
		k.t.add(key, nil, uint64(pos), expired, nil)
	}
	n := 0
	err := k.read(ctx, p, pos, func(recs []*kgo.Record, next int64, expired []ExpiredNote) {
		page := make([]parsed, len(recs))
		for i, r := range recs {
			site, labelled := "", false
			for _, h := range r.Headers {
				if h.Key == HeaderSite { // the hub's own comes last
					site, labelled = string(h.Value), true
				}
			}
			page[i] = classify(k.o, uint64(r.Offset), site, labelled, r.Value)
		}
		n += len(recs)
		k.t.add(key, page, uint64(next), expired, nil)
	})
	return n, err
}

// readCheckpoints reads p of the checkpoint topic from where the last pass
// stopped, for the site's keys: SITE/site and SITE/gap/EPOCH/STREAM/PART/FROM
// (a JSON gap record).
func (k *kafkaSource) readCheckpoints(ctx context.Context, p kpart) error {
	k.mu.Lock()
	pos, ok := k.ckptNext[p.partition]
	k.mu.Unlock()
	if !ok || pos < p.start {
		pos = p.start // compaction keeps the latest of every key
	}
	prefix := k.o.Site + "/"
	return k.read(ctx, p, pos, func(recs []*kgo.Record, next int64, _ []ExpiredNote) {
		k.mu.Lock()
		defer k.mu.Unlock()
		k.ckptNext[p.partition] = next
		for _, r := range recs {
			rest, ok := strings.CutPrefix(string(r.Key), prefix)
			switch {
			case !ok:
			case rest == "site":
				k.siteSeen = true
			case strings.HasPrefix(rest, "gap/"):
				var g struct {
					From uint64 `json:"from"`
					To   uint64 `json:"to"`
				}
				if r.Value == nil || json.Unmarshal(r.Value, &g) != nil || g.To <= g.From {
					delete(k.siteGaps, string(r.Key))
					continue
				}
				k.siteGaps[string(r.Key)] = g.To - g.From
			}
		}
	})
}

// errOutOfRange: the fetch offset is no longer in the partition.
var errOutOfRange = errors.New("offset out of range")

// read reads p from pos up to p.end at read_committed, one Fetch at a
// time, and hands got each fetch's records and the offset after them. An
// offset retention deleted meanwhile is skipped and handed to got as
// expired.
func (k *kafkaSource) read(ctx context.Context, p kpart, pos int64, got func(recs []*kgo.Record, next int64, expired []ExpiredNote)) error {
	var stalled time.Time
	for pos < p.end {
		recs, next, err := k.fetch(ctx, &p, pos)
		if errors.Is(err, errOutOfRange) {
			start, lerr := k.startOffset(ctx, p)
			if lerr != nil {
				return lerr
			}
			if start <= pos {
				return fmt.Errorf("read %s/%d at offset %d: %w, though the partition starts at %d", p.topic, p.partition, pos, err, start)
			}
			got(nil, start, []ExpiredNote{{p.topic, p.partition, uint64(pos), uint64(start)}})
			pos = start
			continue
		}
		if err != nil {
			return err
		}
		if next > pos {
			got(recs, next, nil)
			pos, stalled = next, time.Time{}
			continue
		}
		// Nothing yet (a leader moving): try again for a while.
		if stalled.IsZero() {
			stalled = time.Now()
		} else if time.Since(stalled) > k.o.CallTimeout {
			return fmt.Errorf("read %s/%d: no progress at offset %d for %v", p.topic, p.partition, pos, k.o.CallTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// fetch sends one Fetch for p at pos to its leader, at read_committed, and
// returns the records and the offset after what the answer held: past
// transaction markers and aborted records too, which it drops. A leader
// that moved is looked up again and nothing is returned.
func (k *kafkaSource) fetch(ctx context.Context, p *kpart, pos int64) ([]*kgo.Record, int64, error) {
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis = 500
	req.MinBytes = 1
	req.MaxBytes = readRecvMax
	req.IsolationLevel = 1 // read_committed
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = p.topic, p.id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p.partition, pos, readBytes
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)

	cctx, cancel := context.WithTimeout(ctx, k.o.CallTimeout)
	defer cancel()
	where := fmt.Sprintf("%s/%d at offset %d", p.topic, p.partition, pos)
	kresp, err := k.cl.Broker(int(p.leader)).Request(cctx, req)
	if err != nil {
		return nil, pos, fmt.Errorf("fetch %s: %w", where, err)
	}
	resp := kresp.(*kmsg.FetchResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, pos, fmt.Errorf("fetch %s: %w", where, err)
	}
	var part *kmsg.FetchResponseTopicPartition
	for i := range resp.Topics {
		t := &resp.Topics[i]
		if t.Topic != p.topic && (t.TopicID != p.id || p.id == [16]byte{}) {
			continue
		}
		for j := range t.Partitions {
			if t.Partitions[j].Partition == p.partition {
				part = &t.Partitions[j]
			}
		}
	}
	if part == nil {
		return nil, pos, fmt.Errorf("fetch %s: the answer lacks the partition", where)
	}
	switch err := kerr.ErrorForCode(part.ErrorCode); {
	case err == nil:
	case errors.Is(err, kerr.OffsetOutOfRange):
		return nil, pos, errOutOfRange
	case kerr.IsRetriable(err):
		if leader, lerr := k.leader(cctx, *p); lerr == nil {
			p.leader = leader
		}
		return nil, pos, nil
	default:
		return nil, pos, fmt.Errorf("fetch %s: %w", where, err)
	}
	fp, next := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{
		Offset: pos, IsolationLevel: kgo.ReadCommitted(), Topic: p.topic, Partition: p.partition,
	}, part, k.dec, nil)
	if fp.Err != nil {
		return nil, pos, fmt.Errorf("fetch %s: %w", where, fp.Err)
	}
	return fp.Records, next, nil
}

// leader looks up p's leader again.
func (k *kafkaSource) leader(ctx context.Context, p kpart) (int32, error) {
	tds, err := k.adm.ListTopics(ctx, p.topic)
	if err != nil {
		return 0, err
	}
	pd, ok := tds[p.topic].Partitions[p.partition]
	if !ok || pd.Err != nil || pd.Leader < 0 {
		return 0, fmt.Errorf("no leader for %s/%d", p.topic, p.partition)
	}
	return pd.Leader, nil
}

// startOffset is p's log start offset now.
func (k *kafkaSource) startOffset(ctx context.Context, p kpart) (int64, error) {
	cctx, cancel := context.WithTimeout(ctx, k.o.CallTimeout)
	defer cancel()
	starts, err := k.adm.ListStartOffsets(cctx, p.topic)
	if err != nil {
		return 0, fmt.Errorf("kafka start offset of %s/%d: %w", p.topic, p.partition, err)
	}
	s, ok := starts.Lookup(p.topic, p.partition)
	switch {
	case !ok:
		return 0, fmt.Errorf("kafka start offset of %s/%d: not listed", p.topic, p.partition)
	case s.Err != nil:
		return 0, fmt.Errorf("kafka start offset of %s/%d: %w", p.topic, p.partition, s.Err)
	}
	return s.Offset, nil
}
