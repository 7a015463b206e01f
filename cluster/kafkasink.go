package cluster

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-io/tributary/spool"
)

// The headers a record gains in Kafka, besides HeaderSite: where the edge
// stored it. Values are decimal text, except the epoch and stream.
const (
	HeaderEpoch     = "tributary.epoch"
	HeaderStream    = "tributary.stream"
	HeaderPartition = "tributary.partition"
	HeaderOffset    = "tributary.offset"
)

// KafkaOptions make a Server write to Kafka instead of its spool. Each
// edge stream goes to the topic Options.StreamName names.
type KafkaOptions struct {
	// Client reaches the cluster: seed brokers, TLS, SASL, client id,
	// compression. It must hold kgo.SeedBrokers.
	Client []kgo.Opt
	// CheckpointTopic is the compacted topic of checkpoints and site
	// records. Default "tributary-checkpoints".
	CheckpointTopic string
	// TransactionalIDPrefix: a site's producer has the transactional id
	// prefix+site, so Kafka fences an older producer of the site, on any
	// hub. Default "tributary-hub-".
	TransactionalIDPrefix string
	// CreateTopics creates a missing topic (the checkpoint topic
	// compacted); off, a stream whose topic is missing is refused and a
	// missing checkpoint topic fails the session, with an error that says so.
	CreateTopics bool
	// Partitions and ReplicationFactor of created topics; 0: the broker's
	// defaults.
	Partitions        int32
	ReplicationFactor int16
	// OneSite is for an edge that writes its own records straight to
	// Kafka: the writer does not tail the checkpoint topic for the site
	// registry (that would fetch every site's checkpoints over the site's
	// link), so ListSites lists only the sites it served.
	OneSite bool
	// Timeout bounds one transaction (records are retried within it) and
	// the read of checkpoints; when it passes the session ends UNAVAILABLE
	// and the edge, still holding its records, connects again. Default 30s.
	Timeout time.Duration
	// MaxRecordBytes is the largest record the hub sends, counted as Kafka
	// counts a topic's max.message.bytes: a record batch holding that record
	// alone (its key, value and headers, the hub's tributary.* headers
	// among them, and about 70 bytes of framing). It is also the producer's
	// largest batch (kgo.ProducerBatchMaxBytes), so with MaxRecordBytes at
	// most the topic's max.message.bytes Kafka takes every batch. A larger
	// record is not produced: the records before it commit, and the session
	// ends with INVALID_ARGUMENT naming it, as it does when Kafka refuses a
	// batch as too large. Default 1 MiB (Kafka's default max.message.bytes
	// is 1 MiB + 12); from MinRecordBytes to MaxRecordBytesLimit.
	MaxRecordBytes int
}

// The range of KafkaOptions.MaxRecordBytes: room for the hub's headers, and
// no more than a spool batch, and so an edge record, can hold.
const (
	MinRecordBytes      = 1 << 10
	MaxRecordBytesLimit = 32 << 20
)

func (k *KafkaOptions) withDefaults() {
	if k.CheckpointTopic == "" {
		k.CheckpointTopic = "tributary-checkpoints"
	}
	if k.TransactionalIDPrefix == "" {
		k.TransactionalIDPrefix = "tributary-hub-"
	}
	if k.Partitions <= 0 {
		k.Partitions = -1
	}
	if k.ReplicationFactor <= 0 {
		k.ReplicationFactor = -1
	}
	if k.Timeout <= 0 {
		k.Timeout = 30 * time.Second
	}
	if k.MaxRecordBytes == 0 {
		k.MaxRecordBytes = 1 << 20
	}
}

// kafkaSink writes each session's records and checkpoints in Kafka
// transactions. The checkpoint topic holds, keyed for compaction:
//
//	SITE/site                          JSON siteRecord (written when a session opens: the fence)
//	SITE/ckpt/EPOCH/STREAM/PART        8 bytes: the next edge offset
//	SITE/gap/EPOCH/STREAM/PART/FROM    JSON gapRecord
//
// All of a site's keys go to one partition (a hash of the site), so a
// session reads its site's checkpoints from that partition alone. The hub
// keeps no state: the registry ListSites reports comes from tailing the
// checkpoint topic at read_committed (see tail), so every hub reports
// every site, whichever hub serves it, including those served before the
// hub started.
type kafkaSink struct {
	ko    KafkaOptions
	log   *slog.Logger
	pipe  int
	maxTx int
	admin *kgo.Client
	adm   *kadm.Client
	stop  context.CancelFunc
	tails chan struct{} // closed when tail returns

	mu     sync.Mutex
	ckpts  map[string]uint64     // ckptKey → next: the highest committed, read or tailed
	reg    map[string]siteRecord // site → its record as last tailed
	topics map[string]int        // topic → partitions, once seen
	// compacted: the checkpoint topic was seen to be compacted.
	compacted bool
}

