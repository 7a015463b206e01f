package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
	"github.com/tributary-io/tributary/gateway"
	"github.com/tributary-io/tributary/gateway/config"
	"github.com/tributary-io/tributary/spool"
)

// prefill writes to the spool of cfg's data dir before the node starts.
// Streams made here stay in the spool though the config does not list them,
// and the node serves them.
func prefill(t *testing.T, cfg config.Config, fn func(sp *spool.Spool)) {
	t.Helper()
	sp, err := spool.Open(filepath.Join(cfg.DataDir, gateway.SpoolDir), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	fn(sp)
}

func ensureStream(t *testing.T, sp *spool.Spool, cfg spool.StreamConfig) {
	t.Helper()
	if err := sp.EnsureStream(cfg); err != nil {
		t.Fatal(err)
	}
}

func commit(t *testing.T, sp *spool.Spool, txn *spool.Txn) {
	t.Helper()
	if _, err := sp.Commit(context.Background(), txn); err != nil {
		t.Fatal(err)
	}
}

func at(sec int) time.Time { return time.Date(2026, 11, 29, 10, 0, sec, 0, time.UTC) }

// meter is record i of the "s" stream: a JSON value, a key, a header, and
// a time i seconds after at(0). Odd ones have binary values.
func meter(i int) spool.Record {
	v := fmt.Appendf(nil, `{"seq":%d,"v":12345678901234567890}`, i)
	if i%2 == 1 {
		v = []byte{0xff, byte(i), 0}
	}
	return spool.Record{Key: []byte("meter-1"), Value: v, Time: at(i), Headers: []spool.Header{{Key: "unit", Value: []byte("V")}}}
}

// hubWithStream starts a hub whose spool holds stream "s", 2 partitions,
// with records 0..9 in partition 0 (two commits: two batches).
func hubWithStream(t *testing.T) *gateway.Node {
	t.Helper()
	cfg := config.Default(config.RoleHub)
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.HTTP.Listen, cfg.GRPC.Listen = "127.0.0.1:0", "127.0.0.1:0"
	prefill(t, cfg, func(sp *spool.Spool) {
		ensureStream(t, sp, spool.StreamConfig{Name: "s", Partitions: 2, MaxBytes: 64 << 20})
		for _, r := range [][2]int{{0, 6}, {6, 10}} {
			var recs []spool.Record
			for i := r[0]; i < r[1]; i++ {
				recs = append(recs, meter(i))
			}
			commit(t, sp, new(spool.Txn).AppendTo("s", 0, recs...))
		}
	})
	return startNode(t, cfg)
}

func offsets(recs []*tributaryv1.StoredRecord) []uint64 {
	var out []uint64
	for _, r := range recs {
		out = append(out, r.GetOffset())
	}
	return out
}

func u64(v uint64) *uint64 { return &v }

// Reading works on a hub as on an edge: by offset, by time, within the
// record and byte caps, and each answer says where to go on.
func TestReadByOffsetAndTime(t *testing.T) {
	n := hubWithStream(t)
	client := tributaryv1.NewStreamServiceClient(dial(t, n))
	ctx := t.Context()

	list, err := client.ListStreams(ctx, &tributaryv1.ListStreamsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var s *tributaryv1.StreamInfo
	for _, si := range list.GetStreams() {
		if si.GetName() == "s" {
			s = si
		}
	}
	if s == nil || len(s.GetPartitions()) != 2 || s.GetPartitions()[0].GetNextOffset() != 10 || s.GetPartitions()[1].GetNextOffset() != 0 ||
		s.GetBytes() <= 0 || s.GetBytes() != s.GetPartitions()[0].GetBytes() {
		t.Fatalf("ListStreams = %v", list)
	}

	size := spool.RecordSize(&[]spool.Record{meter(2)}[0]) // records 2 and 4 are the same size
	for _, c := range []struct {
		name  string
		req   *tributaryv1.ReadRequest
		want  []uint64
		first uint64
	}{
		{"everything", &tributaryv1.ReadRequest{}, []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 0},
		{"from an offset, across batches", &tributaryv1.ReadRequest{FromOffset: u64(4), MaxRecords: 3}, []uint64{4, 5, 6}, 4},
		{"max_bytes: the first record always", &tributaryv1.ReadRequest{FromOffset: u64(2), MaxBytes: 1}, []uint64{2}, 2},
		{"max_bytes: as many as fit", &tributaryv1.ReadRequest{FromOffset: u64(2), MaxBytes: uint32(3 * size)}, []uint64{2, 3, 4}, 2},
		{"max_records above the cap", &tributaryv1.ReadRequest{FromOffset: u64(8), MaxRecords: 1 << 30}, []uint64{8, 9}, 8},
		{"from a time", &tributaryv1.ReadRequest{FromTime: timestamppb.New(at(7)), MaxRecords: 2}, []uint64{7, 8}, 7},
		{"from a time between records", &tributaryv1.ReadRequest{FromTime: timestamppb.New(at(4).Add(time.Millisecond))}, []uint64{5, 6, 7, 8, 9}, 5},
		{"from a time after all", &tributaryv1.ReadRequest{FromTime: timestamppb.New(at(60))}, nil, 10},
		{"at the end", &tributaryv1.ReadRequest{FromOffset: u64(10)}, nil, 10},
	} {
		c.req.Stream = "s"
		resp, err := client.Read(ctx, c.req)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		got := offsets(resp.GetRecords())
		wantNext := c.first
		if len(c.want) > 0 {
			wantNext = c.want[len(c.want)-1] + 1
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) || resp.GetFirstOffset() != c.first || resp.GetNextOffset() != wantNext ||
			resp.GetEndOffset() != 10 || resp.GetFromOffsetExpired() || len(resp.GetGaps()) != 0 {
			t.Errorf("%s: offsets %v first %d next %d end %d; want %v first %d next %d end 10", c.name, got,
				resp.GetFirstOffset(), resp.GetNextOffset(), resp.GetEndOffset(), c.want, c.first, wantNext)
		}
	}

	// A record comes back as stored.
	resp, err := client.Read(ctx, &tributaryv1.ReadRequest{Stream: "s", FromOffset: u64(3), MaxRecords: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := &tributaryv1.StoredRecord{Offset: 3, Key: "meter-1", Value: meter(3).Value, Time: timestamppb.New(at(3)), Headers: map[string]string{"unit": "V"}}
	if !proto.Equal(resp.GetRecords()[0], want) {
		t.Errorf("record 3 = %v, want %v", resp.GetRecords()[0], want)
	}
	// The empty partition.
	resp, err = client.Read(ctx, &tributaryv1.ReadRequest{Stream: "s", Partition: 1})
	if err != nil || len(resp.GetRecords()) != 0 || resp.GetNextOffset() != 0 || resp.GetEndOffset() != 0 {
		t.Errorf("empty partition = %v, %v", resp, err)
	}
}

func TestReadErrors(t *testing.T) {
	n := hubWithStream(t)
	client := tributaryv1.NewStreamServiceClient(dial(t, n))
	for _, c := range []struct {
		req  *tributaryv1.ReadRequest
		code codes.Code
		msg  string
	}{
		{&tributaryv1.ReadRequest{Stream: "ghost"}, codes.NotFound, `stream "ghost" does not exist`},
		{&tributaryv1.ReadRequest{}, codes.InvalidArgument, "stream: missing"},
		{&tributaryv1.ReadRequest{Stream: "s", Partition: 2}, codes.InvalidArgument, `partition: stream "s" has partitions 0 to 1, got 2`},
		{&tributaryv1.ReadRequest{Stream: "s", Partition: -1}, codes.InvalidArgument, "partition: "},
		{&tributaryv1.ReadRequest{Stream: "s", FromOffset: u64(0), FromTime: timestamppb.New(at(0))}, codes.InvalidArgument, "from_time: give from_offset or from_time, not both"},
		{&tributaryv1.ReadRequest{Stream: "s", FromOffset: u64(11)}, codes.OutOfRange, "from_offset: 11 is past partition 0's next offset 10"},
		{&tributaryv1.ReadRequest{Stream: "s", Wait: durationpb.New(-time.Second)}, codes.InvalidArgument, "wait: "},
		{&tributaryv1.ReadRequest{Stream: "s", FromTime: &timestamppb.Timestamp{Seconds: 1 << 50}}, codes.InvalidArgument, "from_time: "},
	} {
		_, err := client.Read(t.Context(), c.req)
		if status.Code(err) != c.code || !strings.Contains(status.Convert(err).Message(), c.msg) {
			t.Errorf("Read(%v) = %v; want %v with %q", c.req, err, c.code, c.msg)
		}
	}
}

// Over REST: JSON values are shown as JSON, others as base64, and errors
// have their HTTP status.
func TestReadOverREST(t *testing.T) {
	n := hubWithStream(t)
	base := "http://" + n.HTTPAddr().String()

	code, body := get(t, base+"/v1/streams")
	if code != 200 || !strings.Contains(body, `"name":"s"`) || !strings.Contains(body, `"nextOffset":"10"`) {
		t.Fatalf("GET /v1/streams = %d %s", code, body)
	}

	code, body = get(t, base+"/v1/streams/s/partitions/0/records?from_offset=2&max_records=2&wait=10ms")
	if code != 200 {
		t.Fatalf("GET records = %d %s", code, body)
	}
	var resp struct {
		Records []struct {
			Offset  string            `json:"offset"`
			Key     string            `json:"key"`
			Value   json.RawMessage   `json:"value"`
			Time    string            `json:"time"`
			Headers map[string]string `json:"headers"`
		} `json:"records"`
		NextOffset  string `json:"nextOffset"`
		FirstOffset string `json:"firstOffset"`
		EndOffset   string `json:"endOffset"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if len(resp.Records) != 2 || resp.NextOffset != "4" || resp.FirstOffset != "2" || resp.EndOffset != "10" {
		t.Fatalf("answer = %s", body)
	}
	r := resp.Records[0]
	if r.Offset != "2" || r.Key != "meter-1" || string(r.Value) != `{"seq":2,"v":12345678901234567890}` ||
		r.Time != "2026-11-29T10:00:02Z" || r.Headers["unit"] != "V" {
		t.Errorf("record 2 = %+v: the JSON value should be kept verbatim", r)
	}
	if string(resp.Records[1].Value) != `"/wMA"` {
		t.Errorf("record 3's binary value = %s, want base64", resp.Records[1].Value)
	}

	from := url.QueryEscape(at(8).Format(time.RFC3339))
	if code, body := get(t, base+"/v1/streams/s/partitions/0/records?from_time="+from); code != 200 || !strings.Contains(body, `"firstOffset":"8"`) {
		t.Errorf("from_time = %d %s", code, body)
	}

	for path, want := range map[string]struct {
		code int
		msg  string
	}{
		"/v1/streams/ghost/partitions/0/records":                                     {404, `stream \"ghost\" does not exist`},
		"/v1/streams/s/partitions/7/records":                                         {400, "partition: "},
		"/v1/streams/s/partitions/x/records":                                         {400, "partition"},
		"/v1/streams/s/partitions/0/records?from_offset=1&from_time=" + from:         {400, "not both"},
		"/v1/streams/s/partitions/0/records?from_offset=99":                          {400, "past partition 0's next offset"},
		"/v1/streams/s/partitions/0/records?wait=forever":                            {400, "wait"},
		"/v1/streams/s/partitions/0/records?from_time=yesterday":                     {400, "from_time"},
		"/v1/streams/s/partitions/0/records?max_records=-1":                          {400, "max_records"},
		"/v1/streams/s/partitions/0/records?from_offset=0&from_offset=1&max_bytes=1": {400, "from_offset"},
	} {
		if code, body := get(t, base+path); code != want.code || !strings.Contains(body, want.msg) {
			t.Errorf("GET %s = %d %s; want %d with %q", path, code, body, want.code, want.msg)
		}
	}
}

// A long-poll answers as soon as a record arrives, and with nothing when
// none does within the wait.
func TestReadLongPoll(t *testing.T) {
	n := startNode(t, anonymousConfig(t)) // "telemetry": ingest over gRPC
	conn := dial(t, n)
	client := tributaryv1.NewStreamServiceClient(conn)
	list, err := client.ListStreams(t.Context(), &tributaryv1.ListStreamsRequest{})
	if err != nil || len(list.GetStreams()) != 1 {
		t.Fatalf("ListStreams = %v, %v", list, err)
	}
	parts := len(list.GetStreams()[0].GetPartitions())

	resp, err := client.Read(t.Context(), &tributaryv1.ReadRequest{Stream: "telemetry", Wait: durationpb.New(50 * time.Millisecond)})
	if err != nil || len(resp.GetRecords()) != 0 || resp.GetNextOffset() != 0 {
		t.Fatalf("a wait with nothing arriving = %v, %v; want an empty answer", resp, err)
	}

	// One long-poll on every partition: the record goes to one of them.
	type answer struct {
		resp *tributaryv1.ReadResponse
		err  error
	}
	answers := make(chan answer, parts)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	for p := range parts {
		go func() {
			resp, err := client.Read(ctx, &tributaryv1.ReadRequest{Stream: "telemetry", Partition: int32(p), FromOffset: u64(0), Wait: durationpb.New(time.Minute)})
			answers <- answer{resp, err}
		}()
	}
	_, err = tributaryv1.NewIngestServiceClient(conn).Append(t.Context(), &tributaryv1.AppendRequest{Stream: "telemetry",
		Records: []*tributaryv1.Record{{Key: "meter-9", Value: []byte(`{"v":1}`)}}})
	if err != nil {
		t.Fatal(err)
	}
	a := <-answers // the test's own deadline bounds this
	if a.err != nil || len(a.resp.GetRecords()) != 1 || a.resp.GetRecords()[0].GetKey() != "meter-9" || a.resp.GetNextOffset() != 1 {
		t.Fatalf("long-poll answered %v, %v; want the record appended while it waited", a.resp, a.err)
	}
	cancel()
	for range parts - 1 {
		if a := <-answers; status.Code(a.err) != codes.Canceled {
			t.Errorf("a cancelled long-poll = %v, %v", a.resp, a.err)
		}
	}
}

// Shutdown does not wait for long-polls to run out: they answer at once.
func TestShutdownEndsLongPolls(t *testing.T) {
	n, err := gateway.New(testConfig(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	client := tributaryv1.NewStreamServiceClient(dial(t, n))
	done := make(chan error, 1)
	go func() {
		_, err := client.Read(context.Background(), &tributaryv1.ReadRequest{Stream: "telemetry", Wait: durationpb.New(time.Minute)})
		done <- err
	}()
	time.Sleep(100 * time.Millisecond) // most often the read is waiting by now; if not, it is refused, which is fine too
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v; a long-poll held up the drain", err)
	}
	if err := <-done; err != nil && status.Code(err) != codes.Unavailable {
		t.Errorf("the long-poll ended with %v", err)
	}
}

// Records that retention deleted are reported, not skipped silently; so are
// records dropped by drop_oldest (a gap).
func TestReadReportsExpiredOffsetsAndGaps(t *testing.T) {
	cfg := config.Default(config.RoleHub)
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.HTTP.Listen, cfg.GRPC.Listen = "127.0.0.1:0", "127.0.0.1:0"
	value := bytes.Repeat([]byte("x"), 1000)
	prefill(t, cfg, func(sp *spool.Spool) {
		// "r" frees its oldest records (no cursor protects them); "d"
		// drops them, because a cursor protects them, and leaves a gap.
		ensureStream(t, sp, spool.StreamConfig{Name: "r", Partitions: 1, MaxBytes: 16 << 10, Uncompressed: true})
		ensureStream(t, sp, spool.StreamConfig{Name: "d", Partitions: 1, MaxBytes: 16 << 10, Uncompressed: true, Full: spool.DropOldest})
		commit(t, sp, new(spool.Txn).SetCursor("fwd", "d", 0, 0, true))
		for i := range 100 {
			rec := spool.Record{Value: value, Time: at(i)}
			commit(t, sp, new(spool.Txn).AppendTo("r", 0, rec).AppendTo("d", 0, rec))
		}
	})
	n := startNode(t, cfg)
	client := tributaryv1.NewStreamServiceClient(dial(t, n))

	resp, err := client.Read(t.Context(), &tributaryv1.ReadRequest{Stream: "r", FromOffset: u64(0)})
	if err != nil {
		t.Fatal(err)
	}
	first := resp.GetFirstOffset()
	if !resp.GetFromOffsetExpired() || first == 0 || len(resp.GetRecords()) == 0 || resp.GetRecords()[0].GetOffset() != first {
		t.Fatalf("reading freed offsets: expired %v, first %d, records from %v", resp.GetFromOffsetExpired(), first, offsets(resp.GetRecords()))
	}
	resp, err = client.Read(t.Context(), &tributaryv1.ReadRequest{Stream: "r", FromOffset: u64(first)})
	if err != nil || resp.GetFromOffsetExpired() {
		t.Fatalf("reading from the start = %v, %v", resp.GetFromOffsetExpired(), err)
	}

	resp, err = client.Read(t.Context(), &tributaryv1.ReadRequest{Stream: "d"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetGaps()) != 1 {
		t.Fatalf("gaps = %v, want one", resp.GetGaps())
	}
	g := resp.GetGaps()[0]
	if g.GetFromOffset() != 0 || g.GetCount() != g.GetToOffset() || g.GetReason() != spool.ReasonMaxBytes ||
		!g.GetMinTime().AsTime().Equal(at(0)) || resp.GetRecords()[0].GetOffset() != g.GetToOffset() ||
		uint64(len(resp.GetRecords()))+g.GetCount() != 100 {
		t.Errorf("gap %v, then records %v", g, offsets(resp.GetRecords()))
	}
	// The gap counts against max_records like a record.
	resp, err = client.Read(t.Context(), &tributaryv1.ReadRequest{Stream: "d", MaxRecords: 1})
	if err != nil || len(resp.GetGaps()) != 1 || len(resp.GetRecords()) != 0 || resp.GetNextOffset() != g.GetToOffset() {
		t.Errorf("max_records 1 = %v, %v; want the gap alone", resp, err)
	}
}

// A damaged batch is DATA_LOSS naming its offsets; what comes before it is
// still read.
func TestReadDamagedBatch(t *testing.T) {
	cfg := config.Default(config.RoleHub)
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.HTTP.Listen, cfg.GRPC.Listen = "127.0.0.1:0", "127.0.0.1:0"
	prefill(t, cfg, func(sp *spool.Spool) {
		ensureStream(t, sp, spool.StreamConfig{Name: "s", Partitions: 1, MaxBytes: 64 << 20, Uncompressed: true})
		for b := range 3 {
			var recs []spool.Record
			for i := range 5 {
				recs = append(recs, spool.Record{Value: fmt.Appendf(nil, "marker-%d-%d", b, i), Time: at(i)})
			}
			commit(t, sp, new(spool.Txn).AppendTo("s", 0, recs...))
		}
	})
	path := filepath.Join(cfg.DataDir, gateway.SpoolDir, spool.FileName)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Every copy: bbolt may keep stale ones in free pages.
	marker := []byte("marker-1-2")
	if bytes.Count(data, marker) == 0 {
		t.Fatal("marker not in the file")
	}
	data = bytes.ReplaceAll(data, marker, []byte("MARKER-1-2"))
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, cfg)
	client := tributaryv1.NewStreamServiceClient(dial(t, n))

	resp, err := client.Read(t.Context(), &tributaryv1.ReadRequest{Stream: "s"})
	if err != nil || fmt.Sprint(offsets(resp.GetRecords())) != "[0 1 2 3 4]" || resp.GetNextOffset() != 5 {
		t.Fatalf("read up to the damage = %v, %v; want offsets 0 to 4", resp, err)
	}
	_, err = client.Read(t.Context(), &tributaryv1.ReadRequest{Stream: "s", FromOffset: u64(5)})
	if status.Code(err) != codes.DataLoss || !strings.Contains(err.Error(), "offset 5") {
		t.Fatalf("reading the damaged batch = %v; want DATA_LOSS naming offset 5", err)
	}
	resp, err = client.Read(t.Context(), &tributaryv1.ReadRequest{Stream: "s", FromOffset: u64(10)})
	if err != nil || len(resp.GetRecords()) != 5 {
		t.Fatalf("after the damage = %v, %v; want the last batch", resp, err)
	}
	if code, body := get(t, "http://"+n.HTTPAddr().String()+"/v1/streams/s/partitions/0/records?from_offset=7"); code != 500 || !strings.Contains(body, "offset 5") {
		t.Errorf("REST read of the damaged batch = %d %s; want 500 naming offset 5", code, body)
	}
}
