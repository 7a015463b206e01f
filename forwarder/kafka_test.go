package forwarder_test

// The tests here run real forwarders against hubs whose sink is Kafka:
// franz-go's in-process kfake cluster, which speaks the Kafka protocol with
// transactions. Faults are injected with kfake's request control hooks. A
// consumer at read_committed must then see every record exactly once, in
// order per key.

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"google.golang.org/grpc"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
	"github.com/tributary-io/tributary/cluster"
	"github.com/tributary-io/tributary/forwarder"
	"github.com/tributary-io/tributary/internal/testcert"
	"github.com/tributary-io/tributary/spool"
)

// startKafka starts a kfake cluster with no topics: the hubs create them.
func startKafka(t *testing.T) *kfake.Cluster {
	t.Helper()
	kc, err := kfake.NewCluster(kfake.NumBrokers(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	return kc
}

// startKafkaHub starts a hub whose sink is kc.
func startKafkaHub(t *testing.T, ca *testcert.CA, kc *kfake.Cluster) *hub {
	t.Helper()
	h := &hub{t: t, ca: ca, done: make(chan struct{})}
	h.opts = cluster.Options{Kafka: kafkaHubOptions(kc.ListenAddrs())}
	if testing.Verbose() {
		h.opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		h.opts.Kafka.Client = append(h.opts.Kafka.Client, kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelInfo, nil)))
	}
	return h.serve("")
}

// kafkaRecords reads topic at read_committed from the start until it holds
// want records and a further poll brings nothing new.
func kafkaRecords(t *testing.T, kc *kfake.Cluster, topic string, want int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	deadline := time.Now().Add(patience)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		n := len(out)
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
		if len(out) >= want && len(out) == n {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("kafka topic %s: %d records after %s, want %d", topic, len(out), patience, want)
		}
	}
}