func newKafkaSink(o Options) (*kafkaSink, error) {
	ko := *o.Kafka
	ko.withDefaults()
	if err := CheckTopicName(ko.CheckpointTopic); err != nil {
		return nil, fmt.Errorf("cluster: KafkaOptions.CheckpointTopic: %w", err)
	}
	if ko.MaxRecordBytes < MinRecordBytes || ko.MaxRecordBytes > MaxRecordBytesLimit {
		return nil, fmt.Errorf("cluster: KafkaOptions.MaxRecordBytes must be between %d and %d, got %d", MinRecordBytes, MaxRecordBytesLimit, ko.MaxRecordBytes)
	}
	// The hub's clients push no metrics to the brokers: closing a client
	// would wait up to a second for the last push, and a session's client
	// closes with the session.
	ko.Client = append(ko.Client[:len(ko.Client):len(ko.Client)], kgo.DisableClientMetrics())
	admin, err := kgo.NewClient(ko.Client...)
	if err != nil {
		return nil, fmt.Errorf("cluster: kafka client: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	k := &kafkaSink{
		ko: ko, log: o.Logger, pipe: o.Pipeline, maxTx: o.MaxTxnBytes, admin: admin, adm: kadm.NewClient(admin),
		stop: stop, tails: make(chan struct{}),
		ckpts: map[string]uint64{}, reg: map[string]siteRecord{}, topics: map[string]int{},
	}
	if ko.OneSite {
		close(k.tails)
		return k, nil
	}
	tailer, err := kgo.NewClient(append(ko.Client[:len(ko.Client):len(ko.Client)],
		kgo.ConsumeTopics(ko.CheckpointTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)...)
	if err != nil {
		stop()
		admin.Close()
		return nil, fmt.Errorf("cluster: kafka client: %w", err)
	}
	go k.tail(ctx, tailer)
	return k, nil
}

// tail follows the checkpoint topic, from its start, at read_committed,
// keeping the site records and checkpoints for ListSites. The topic is
// compacted, so what it holds is bounded by the sites' partitions and
// gaps; only site records and checkpoints are kept in memory. A topic
// that does not exist yet is waited for.
func (k *kafkaSink) tail(ctx context.Context, cl *kgo.Client) {
	defer close(k.tails)
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		for _, fe := range fs.Errors() {
			k.log.Debug("checkpoint topic fetch", "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
		}
		k.mu.Lock()
		fs.EachRecord(k.apply)
		k.mu.Unlock()
	}
}

// apply takes one record of the checkpoint topic into the registry; k.mu
// is held. Checkpoints and gap counts only grow, so the larger value wins
// whichever arrives first: a hub's own commit, or the tail.
func (k *kafkaSink) apply(r *kgo.Record) {
	site, rest, ok := strings.Cut(string(r.Key), "/")
	if !ok || !siteIDRE.MatchString(site) {
		return
	}
	switch {
	case rest == "site":
		var rec siteRecord
		if err := json.Unmarshal(r.Value, &rec); err != nil {
			k.log.Warn("checkpoint topic: bad site record", "key", string(r.Key), "err", err)
			return
		}
		rec.GapRecords = max(rec.GapRecords, k.reg[site].GapRecords)
		k.reg[site] = rec
	case strings.HasPrefix(rest, "ckpt/") && len(r.Value) == 8:
		// ckpt/EPOCH/STREAM/PART: the stream and partition hold no "/".
		rest = strings.TrimPrefix(rest, "ckpt/")
		i := strings.LastIndexByte(rest, '/')
		j := strings.LastIndexByte(rest[:max(i, 0)], '/')
		if j <= 0 {
			return
		}
		p, err := strconv.ParseUint(rest[i+1:], 10, 32)
		if err != nil {
			return
		}
		key := ckptKey(site, rest[:j], rest[j+1:i], uint32(p))
		k.ckpts[key] = max(k.ckpts[key], binary.BigEndian.Uint64(r.Value))
	}
}

// CheckTopicName checks that t is a legal Kafka topic name.
func CheckTopicName(t string) error {
	if t == "" || len(t) > 249 || strings.Trim(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" {
		return fmt.Errorf("%q is not a Kafka topic name (1 to 249 of a-z, A-Z, 0-9, '.', '_', '-')", t)
	}
	return nil
}

func (k *kafkaSink) close() {
	k.stop()
	<-k.tails
	k.admin.Close()
}

// sites returns the site records tailed so far: none at start, since a
// Kafka hub starts with no state; ListSites asks again (liveSites).
func (k *kafkaSink) sites(context.Context) (map[string]siteRecord, error) { return k.liveSites(), nil }

// liveSites returns a copy of the tailed site records.
func (k *kafkaSink) liveSites() map[string]siteRecord {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make(map[string]siteRecord, len(k.reg))
	for n, r := range k.reg {
		out[n] = r
	}
	return out
}

func (k *kafkaSink) checkpoint(site, epoch, stream string, p uint32) (uint64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.ckpts[ckptKey(site, epoch, stream, p)], nil
}

func (k *kafkaSink) target(ctx context.Context, name string) (int, string, error) {
	if err := CheckTopicName(name); err != nil {
		return 0, err.Error(), nil
	}
	n, missing, err := k.ensure(ctx, name, nil)
	if err != nil {
		return 0, "", err
	}
	if missing {
		return 0, fmt.Sprintf("Kafka has no topic %q and the hub does not create topics (kafka.create_topics); create it", name), nil
	}
	return n, "", nil
}

// ensure finds topic's partition count, creating the topic if it is
// missing and the options allow; missing reports a topic left missing.
func (k *kafkaSink) ensure(ctx context.Context, topic string, configs map[string]*string) (n int, missing bool, err error) {
	k.mu.Lock()
	n, ok := k.topics[topic]
	k.mu.Unlock()
	if ok {
		return n, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, k.ko.Timeout)
	defer cancel()
	tds, err := k.adm.ListTopics(ctx, topic)
	if err != nil {
		return 0, false, fmt.Errorf("kafka metadata: %w", err)
	}
	td, ok := tds[topic]
	switch {
	case ok && td.Err == nil:
		n = len(td.Partitions)
	case ok && !errors.Is(td.Err, kerr.UnknownTopicOrPartition):
		return 0, false, fmt.Errorf("kafka topic %s: %w", topic, td.Err)
	case !k.ko.CreateTopics:
		return 0, true, nil
	default:
		r, err := k.adm.CreateTopic(ctx, k.ko.Partitions, k.ko.ReplicationFactor, configs, topic)
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return 0, false, fmt.Errorf("create kafka topic %s: %w", topic, err)
		}
		n = int(r.NumPartitions)
		if n <= 0 { // it existed, or the broker chose: ask again
			return k.ensure(ctx, topic, configs)
		}
		k.log.Info("created kafka topic", "topic", topic, "partitions", n)
	}
	k.mu.Lock()
	k.topics[topic] = n
	k.mu.Unlock()
	return n, false, nil
}

// open starts the site's transactional producer and commits the site
// record in a transaction of its own. Its InitProducerID bumps the
// producer epoch of the site's transactional id: any transaction of an
// older producer (this hub's or another's) still open is aborted, one
// being committed completes first, and that producer can commit nothing
// more. Only then are the site's checkpoints read, at read_committed.
func (k *kafkaSink) open(ctx context.Context, site string, rec siteRecord) (sinkSession, error) {
	compact := "compact"
	_, missing, err := k.ensure(ctx, k.ko.CheckpointTopic, map[string]*string{"cleanup.policy": &compact})
	if err != nil {
		return nil, err
	}
	if missing {
		return nil, fmt.Errorf("kafka has no checkpoint topic %q and the hub does not create topics (kafka.create_topics); create it with cleanup.policy=compact", k.ko.CheckpointTopic)
	}
	if err := k.checkCompacted(ctx); err != nil {
		return nil, err
	}
	opts := append(k.ko.Client[:len(k.ko.Client):len(k.ko.Client)],
		kgo.TransactionalID(k.ko.TransactionalIDPrefix+site),
		// Kafka aborts a transaction open longer than this. It must
		// outlast Timeout, within which the hub ends the transaction
		// itself; past it, a transaction a dead hub left open stops
		// holding back read_committed consumers even if its site never
		// comes back to fence it.
		kgo.TransactionTimeout(k.ko.Timeout+10*time.Second),
		kgo.RecordPartitioner(partitioner{ckpt: k.ko.CheckpointTopic, keyed: kgo.StickyKeyPartitioner(nil)}),
		// kgo counts a batch with the 4-byte length before it in a produce
		// request; Kafka's max.message.bytes does not.
		kgo.ProducerBatchMaxBytes(int32(k.ko.MaxRecordBytes+4)),
		// A transaction's records (see run), and room for one of the
		// largest: a record larger than this buffer would fail at once.
		kgo.MaxBufferedBytes(4*k.maxTx+k.ko.MaxRecordBytes+1<<20),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	ks := &kafkaSession{k: k, cl: cl, site: site, queue: make(chan kwrite, k.pipe), quit: make(chan struct{}), done: make(chan struct{})}
	fence := &kgo.Record{Topic: k.ko.CheckpointTopic, Key: []byte(site + "/site"), Value: mustJSON(rec)}
	if err := ks.txn(ctx, func(ctx context.Context) error { return cl.ProduceSync(ctx, fence).FirstErr() }); err != nil {
		cl.Close()
		return nil, err
	}
	ks.generation = uint64(fence.Offset) + 1
	if ks.ckpts, ks.gaps, err = k.read(ctx, site, fence.Partition, fence.Offset); err != nil {
		cl.Close()
		return nil, err
	}
	if ks.gaps > rec.GapRecords {
		// The fence carried the gap count this hub knew, less than another
		// hub stored before; once the topic is compacted only the fence
		// would be left. Store the count it should have carried.
		rec.GapRecords = ks.gaps
		fix := &kgo.Record{Topic: k.ko.CheckpointTopic, Key: []byte(site + "/site"), Value: mustJSON(rec)}
		if err := ks.txn(ctx, func(ctx context.Context) error { return cl.ProduceSync(ctx, fix).FirstErr() }); err != nil {
			cl.Close()
			return nil, err
		}
	}
	go ks.run()
	return ks, nil
}

// checkCompacted makes sure the checkpoint topic is compacted: under the
// delete policy Kafka would drop checkpoints and site records after the
// retention time, and a site's next session would resume from offset 0,
// writing again what Kafka already holds. Checked once per hub.
func (k *kafkaSink) checkCompacted(ctx context.Context) error {
	k.mu.Lock()
	done := k.compacted
	k.mu.Unlock()
	if done {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, k.ko.Timeout)
	defer cancel()
	rcs, err := k.adm.DescribeTopicConfigs(ctx, k.ko.CheckpointTopic)
	if err != nil {
		return fmt.Errorf("kafka checkpoint topic %s: describe configs: %w", k.ko.CheckpointTopic, err)
	}
	rc, err := rcs.On(k.ko.CheckpointTopic, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		return fmt.Errorf("kafka checkpoint topic %s: describe configs: %w", k.ko.CheckpointTopic, err)
	}
	policy := "delete" // Kafka's default
	for _, c := range rc.Configs {
		if c.Key == "cleanup.policy" && c.Value != nil {
			policy = *c.Value
		}
	}
	if !strings.Contains(policy, "compact") {
		return fmt.Errorf("kafka checkpoint topic %s has cleanup.policy=%s: Kafka would delete checkpoints after its retention and sites would send again what it holds; set cleanup.policy=compact", k.ko.CheckpointTopic, policy)
	}
	k.mu.Lock()
	k.compacted = true
	k.mu.Unlock()
	return nil
}

// read returns the site's checkpoints from partition p of the checkpoint
// topic, reading at read_committed from the start through offset upto
// (the fence), and the largest gap count of the site records before it.
func (k *kafkaSink) read(ctx context.Context, site string, p int32, upto int64) (map[string]uint64, uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, k.ko.Timeout)
	defer cancel()
	cl, err := kgo.NewClient(append(k.ko.Client[:len(k.ko.Client):len(k.ko.Client)],
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{k.ko.CheckpointTopic: {p: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)...)
	if err != nil {
		return nil, 0, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	prefix := site + "/ckpt/"
	out := map[string]uint64{}
	var gaps uint64
	for seen := int64(-1); seen < upto; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, 0, fmt.Errorf("read checkpoints of site %s from %s: %w", site, k.ko.CheckpointTopic, err)
		}
		for _, fe := range fs.Errors() {
			k.log.Debug("checkpoint fetch", "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			seen = max(seen, r.Offset)
			key := string(r.Key)
			if key == site+"/site" && r.Offset < upto {
				var rec siteRecord
				if json.Unmarshal(r.Value, &rec) == nil {
					gaps = max(gaps, rec.GapRecords)
				}
				return
			}
			rest, ok := strings.CutPrefix(key, prefix)
			if !ok || len(r.Value) != 8 {
				return
			}
			out[rest] = binary.BigEndian.Uint64(r.Value)
		})
	}
	return out, gaps, nil
}

// partitioner puts a site's checkpoint records in one partition (chosen by
// the site, the key's first part) and data records by key, as Kafka's
// default partitioner does.
type partitioner struct {
	ckpt  string
	keyed kgo.Partitioner
}

func (p partitioner) ForTopic(t string) kgo.TopicPartitioner {
	if t == p.ckpt {
		return sitePartitioner{}
	}
	return p.keyed.ForTopic(t)
}

type sitePartitioner struct{}

func (sitePartitioner) RequiresConsistency(*kgo.Record) bool { return true }
func (sitePartitioner) Partition(r *kgo.Record, n int) int {
	site, _, _ := strings.Cut(string(r.Key), "/")
	h := fnv.New32a()
	_, _ = h.Write([]byte(site))
	return int(h.Sum32() % uint32(n))
}

// kafkaSession commits a session's writes from one goroutine, several
// queued writes per transaction.
type kafkaSession struct {
	k          *kafkaSink
	cl         *kgo.Client
	site       string
	generation uint64
	ckpts      map[string]uint64 // read at open; owned by the receive loop
	gaps       uint64            // the site's gap count as stored before open
	queue      chan kwrite
	quit       chan struct{}
	done       chan struct{}
	closeOnce  sync.Once
	closing    sync.RWMutex // commit holds it for reading, close sets closed under it
	closed     bool
}

type kwrite struct {
	w    *write
	done func(error)
}

func (ks *kafkaSession) gen() uint64 { return ks.generation }

func (ks *kafkaSession) priorGaps() uint64 { return ks.gaps }

func (ks *kafkaSession) resume(_ context.Context, epoch, stream string, p uint32) (uint64, bool, error) {
	rest := epoch + "/" + stream + "/" + strconv.FormatUint(uint64(p), 10)
	next, ok := ks.ckpts[rest]
	key := ckptKey(ks.site, epoch, stream, p)
	ks.k.mu.Lock()
	ks.k.ckpts[key] = max(ks.k.ckpts[key], next)
	ks.k.mu.Unlock()
	return next, ok, nil
}

func (ks *kafkaSession) commit(ctx context.Context, w *write, done func(error)) error {
	// Once closed, a write must not be queued: nothing would run its done,
	// and the hub's budget would never get its bytes back. The select
	// below picks at random among ready cases, so quit is checked first,
	// under the read lock that close takes for writing.
	ks.closing.RLock()
	defer ks.closing.RUnlock()
	if ks.closed {
		return errors.New("session closed")
	}
	select {
	case <-ks.quit:
		return errors.New("session closed")
	case <-ctx.Done():
		return context.Cause(ctx)
	default:
	}
	select {
	case ks.queue <- kwrite{w, done}:
		return nil
	case <-ks.quit:
		return errors.New("session closed")
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (ks *kafkaSession) close() {
	ks.closeOnce.Do(func() {
		close(ks.quit)
		<-ks.done
		// A commit racing close may have queued after run's last drain;
		// with closed set, none can queue from now on.
		ks.closing.Lock()
		ks.closed = true
		ks.closing.Unlock()
		ks.drain(errors.New("session closed"))
		ks.cl.Close()
	})
}

// run commits queued writes until the session closes: each transaction
// takes what is queued, up to a few times MaxTxnBytes. After a failure
// every later write fails too, so none lands past a hole. A record too
// large for Kafka is not produced: what comes before it commits (the write
// that holds it cut short before it, with its checkpoint), and it fails its
// write and everything after.
func (ks *kafkaSession) run() {
	defer close(ks.done)
	var failed error
	for {
		var batch []kwrite
		select {
		case kw := <-ks.queue:
			batch = append(batch, kw)
		case <-ks.quit:
			ks.drain(errors.New("session closed"))
			return
		}
		size := batch[0].w.bytes
	more:
		for size < 4*ks.k.maxTx {
			select {
			case kw := <-ks.queue:
				batch = append(batch, kw)
				size += kw.w.bytes
			default:
				break more
			}
		}
		ok := 0 // batch[:ok] committed
		if failed == nil {
			ws, n, tooLarge := ks.fit(batch)
			if len(ws) > 0 {
				failed = ks.txn(context.Background(), func(ctx context.Context) error { return ks.produce(ctx, ws) })
			}
			if failed == nil {
				ks.committed(ws)
				ok, failed = n, tooLarge
			}
		}
		for i, kw := range batch {
			if i < ok {
				kw.done(nil)
			} else {
				kw.done(failed)
			}
		}
	}
}

// fit returns the writes of batch that Kafka can take and how many of
// batch they hold whole: all of them, or those before the first record
// larger than MaxRecordBytes and, if records of its write come before it,
// that write cut short before it; then err names that record.
func (ks *kafkaSession) fit(batch []kwrite) (ws []*write, n int, err error) {
	ws = make([]*write, 0, len(batch))
	limit := ks.k.ko.MaxRecordBytes
	for n < len(batch) {
		w := batch[n].w
		wh := ks.headers(w)
		for i := range w.recs {
			size := kafkaSize(&w.recs[i], wh, w.from+uint64(i))
			if size <= limit {
				continue
			}
			if i > 0 {
				cut := *w
				cut.recs, cut.next = w.recs[:i], w.from+uint64(i)
				ws = append(ws, &cut)
			}
			return ws, n, &tooLargeError{site: ks.site, topic: w.target, stream: w.stream, partition: w.partition,
				offset: w.from + uint64(i), size: size, limit: limit}
		}
		ws = append(ws, w)
		n++
	}
	return ws, n, nil
}

func (ks *kafkaSession) drain(err error) {
	for {
		select {
		case kw := <-ks.queue:
			kw.done(err)
		default:
			return
		}
	}
}

// committed notes the new checkpoints for ListSites.
func (ks *kafkaSession) committed(ws []*write) {
	ks.k.mu.Lock()
	defer ks.k.mu.Unlock()
	for _, w := range ws {
		key := ckptKey(ks.site, w.epoch, w.stream, w.partition)
		ks.k.ckpts[key] = max(ks.k.ckpts[key], w.next)
	}
}

// txn runs fn in a transaction: begin, fn, flush, commit; on an error
// before the commit it aborts. An error from the commit itself may leave
// the outcome unknown: the session ends, and the next session of the site
// learns what committed by fencing and re-reading the checkpoints.
func (ks *kafkaSession) txn(ctx context.Context, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, ks.k.ko.Timeout)
	defer cancel()
	if err := ks.cl.BeginTransaction(); err != nil {
		return kafkaErr("begin transaction", err)
	}
	err := fn(ctx)
	if err == nil {
		err = ks.cl.Flush(ctx)
	}
	if err != nil {
		actx, acancel := context.WithTimeout(context.Background(), ks.k.ko.Timeout)
		defer acancel()
		_ = ks.cl.AbortBufferedRecords(actx)
		if aerr := ks.cl.EndTransaction(actx, kgo.TryAbort); aerr != nil {
			ks.k.log.Warn("kafka abort failed", "site", ks.site, "err", aerr)
		}
		return kafkaErr("produce", err)
	}
	if err := ks.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return kafkaErr("commit transaction (outcome unknown)", err)
	}
	return nil
}

// produce sends the records and checkpoints of ws into the open
// transaction.
func (ks *kafkaSession) produce(ctx context.Context, ws []*write) error {
	var (
		mu    sync.Mutex
		first error
	)
	promise := func(r *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			if first == nil {
				first = ks.refused(r, err)
			}
			mu.Unlock()
		}
	}
	ckpts := map[string]*write{}
	var order []string
	for _, w := range ws {
		wh := ks.headers(w)
		for i := range w.recs {
			ks.cl.Produce(ctx, ks.record(w, wh, i), promise)
		}
		if w.gap != nil {
			key := fmt.Sprintf("%s/gap/%s/%s/%d/%020d", ks.site, w.epoch, w.stream, w.partition, w.from)
			ks.cl.Produce(ctx, &kgo.Record{Topic: ks.k.ko.CheckpointTopic, Key: []byte(key), Value: mustJSON(*w.gap)}, promise)
		}
		if w.site != nil {
			ks.cl.Produce(ctx, &kgo.Record{Topic: ks.k.ko.CheckpointTopic, Key: []byte(ks.site + "/site"), Value: mustJSON(*w.site)}, promise)
		}
		key := fmt.Sprintf("%s/ckpt/%s/%s/%d", ks.site, w.epoch, w.stream, w.partition)
		if _, ok := ckpts[key]; !ok {
			order = append(order, key)
		}
		ckpts[key] = w
	}
	for _, key := range order {
		v := binary.BigEndian.AppendUint64(nil, ckpts[key].next)
		ks.cl.Produce(ctx, &kgo.Record{Topic: ks.k.ko.CheckpointTopic, Key: []byte(key), Value: v}, promise)
	}
	if err := ks.cl.Flush(ctx); err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	return first
}

// refused turns a record's failure into a tooLargeError when Kafka (or
// the client) refused it as too large: the topic takes less than
// MaxRecordBytes. The record names where the edge stored it.
func (ks *kafkaSession) refused(r *kgo.Record, err error) error {
	if !errors.Is(err, kerr.MessageTooLarge) && !errors.Is(err, kerr.RecordListTooLarge) {
		return err
	}
	var size kafkaLen
	for _, h := range r.Headers {
		size.header(len(h.Key), len(h.Value))
	}
	code := "MESSAGE_TOO_LARGE"
	if ke := (*kerr.Error)(nil); errors.As(err, &ke) {
		code = ke.Message
	}
	e := &tooLargeError{site: ks.site, topic: r.Topic, stream: kheader(r, HeaderStream), offset: ^uint64(0),
		size: size.batch(len(r.Key), len(r.Value)), limit: ks.k.ko.MaxRecordBytes, kafka: code}
	if p, perr := strconv.ParseUint(kheader(r, HeaderPartition), 10, 32); perr == nil {
		e.partition = uint32(p)
	}
	if o, perr := strconv.ParseUint(kheader(r, HeaderOffset), 10, 64); perr == nil {
		e.offset = o
	}
	return e
}

func kheader(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// record is w.recs[i] as a Kafka record: its key, value, time and headers,
// and the headers that say where the edge stored it (those shared by the
// write's records are made once, in wh).
func (ks *kafkaSession) record(w *write, wh *writeHeaders, i int) *kgo.Record {
	r := &w.recs[i]
	hs := make([]kgo.RecordHeader, 0, len(r.Headers)+5)
	for _, h := range r.Headers {
		hs = append(hs, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	hs = append(hs,
		kgo.RecordHeader{Key: HeaderSite, Value: wh.site},
		kgo.RecordHeader{Key: HeaderEpoch, Value: wh.epoch},
		kgo.RecordHeader{Key: HeaderStream, Value: wh.stream},
		kgo.RecordHeader{Key: HeaderPartition, Value: wh.partition},
		kgo.RecordHeader{Key: HeaderOffset, Value: strconv.AppendUint(nil, w.from+uint64(i), 10)},
	)
	return &kgo.Record{Topic: w.target, Key: r.Key, Value: r.Value, Timestamp: r.Time, Headers: hs}
}

// writeHeaders are the header values every record of one write shares.
type writeHeaders struct{ site, epoch, stream, partition []byte }

func (ks *kafkaSession) headers(w *write) *writeHeaders {
	return &writeHeaders{site: []byte(ks.site), epoch: []byte(w.epoch), stream: []byte(w.stream),
		partition: strconv.AppendUint(nil, uint64(w.partition), 10)}
}

// recordBatchOverhead is what a Kafka record batch takes besides its
// records, as max.message.bytes counts it.
const recordBatchOverhead = 61

// kafkaLen adds up a record as Kafka's record format (v2) frames it, the
// way franz-go does when it fills a batch.
type kafkaLen struct{ headers, n int }

func (k *kafkaLen) header(key, value int) {
	k.headers++
	k.n += varintLen(key) + key + varintLen(value) + value
}

// batch is the size of a record batch holding only this record, with
// that key and value length.
func (k kafkaLen) batch(key, value int) int {
	l := 3 + // attributes, timestamp delta 0, offset delta 0
		varintLen(key) + key + varintLen(value) + value + varintLen(k.headers) + k.n
	return recordBatchOverhead + varintLen(l) + l
}

// kafkaSize is the size of a record batch holding only r as record sends
// it, with the hub's headers (offset is its edge offset): what Kafka's
// max.message.bytes and franz-go's ProducerBatchMaxBytes check.
func kafkaSize(r *spool.Record, wh *writeHeaders, offset uint64) int {
	var k kafkaLen
	for _, h := range r.Headers {
		k.header(len(h.Key), len(h.Value))
	}
	k.header(len(HeaderSite), len(wh.site))
	k.header(len(HeaderEpoch), len(wh.epoch))
	k.header(len(HeaderStream), len(wh.stream))
	k.header(len(HeaderPartition), len(wh.partition))
	digits := 1
	for v := offset; v >= 10; v /= 10 {
		digits++
	}
	k.header(len(HeaderOffset), digits)
	return k.batch(len(r.Key), len(r.Value))
}

// varintLen is the length of n as a zigzag varint, n >= 0.
func varintLen(n int) int {
	u, l := uint64(n)<<1, 1
	for ; u >= 0x80; u >>= 7 {
		l++
	}
	return l
}

// tooLargeError is a record Kafka cannot take: larger than MaxRecordBytes,
// or in a batch Kafka refused as too large. Retrying will not help until a
// limit is raised.
type tooLargeError struct {
	site, topic, stream string
	partition           uint32
	offset              uint64 // ^0: not known (not an edge record)
	size, limit         int
	kafka               string // Kafka's error code, when Kafka refused it
}

func (e *tooLargeError) Is(target error) bool { return target == errRejected }

func (e *tooLargeError) Error() string {
	where := fmt.Sprintf("site %s, stream %q partition %d, edge offset %d (%d bytes as Kafka counts it: key, value, headers and framing)",
		e.site, e.stream, e.partition, e.offset, e.size)
	if e.kafka == "" {
		return fmt.Sprintf("record too large for Kafka: %s, over the limit of %d (kafka.max_record_bytes); it and the records after it stay on the edge. "+
			"Raise kafka.max_record_bytes, and the max.message.bytes of topic %s to at least as much",
			where, e.limit, e.topic)
	}
	if e.offset == ^uint64(0) {
		where = "a record of the hub's own"
	}
	return fmt.Sprintf("Kafka refused a batch of topic %s as too large (%s); it held %s. The hub sends batches of up to kafka.max_record_bytes (%d), "+
		"more than the topic takes; the records stay on the edge. Raise the max.message.bytes of topic %s (and the brokers' message.max.bytes) "+
		"to at least kafka.max_record_bytes, or lower kafka.max_record_bytes to what the topic takes",
		e.topic, e.kafka, where, e.limit, e.topic)
}

// kafkaErr marks a fencing error as errFenced. Kafka being too slow is
// not the session's deadline: it ends the session UNAVAILABLE, as Kafka
// being away does.
func kafkaErr(what string, err error) error {
	var tl *tooLargeError
	switch {
	case errors.As(err, &tl):
		return tl
	case errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch):
		return fmt.Errorf("%w: kafka %s: %w", errFenced, what, err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("kafka %s: not done within the timeout (%s)", what, err.Error())
	}
	return fmt.Errorf("kafka %s: %w", what, err)
}
