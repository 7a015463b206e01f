package cluster

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-io/tributary/spool"
)

// kafkaSize must be exactly what franz-go fills a batch with and what a
// broker checks against max.message.bytes: a record of that size goes
// through at that limit and not at one byte less, whichever way it is
// checked. Otherwise a record the hub lets through could fail in the
// client or the broker with a vaguer error, or one that fits be refused.
func TestKafkaSizeIsKafkas(t *testing.T) {
	const topic = "telemetry"
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	admin, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...), kgo.DisableClientMetrics())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	adm := kadm.NewClient(admin)
	ks := &kafkaSession{site: "plant-1"}
	for _, tc := range []struct {
		name    string
		key     []byte
		value   int
		headers []spool.Header
		offset  uint64
	}{
		{"small", []byte("meter-1"), 600, nil, 0},
		{"no key", nil, 700, nil, 9},
		{"value length on the 2-byte varint edge", []byte("k"), 8191, nil, 123456},
		{"value length on the 3-byte varint edge", []byte("k"), 1<<20 - 200, nil, 1<<40 + 7},
		{"headers", bytes.Repeat([]byte("k"), 200), 5000, []spool.Header{
			{Key: "unit", Value: []byte("kW")}, {Key: "content-type", Value: bytes.Repeat([]byte("x"), 70)}, {Key: "empty"},
		}, 99},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &write{epoch: "e-1a2b3c", stream: "telemetry", partition: 3, target: topic, from: tc.offset,
				recs: []spool.Record{{Key: tc.key, Value: bytes.Repeat([]byte{7}, tc.value), Headers: tc.headers, Time: time.Now()}}}
			wh := ks.headers(w)
			size := kafkaSize(&w.recs[0], wh, tc.offset)
			produce := func(batchMax int, brokerMax int) error {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				v := strconv.Itoa(brokerMax)
				rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "max.message.bytes", Value: &v}}, topic)
				if err == nil {
					_, err = rs.On(topic, nil)
				}
				if err != nil {
					t.Fatalf("set max.message.bytes: %v", err)
				}
				cl, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...), kgo.ProducerBatchCompression(kgo.NoCompression()),
					kgo.ProducerBatchMaxBytes(int32(batchMax)), kgo.DisableClientMetrics())
				if err != nil {
					t.Fatal(err)
				}
				defer cl.Close()
				return cl.ProduceSync(ctx, ks.record(w, wh, 0)).FirstErr()
			}
			// franz-go's batch limit (plus the length before a batch in a
			// produce request, which Kafka does not count).
			if err := produce(size+4, 64<<20); err != nil {
				t.Fatalf("size %d, client limit %d: %v", size, size+4, err)
			}
			if err := produce(size+3, 64<<20); !errors.Is(err, kerr.MessageTooLarge) {
				t.Fatalf("size %d, client limit %d: %v, want MESSAGE_TOO_LARGE", size, size+3, err)
			}
			// The broker's.
			if err := produce(64<<20, size); err != nil {
				t.Fatalf("size %d, max.message.bytes %d: %v", size, size, err)
			}
			if err := produce(64<<20, size-1); !errors.Is(err, kerr.MessageTooLarge) {
				t.Fatalf("size %d, max.message.bytes %d: %v, want MESSAGE_TOO_LARGE", size, size-1, err)
			}
		})
	}
}

// A closed session accepts no write, even when its queue has room and the
// caller's context is done too (select picks at random among ready cases):
// a write queued after close would never have its done run, and the hub's
// pending budget would never get its bytes back.
func TestKafkaSessionClosedTakesNoWrite(t *testing.T) {
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	ks := &kafkaSession{cl: cl, queue: make(chan kwrite, 64), quit: make(chan struct{}), done: make(chan struct{})}
	close(ks.done) // as if run had returned
	ks.close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i := range 200 {
		c := ctx
		if i%2 == 0 {
			c = context.Background()
		}
		if err := ks.commit(c, &write{}, func(error) { t.Error("done ran for a write refused") }); err == nil {
			t.Fatalf("call %d: a closed session queued a write", i)
		}
	}
	if n := len(ks.queue); n != 0 {
		t.Fatalf("%d writes queued after close", n)
	}
}