func kheader(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// kafkaExactlyOnce checks that recs hold every key's records 0..want-1
// once, in order within each Kafka partition, with the site's headers, and
// each edge offset once.
func kafkaExactlyOnce(t *testing.T, recs []*kgo.Record, site string, want map[string]int) {
	t.Helper()
	next := map[string]uint64{}
	seen := map[string]bool{}
	for _, r := range recs {
		k := string(r.Key)
		if got := binary.BigEndian.Uint64(r.Value[len(r.Value)-8:]); got != next[k] {
			t.Fatalf("kafka partition %d offset %d: key %s: record %d where %d was due (lost or duplicated)", r.Partition, r.Offset, k, got, next[k])
		}
		next[k]++
		if s := kheader(r, cluster.HeaderSite); s != site {
			t.Fatalf("record of %s has site header %q, want %q", k, s, site)
		}
		at := kheader(r, cluster.HeaderEpoch) + "/" + kheader(r, cluster.HeaderStream) + "/" + kheader(r, cluster.HeaderPartition) + "/" + kheader(r, cluster.HeaderOffset)
		if _, err := strconv.ParseUint(kheader(r, cluster.HeaderOffset), 10, 64); err != nil || seen[at] {
			t.Fatalf("edge position %q twice or malformed", at)
		}
		seen[at] = true
	}
	for k, n := range want {
		if next[k] != uint64(n) {
			t.Fatalf("key %s: kafka holds %d records, the edge stored %d", k, next[k], n)
		}
	}
}

// acked waits until the hub has acknowledged every record of the edge's
// stream.
func (e *edge) acked(stream string, parts int) {
	e.t.Helper()
	var total uint64
	for _, n := range wantAll(e) {
		total += uint64(n)
	}
	waitFor(e.t, fmt.Sprintf("the hub to ack all %d records", total), 2*patience, func() bool {
		var sum uint64
		for p := range parts {
			c, ok, err := e.sp.Cursor(forwarder.CursorName, stream, p)
			if err != nil || !ok {
				return false
			}
			sum += c.Offset
		}
		return sum == total
	})
}

func TestKafkaSinkExactlyOnce(t *testing.T) {
	ca := testcert.NewCA(t, "sites")
	kc := startKafka(t)
	h := startKafkaHub(t, ca, kc)
	e := openEdge(t, "plant-k1")
	e.produce(hubStream, keys, 300)
	e.forward(forwarder.Options{Addr: h.addr, TLS: clientTLS(t, ca, "plant-k1")})
	e.produce(hubStream, keys, 300)
	e.acked(hubStream, 2)
	// A second session of the site resumes from Kafka's checkpoints.
	e.halt()
	e.produce(hubStream, keys, 100)
	e.forward(forwarder.Options{Addr: h.addr, TLS: clientTLS(t, ca, "plant-k1")})
	e.acked(hubStream, 2)
	kafkaExactlyOnce(t, kafkaRecords(t, kc, hubStream, 3500), "plant-k1", wantAll(e))
}

// failProduce answers the next n produce requests with code instead of
// storing them.
func failProduce(kc *kfake.Cluster, n int32, code int16) *atomic.Int32 {
	var hits atomic.Int32
	kc.ControlKey(int16(kmsg.Produce), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		if hits.Load() >= n {
			kc.DropControl()
			return nil, nil, false
		}
		hits.Add(1)
		kc.KeepControl()
		req := kr.(*kmsg.ProduceRequest)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	return &hits
}

// Produce requests fail for a while, first with an error Kafka clients
// retry, then with one that fails the records: the transaction aborts, the
// session ends, and the next one resumes from the committed checkpoint.
func TestKafkaSinkProduceErrors(t *testing.T) {
	ca := testcert.NewCA(t, "sites")
	kc := startKafka(t)
	h := startKafkaHub(t, ca, kc)
	e := openEdge(t, "plant-k2")
	e.produce(hubStream, keys, 200)
	e.forward(forwarder.Options{Addr: h.addr, TLS: clientTLS(t, ca, "plant-k2")})
	e.acked(hubStream, 2)

	retried := failProduce(kc, 5, kerr.NotLeaderForPartition.Code)
	e.produce(hubStream, keys, 200)
	e.acked(hubStream, 2)
	if retried.Load() < 5 {
		t.Fatalf("%d produce requests failed, want 5", retried.Load())
	}
	failed := failProduce(kc, 3, kerr.InvalidRecord.Code)
	e.produce(hubStream, keys, 200)
	e.acked(hubStream, 2)
	if failed.Load() < 3 {
		t.Fatalf("%d produce requests failed, want 3", failed.Load())
	}
	kafkaExactlyOnce(t, kafkaRecords(t, kc, hubStream, 3000), "plant-k2", wantAll(e))
}

// The first commit's EndTxn reaches Kafka and commits, but its answer is
// lost (the hub cannot know the outcome); the second's never reaches Kafka
// (the transaction stays open, as if the hub died in it). Each time the
// session ends; the next one fences the transactional id, which aborts what
// is still open, and re-reads the checkpoints to learn what committed.
func TestKafkaSinkEndTxnUnknownOutcome(t *testing.T) {
	ca := testcert.NewCA(t, "sites")
	kc := startKafka(t)
	raw, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var (
		ends      atomic.Int32
		committed = make(chan error, 1)
	)
	kc.ControlKey(int16(kmsg.EndTxn), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		req := kr.(*kmsg.EndTxnRequest)
		if !req.Commit {
			return nil, nil, false
		}
		switch ends.Add(1) {
		case 1: // commit it behind the hub's back, and never answer the hub
			kc.KeepControl()
			r := *req
			go func() {
				resp, err := r.RequestWith(context.Background(), raw)
				if err == nil {
					err = kerr.ErrorForCode(resp.ErrorCode)
				}
				committed <- err
			}()
			return nil, nil, true
		case 2: // our own request from above: let it through
			kc.KeepControl()
			return nil, nil, false
		case 3: // never answer, never apply
			return nil, nil, true
		}
		return nil, nil, false
	})
	h := startKafkaHub(t, ca, kc)
	e := openEdge(t, "plant-k3")
	e.produce(hubStream, keys, 200)
	e.forward(forwarder.Options{Addr: h.addr, TLS: clientTLS(t, ca, "plant-k3")})
	if err := <-committed; err != nil {
		t.Fatalf("the hidden commit: %v", err)
	}
	e.produce(hubStream, keys, 200)
	e.acked(hubStream, 2)
	if n := ends.Load(); n < 4 {
		t.Fatalf("%d commits, want at least 4 (the faults did not all happen)", n)
	}
	kafkaExactlyOnce(t, kafkaRecords(t, kc, hubStream, 2000), "plant-k3", wantAll(e))
}

// Kafka is unreachable for a while: every request's connection is cut. The
// hub acks nothing, the edge keeps its records, and delivery resumes when
// Kafka returns.
func TestKafkaSinkUnavailable(t *testing.T) {
	ca := testcert.NewCA(t, "sites")
	kc := startKafka(t)
	h := startKafkaHub(t, ca, kc)
	e := openEdge(t, "plant-k4")
	e.produce(hubStream, keys, 200)
	e.forward(forwarder.Options{Addr: h.addr, TLS: clientTLS(t, ca, "plant-k4")})
	e.acked(hubStream, 2)

	var down atomic.Bool
	var cut atomic.Int32
	down.Store(true)
	kc.Control(func(kmsg.Request) (kmsg.Response, error, bool) {
		if !down.Load() {
			return nil, nil, false
		}
		cut.Add(1)
		kc.KeepControl()
		return nil, errors.New("kafka is down"), true
	})
	e.produce(hubStream, keys, 200)
	waitFor(t, "the forwarder to report the hub failing", 2*patience, func() bool {
		return cut.Load() > 0 && e.fwd.Status().LastError != ""
	})
	before := acked(e, hubStream, 2)
	if before == 2000 {
		t.Fatal("the hub acked records Kafka never took")
	}
	down.Store(false)
	e.acked(hubStream, 2)
	kafkaExactlyOnce(t, kafkaRecords(t, kc, hubStream, 2000), "plant-k4", wantAll(e))
}

// acked is the sum of the edge's acknowledged offsets.
func acked(e *edge, stream string, parts int) uint64 {
	var sum uint64
	for p := range parts {
		c, _, _ := e.sp.Cursor(forwarder.CursorName, stream, p)
		sum += c.Offset
	}
	return sum
}

// Two hubs over one Kafka: a second hub opens a session of the site while
// the first is streaming it. Kafka fences the first hub's producer (its
// session ends ABORTED); the site moves to the second hub and ends with no
// loss and no duplicate.
func TestKafkaSinkSiteMovesBetweenHubs(t *testing.T) {
	ca := testcert.NewCA(t, "sites")
	kc := startKafka(t)
	h1 := startKafkaHub(t, ca, kc)
	h2 := startKafkaHub(t, ca, kc)
	e := openEdge(t, "plant-k5")
	e.produce(hubStream, keys, 100)
	e.forward(forwarder.Options{Addr: h1.addr, Alternates: []string{h2.addr}, TLS: clientTLS(t, ca, "plant-k5")})
	e.acked(hubStream, 2)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the site keeps producing
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			e.produce(hubStream, keys, 20)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	defer func() {
		close(stop)
		wg.Wait()
	}()
	waitFor(t, "records flowing to hub 1", patience, func() bool { return acked(e, hubStream, 2) > 1000 })
	failures := e.fwd.Status().Failures
	rs, _, err := openRaw(t, h2, "plant-k5", "plant-k5", "", map[string]uint32{hubStream: 2})
	if err != nil {
		t.Fatalf("second hub: %v", err)
	}
	// Hub 1's session ends: fenced, or, when the fence lands during its
	// commit, with the commit's outcome unknown (kfake then answers
	// INVALID_TXN_STATE). Nothing else fails in this test.
	waitFor(t, "hub 1's session to end", patience, func() bool { return e.fwd.Status().Failures > failures })
	if st := e.fwd.Status(); !strings.Contains(st.LastError, "fenced") && !strings.Contains(st.LastError, "outcome unknown") {
		t.Fatalf("hub 1's session ended with %q, want fenced or a commit of unknown outcome", st.LastError)
	}
	rs.cancel()
	h1.stop() // the site moves to hub 2
	close(stop)
	wg.Wait()
	stop = make(chan struct{}) // for the deferred close
	e.acked(hubStream, 2)
	if st := e.fwd.Status(); st.Hub != h2.addr {
		t.Fatalf("the site is at %q, want hub 2 %q", st.Hub, h2.addr)
	}
	var total int
	for _, n := range wantAll(e) {
		total += n
	}
	kafkaExactlyOnce(t, kafkaRecords(t, kc, hubStream, total), "plant-k5", wantAll(e))
}

// startCrashKafkaHub serves, in a crash test's child, a hub over Kafka on
// addr, plaintext and anonymous; it runs until the process is killed.
func startCrashKafkaHub(brokers []string, addr string) (string, error) {
	srv, err := cluster.New(cluster.Options{AllowAnonymous: true, Kafka: kafkaHubOptions(brokers)})
	if err != nil {
		return "", err
	}
	var ln net.Listener
	for i := 0; ; i++ { // the killed hub's port may take a moment to free
		ln, err = net.Listen("tcp", addr)
		if err == nil || i == 100 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return "", err
	}
	gs := grpc.NewServer()
	tributaryv1.RegisterReplicationServiceServer(gs, srv)
	go func() { _ = gs.Serve(ln) }()
	return ln.Addr().String(), nil
}

func kafkaHubOptions(brokers []string) *cluster.KafkaOptions {
	return &cluster.KafkaOptions{
		// Metadata refreshes (after a retriable produce error) come
		// sooner than the client's default, to keep the tests short.
		Client:       []kgo.Opt{kgo.SeedBrokers(brokers...), kgo.MetadataMinAge(50 * time.Millisecond)},
		CreateTopics: true,
		Partitions:   3,
		// Short, so that a fault ends a session soon; nothing waits for it
		// to pass unless a fault is injected.
		Timeout: 3 * time.Second,
	}
}

// A hub over Kafka is SIGKILLed again and again while a site streams to it,
// often in the middle of a transaction; a new hub process takes over each
// time. Kafka must end with every record the edge stored exactly once.
func TestCrashKafkaHub(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes; not in -short")
	}
	kc := startKafka(t)
	brokers := strings.Join(kc.ListenAddrs(), ",")
	c := startCrashProc(t, "kafka-hub", brokers, "127.0.0.1:0", nil)
	addr := c.addr
	e := openEdge(t, "plant-kx")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // the site keeps storing
		for {
			select {
			case <-stop:
				return
			default:
			}
			e.produce(hubStream, keys, 10)
			time.Sleep(2 * time.Millisecond)
		}
	})
	e.forward(forwarder.Options{Addr: addr, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	cycles := min(*crashCycles, 6)
	var atKill []uint64
	for cycle := range cycles {
		if cycle > 0 {
			c = startCrashProc(t, "kafka-hub", brokers, addr, nil)
		}
		time.Sleep(crashPause())
		c.kill()
		atKill = append(atKill, acked(e, hubStream, 2))
	}
	close(stop)
	wg.Wait()
	h := &hub{t: t, done: make(chan struct{})}
	h.opts = cluster.Options{AllowAnonymous: true, Kafka: kafkaHubOptions(kc.ListenAddrs())}
	h.serveGRPC(addr, grpc.NewServer())
	e.acked(hubStream, 2)
	if slices.Max(atKill) == 0 {
		t.Fatal("no kill met replication under way: nothing was acked before the last kill")
	}
	var total int
	for _, n := range wantAll(e) {
		total += n
	}
	kafkaExactlyOnce(t, kafkaRecords(t, kc, hubStream, total), "plant-kx", wantAll(e))
	t.Logf("%d kills; acked at each kill %v; %d records", cycles, atKill, total)
}

// Without create_topics, a stream whose topic is missing is refused, and a
// missing checkpoint topic fails the session; both say which topic.
func TestKafkaSinkMissingTopics(t *testing.T) {
	ca := testcert.NewCA(t, "sites")
	for _, tc := range []struct {
		name    string
		topics  []string
		compact bool   // the checkpoint topic is made compacted
		wantErr string // the session fails with it
		refused string // or the Welcome refuses alarms with it
	}{
		{"no checkpoint topic", []string{hubStream, "alarms"}, false, `no checkpoint topic "tributary-checkpoints"`, ""},
		{"checkpoint topic not compacted", []string{hubStream, "alarms", "tributary-checkpoints"}, false,
			"tributary-checkpoints has cleanup.policy=delete", ""},
		{"no stream topic", []string{hubStream, "tributary-checkpoints"}, true, "", `Kafka has no topic "alarms"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, tc.topics...))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(kc.Close)
			if tc.compact {
				compactTopic(t, kc, "tributary-checkpoints")
			}
			h := &hub{t: t, ca: ca, done: make(chan struct{})}
			h.opts = cluster.Options{Kafka: kafkaHubOptions(kc.ListenAddrs())}
			h.opts.Kafka.CreateTopics = false
			h.serve("")
			rs, w, err := openRaw(t, h, "plant-km", "plant-km", "", map[string]uint32{hubStream: 1, "alarms": 1})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("open: %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer rs.cancel()
			if len(w.GetRefused()) != 1 || w.GetRefused()[0].GetStream() != "alarms" || !strings.Contains(w.GetRefused()[0].GetReason(), tc.refused) {
				t.Fatalf("refused %v, want alarms: %s", w.GetRefused(), tc.refused)
			}
			if len(w.GetResume()) != 1 || w.GetResume()[0].GetStream() != hubStream {
				t.Fatalf("resume %v, want %s only", w.GetResume(), hubStream)
			}
		})
	}
}

// compactTopic sets cleanup.policy=compact on topic, as an operator who
// creates the checkpoint topic by hand must.
func compactTopic(t *testing.T, kc *kfake.Cluster, topic string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	compact := "compact"
	rs, err := kadm.NewClient(cl).AlterTopicConfigs(context.Background(),
		[]kadm.AlterConfig{{Op: kadm.SetConfig, Name: "cleanup.policy", Value: &compact}}, topic)
	if err == nil {
		_, err = rs.On(topic, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// A gap reaches a Kafka hub as it reaches a spool hub: the checkpoint moves
// past it, the site counts it, a gap record lands in the checkpoint topic,
// and the records after it reach their topic once each.
func TestKafkaSinkGap(t *testing.T) {
	ca := testcert.NewCA(t, "sites")
	kc := startKafka(t)
	h := startKafkaHub(t, ca, kc)
	e := openEdge(t, "plant-kg")
	small := spool.StreamConfig{Name: "vibration", Partitions: 1, MaxBytes: 256 << 10, Full: spool.DropOldest}
	if err := e.sp.EnsureStream(small); err != nil {
		t.Fatal(err)
	}
	e.forward(forwarder.Options{Addr: "127.0.0.1:1", MaxBackoff: time.Hour, Streams: []string{"vibration"}})
	e.halt()
	const total = 64
	for i := range total { // 64 × 16 KiB of random bytes: four times the budget
		v := make([]byte, 16<<10)
		if _, err := rand.Read(v); err != nil {
			t.Fatal(err)
		}
		binary.BigEndian.PutUint64(v[len(v)-8:], uint64(i))
		if _, err := e.sp.Append(context.Background(), "vibration", spool.Record{Key: []byte("motor-1"), Value: v, Time: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	e.forward(forwarder.Options{Addr: h.addr, TLS: clientTLS(t, ca, "plant-kg"), Streams: []string{"vibration"}})
	var gaps uint64
	waitFor(t, "the hub's checkpoint at the edge's head", patience, func() bool {
		r, err := h.srv.ListSites(context.Background(), &tributaryv1.ListSitesRequest{})
		if err != nil || len(r.GetSites()) != 1 {
			return false
		}
		s := r.GetSites()[0]
		for _, p := range s.GetPartitions() {
			if p.GetStream() == "vibration" && p.GetHubCheckpoint() == total {
				gaps = s.GetGapRecords()
				return gaps > 0
			}
		}
		return false
	})
	recs := kafkaRecords(t, kc, "vibration", int(total-gaps))
	if uint64(len(recs))+gaps != total {
		t.Fatalf("kafka: %d records and %d in gaps, want %d in all", len(recs), gaps, total)
	}
	for i, r := range recs {
		if got, want := kheader(r, cluster.HeaderOffset), strconv.FormatUint(gaps+uint64(i), 10); got != want {
			t.Fatalf("record %d has edge offset %s, want %s", i, got, want)
		}
	}
	var gapKeys int
	for _, r := range kafkaRecords(t, kc, "tributary-checkpoints", 1) {
		if strings.HasPrefix(string(r.Key), "plant-kg/gap/") {
			gapKeys++
		}
	}
	if gapKeys == 0 {
		t.Fatal("no gap record in the checkpoint topic")
	}

	// The site moves to a hub that never saw it: its fence carries no gap
	// count, so it stores the count the site had, and the last site record
	// (all a compacted topic keeps) says so.
	e.halt()
	h2 := startKafkaHub(t, ca, kc)
	e.forward(forwarder.Options{Addr: h2.addr, TLS: clientTLS(t, ca, "plant-kg"), Streams: []string{"vibration"}})
	waitFor(t, "the second hub to serve the site", patience, func() bool { return e.fwd.Status().Connected })
	var last siteRecordJSON
	waitFor(t, "the last site record to carry the gap count", patience, func() bool {
		for _, r := range kafkaRecords(t, kc, "tributary-checkpoints", 1) {
			if string(r.Key) == "plant-kg/site" {
				if err := json.Unmarshal(r.Value, &last); err != nil {
					t.Fatal(err)
				}
			}
		}
		return last.GapRecords == gaps
	})
}

// siteRecordJSON is the part of a site record in the checkpoint topic the
// tests read.
type siteRecordJSON struct {
	GapRecords uint64 `json:"gap_records"`
}

// edgeAt is where the edge stored r, from the hub's headers.
func edgeAt(t *testing.T, r *kgo.Record) (part int, off uint64) {
	t.Helper()
	p, err1 := strconv.Atoi(kheader(r, cluster.HeaderPartition))
	o, err2 := strconv.ParseUint(kheader(r, cluster.HeaderOffset), 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("record without the edge's partition and offset: %v", r.Headers)
	}
	return p, o
}

// A record larger than kafka.max_record_bytes is not produced. The records
// before it land once and nothing of its partition after it does; the
// session ends with INVALID_ARGUMENT and an error that names the record,
// its size and the limit, which the edge shows as a refusal (no quick
// retries). Once the limit is raised, everything lands, once.
func TestKafkaSinkRecordTooLarge(t *testing.T) {
	ca := testcert.NewCA(t, "sites")
	kc := startKafka(t)
	h := &hub{t: t, ca: ca, done: make(chan struct{})}
	h.opts = cluster.Options{Kafka: kafkaHubOptions(kc.ListenAddrs())}
	h.opts.Kafka.MaxRecordBytes = 64 << 10
	h.serve("")
	e := openEdge(t, "plant-kb")
	e.produce(hubStream, keys, 100)
	// A camera frame among the telemetry, in one spool batch with records
	// before and after it: 100 KiB, over the hub's 64 KiB. Its value is
	// zeros: its sequence number, for kafkaExactlyOnce, is 0.
	var recs []spool.Record
	e.mu.Lock()
	for i := range 40 {
		if i == 20 {
			recs = append(recs, spool.Record{Key: []byte("camera-1"), Value: make([]byte, 100<<10), Time: time.Now()})
			e.seq["camera-1"]++
		}
		for _, k := range keys {
			recs = append(recs, spool.Record{Key: []byte(k), Value: binary.BigEndian.AppendUint64([]byte(k), uint64(e.seq[k])), Time: time.Now()})
			e.seq[k]++
		}
	}
	e.mu.Unlock()
	pos, err := e.sp.Append(context.Background(), hubStream, recs...)
	if err != nil {
		t.Fatal(err)
	}
	pos = pos[100:] // the camera's
	bigPart, bigOff := pos[0].Partition, pos[0].Offset
	e.produce(hubStream, keys, 100)
	e.forward(forwarder.Options{Addr: h.addr, TLS: clientTLS(t, ca, "plant-kb"), FatalBackoff: 300 * time.Millisecond})

	showsRefusal(t, e, "code = InvalidArgument", "record too large for Kafka", "site plant-kb",
		fmt.Sprintf(`stream "telemetry" partition %d, edge offset %d`, bigPart, bigOff),
		"over the limit of 65536 (kafka.max_record_bytes)", "stay on the edge",
		"Raise kafka.max_record_bytes", "max.message.bytes of topic telemetry")
	// The hub's checkpoint stops at the record.
	waitFor(t, "the hub's checkpoint at the large record", patience, func() bool {
		r, err := h.srv.ListSites(context.Background(), &tributaryv1.ListSitesRequest{})
		if err != nil || len(r.GetSites()) != 1 {
			return false
		}
		for _, p := range r.GetSites()[0].GetPartitions() {
			if p.GetStream() == hubStream && int(p.GetPartition()) == bigPart {
				return p.GetHubCheckpoint() == bigOff
			}
		}
		return false
	})
	// In Kafka: the large record's partition up to it, once each, and
	// nothing from it on; the other partition a prefix, once each.
	got := map[int]map[uint64]bool{0: {}, 1: {}}
	for _, r := range kafkaRecords(t, kc, hubStream, int(bigOff)) {
		p, o := edgeAt(t, r)
		if got[p][o] {
			t.Fatalf("edge partition %d offset %d twice in Kafka", p, o)
		}
		got[p][o] = true
		if p == bigPart && o >= bigOff {
			t.Fatalf("edge partition %d offset %d in Kafka: at or past the large record (%d)", p, o, bigOff)
		}
	}
	for p, offs := range got {
		for o := range uint64(len(offs)) {
			if !offs[o] {
				t.Fatalf("edge partition %d: %d records in Kafka but not offset %d", p, len(offs), o)
			}
		}
	}
	if uint64(len(got[bigPart])) != bigOff {
		t.Fatalf("edge partition %d: %d records before the large one in Kafka, want %d", bigPart, len(got[bigPart]), bigOff)
	}

	// The limit raised, the edge's next attempt sends everything.
	addr := h.addr
	h.stop()
	h2 := &hub{t: t, ca: ca, done: make(chan struct{})}
	h2.opts = cluster.Options{Kafka: kafkaHubOptions(kc.ListenAddrs())}
	h2.opts.Kafka.MaxRecordBytes = 128 << 10
	h2.serve(addr)
	e.acked(hubStream, 2)
	var total int
	for _, n := range wantAll(e) {
		total += n
	}
	kafkaExactlyOnce(t, kafkaRecords(t, kc, hubStream, total), "plant-kb", wantAll(e))
}

// A topic that takes less than kafka.max_record_bytes refuses the hub's
// batches as too large: the session ends with INVALID_ARGUMENT and an
// error that says which limit to raise or lower, and nothing of the
// refused transactions lands. Once the topic takes more, everything
// lands, once.
func TestKafkaSinkTopicRefusesTooLarge(t *testing.T) {
	ca := testcert.NewCA(t, "sites")
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.BrokerConfigs(map[string]string{"message.max.bytes": "16384"}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	h := &hub{t: t, ca: ca, done: make(chan struct{})}
	h.opts = cluster.Options{Kafka: kafkaHubOptions(kc.ListenAddrs())}
	// Uncompressed, so that the batches are larger than the topic takes.
	h.opts.Kafka.Client = append(h.opts.Kafka.Client, kgo.ProducerBatchCompression(kgo.NoCompression()))
	h.serve("")
	e := openEdge(t, "plant-kt")
	e.produce(hubStream, keys, 200)
	e.forward(forwarder.Options{Addr: h.addr, TLS: clientTLS(t, ca, "plant-kt"), FatalBackoff: 300 * time.Millisecond})
	showsRefusal(t, e, "code = InvalidArgument", "Kafka refused a batch of topic telemetry as too large (MESSAGE_TOO_LARGE)",
		"it held site plant-kt, stream \"telemetry\" partition ", "kafka.max_record_bytes (1048576)",
		"Raise the max.message.bytes of topic telemetry", "or lower kafka.max_record_bytes")
	if n := acked(e, hubStream, 2); n != 0 {
		t.Fatalf("the hub acked %d records", n)
	}

	// The operator raises the topic's limit; the edge's next attempt
	// sends everything.
	adm, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	v := "2097152"
	if _, err := kadm.NewClient(adm).AlterTopicConfigs(context.Background(),
		[]kadm.AlterConfig{{Op: kadm.SetConfig, Name: "max.message.bytes", Value: &v}}, hubStream); err != nil {
		t.Fatal(err)
	}
	e.acked(hubStream, 2)
	kafkaExactlyOnce(t, kafkaRecords(t, kc, hubStream, 1000), "plant-kt", wantAll(e))
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// showsRefusal waits until the edge shows a refusal of a record too large,
// then checks that it says each of wants and that the edge backs off as
// for a refusal retrying will not heal.
func showsRefusal(t *testing.T, e *edge, wants ...string) {
	t.Helper()
	var st forwarder.Status
	waitFor(t, "the edge to show the refusal", patience, func() bool {
		st = e.fwd.Status()
		return strings.Contains(st.LastError, "too large")
	})
	for _, want := range wants {
		if !strings.Contains(st.LastError, want) {
			t.Errorf("the edge's last error lacks %q:\n%s", want, st.LastError)
		}
	}
	if !st.Fatal {
		t.Errorf("the edge retries soon (Fatal false): %+v", st)
	}
	t.Logf("the edge shows: %s", st.LastError)
}

// stallKafka holds every Produce and EndTxn request kc gets, unanswered,
// until release (which the test's end calls too, if the test did not);
// held counts the requests held.
func stallKafka(t *testing.T, kc *kfake.Cluster) (held *atomic.Int32, release func()) {
	held = new(atomic.Int32)
	ch := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(ch) }) }
	t.Cleanup(release)
	for _, key := range []kmsg.Key{kmsg.Produce, kmsg.EndTxn} {
		kc.ControlKey(int16(key), func(kmsg.Request) (kmsg.Response, error, bool) {
			kc.KeepControl()
			select {
			case <-ch:
			default:
				held.Add(1)
				kc.SleepControl(func() { <-ch })
			}
			return nil, nil, false
		})
	}
	return held, release
}

// While Kafka stalls (produce and commit requests are held, unanswered),
// the hub acks nothing and holds a bounded amount, however much the site
// sends: its session's queue (Options.PipelineBytes of records; the count
// of writes, Options.Pipeline, is made too large to bind), one transaction
// in the Kafka client and gRPC's flow-control window. The edge, whose
// window is made unlimited so that only the hub bounds what it takes in,
// keeps storing. When Kafka answers again,
// everything lands once. The heap is the whole test process's (hub, edge
// and Kafka), read after a collection.
func TestKafkaSinkStallBoundsMemory(t *testing.T) {
	const (
		pipeline   = 1 << 12
		maxTxn     = 256 << 10
		queueBytes = 8 * maxTxn
		recordSize = 1 << 10
		perAppend  = 512      // records per append: a 256 KiB batch in each partition
		total      = 48 << 20 // bytes the site stores while Kafka stalls
	)
	ca := testcert.NewCA(t, "sites")
	kc := startKafka(t)
	h := &hub{t: t, ca: ca, done: make(chan struct{})}
	h.opts = cluster.Options{Kafka: kafkaHubOptions(kc.ListenAddrs()), Pipeline: pipeline, PipelineBytes: queueBytes, MaxTxnBytes: maxTxn}
	// Longer than the stall should last, so that one session holds a full
	// queue throughout; if it does not, sessions cycle, which the bound
	// must survive too.
	h.opts.Kafka.Timeout = 20 * time.Second
	// Random bytes do not compress; do not spend the test's time trying.
	h.opts.Kafka.Client = append(h.opts.Kafka.Client, kgo.ProducerBatchCompression(kgo.NoCompression()))
	h.serve("")
	e := openEdge(t, "plant-kmem")
	// Stored uncompressed, of random bytes: what the edge stores is what
	// every hop carries, and the test spends no time compressing.
	const stream = "bulk"
	if err := e.sp.EnsureStream(spool.StreamConfig{Name: stream, Partitions: 2, MaxBytes: 1 << 30, Uncompressed: true}); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	e.forward(forwarder.Options{Addr: h.addr, TLS: clientTLS(t, ca, "plant-kmem"), Streams: []string{stream},
		Window: 1 << 20, WindowBytes: 1 << 30, Registerer: reg})

	pool := make([]byte, 4<<20)
	if _, err := rand.Read(pool); err != nil {
		t.Fatal(err)
	}
	var at uint64
	store := func(bytes int) {
		t.Helper()
		recs := make([]spool.Record, perAppend)
		for n := 0; n < bytes; n += perAppend * recordSize {
			buf := make([]byte, 0, perAppend*recordSize)
			e.mu.Lock()
			for i := range recs {
				k := keys[i%len(keys)]
				at = at*6364136223846793005 + 1442695040888963407 // an LCG: any offset will do
				off := int(at>>33) % (len(pool) - recordSize)
				buf = binary.BigEndian.AppendUint64(append(buf, pool[off:off+recordSize-8]...), uint64(e.seq[k]))
				e.seq[k]++
				recs[i] = spool.Record{Key: []byte(k), Value: buf[len(buf)-recordSize:], Time: time.Now()}
			}
			e.mu.Unlock()
			if _, err := e.sp.Append(context.Background(), stream, recs...); err != nil {
				t.Fatalf("the edge stopped storing: %v", err)
			}
		}
	}
	store(2 << 20)
	e.acked(stream, 2)
	base, sentBase := liveHeap(), sentBytes(t, reg)

	held, release := stallKafka(t, kc)

	type sample struct {
		heap, sent float64 // MiB: over the start, and sent since it
		acked      uint64
	}
	var ss []sample
	const steps = 6
	for i := range steps {
		store(total / steps)
		s := sample{float64(int64(liveHeap())-int64(base)) / (1 << 20), (sentBytes(t, reg) - sentBase) / (1 << 20), acked(e, stream, 2)}
		ss = append(ss, s)
		t.Logf("stored %2d MiB: heap %+5.1f MiB; sent %4.1f MiB; acked %d records; Kafka requests held %d",
			(i+1)*total/steps>>20, s.heap, s.sent, s.acked, held.Load())
	}
	if held.Load() == 0 {
		t.Fatal("no request to Kafka was held: the stall did not happen")
	}
	// What the hub may hold, from its options: its queue of writes
	// (PipelineBytes, and the batch in hand and its chunks, three
	// MaxTxnBytes; twice, decoded and as Kafka records), the Kafka
	// client's buffer twice (as records, and encoded in
	// requests Kafka holds), and gRPC's largest flow-control window (the
	// limit of its BDP estimator), with some slack.
	const (
		grpcWindow  = 16 << 20
		clientBytes = 4*maxTxn + 1<<20 + 1<<20 // MaxBufferedBytes at MaxRecordBytes' default
		slack       = 8 << 20
	)
	bound := float64((queueBytes+3*maxTxn)*2+2*clientBytes+grpcWindow+slack) / (1 << 20)
	sentBound := float64(queueBytes+3*(maxTxn+64<<10)+grpcWindow) / (1 << 20)
	last, mid := ss[steps-1], ss[steps/2-1]
	// Growth from the lowest reading: what an earlier test left may still
	// have been going away when the start was read.
	var peak, floor float64
	for i, s := range ss {
		peak, floor = max(peak, s.heap), min(floor, s.heap)
		if s.acked != ss[0].acked {
			t.Errorf("the hub acked while Kafka stalled: %d records acked after %d MiB stored, %d after %d MiB", ss[0].acked, total/steps>>20, s.acked, (i+1)*total/steps>>20)
		}
	}
	peak -= floor
	t.Logf("stored %d MiB while Kafka stalled; the hub took in %.1f MiB (bound %.1f); the heap, %.1f MiB at the start, grew by at most %.1f MiB (bound %.1f)",
		total>>20, last.sent, sentBound, float64(base)/(1<<20), peak, bound)
	if last.sent > sentBound {
		t.Errorf("the hub took in %.1f MiB while Kafka stalled, more than its options allow (%.1f MiB)", last.sent, sentBound)
	}
	if peak > bound {
		t.Errorf("the heap grew by %.1f MiB while Kafka stalled, more than the hub's options allow (%.1f MiB)", peak, bound)
	}
	// Over the second half, the heap follows what the hub took in (each
	// byte at most thrice: decoded, as a Kafka record, in a request), not
	// the 24 MiB the edge stored.
	if grew := last.heap - mid.heap; grew > 3*(last.sent-mid.sent)+4 {
		t.Errorf("over the second half the heap grew by %.1f MiB while the hub took in %.1f MiB", grew, last.sent-mid.sent)
	}

	release()
	e.acked(stream, 2)
	var n int
	for _, c := range wantAll(e) {
		n += c
	}
	kafkaExactlyOnce(t, kafkaRecords(t, kc, stream, n), "plant-kmem", wantAll(e))
}
