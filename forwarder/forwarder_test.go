package forwarder_test

import (
	"context"
	"fmt"
	"maps"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
	"github.com/tributary-io/tributary/forwarder"
	"github.com/tributary-io/tributary/internal/testcert"
	"github.com/tributary-io/tributary/internal/tokens"
	"github.com/tributary-io/tributary/spool"
)

const patience = 30 * time.Second

var keys = []string{"meter-1", "meter-2", "meter-3", "pmu-7", "vib-9"}

func wantAll(e *edge) map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.seq)
}

// Records stored before, during and after the forwarder runs, across a
// forwarder restart and a hub restart, reach the hub once each, in order.
func TestReplicatesExactlyOnceAcrossRestarts(t *testing.T) {
	ca := testcert.NewCA(t, "sites")
	h := startHub(t, ca, hubConfig{})
	e := openEdge(t, "plant-01")
	e.produce(hubStream, keys, 400) // a backlog before the first session
	e.forward(forwarder.Options{Addr: h.addr, TLS: clientTLS(t, ca, "plant-01")})
	e.produce(hubStream, keys, 400)
	waitFor(t, "the first 4000 records at the hub", patience, func() bool { return h.count(hubStream) == 4000 })

	e.halt()
	e.produce(hubStream, keys, 100)
	e.forward(forwarder.Options{Addr: h.addr, TLS: clientTLS(t, ca, "plant-01")})
	waitFor(t, "4500 records", patience, func() bool { return h.count(hubStream) == 4500 })

	h = h.restart()
	e.produce(hubStream, keys, 100)
	waitFor(t, "5000 records after a hub restart", patience, func() bool { return h.count(hubStream) == 5000 })
	exactlyOnce(t, h.records(hubStream), "plant-01", wantAll(e))

	// The hub's view of the site: its checkpoints equal the edge's heads.
	waitFor(t, "the site's lag to reach 0", patience, func() bool {
		r, err := h.srv.ListSites(context.Background(), &tributaryv1.ListSitesRequest{})
		if err != nil || len(r.GetSites()) != 1 {
			return false
		}
		var ckpt, head uint64
		for _, p := range r.GetSites()[0].GetPartitions() {
			if p.GetStream() == hubStream {
				ckpt += p.GetHubCheckpoint()
				head += p.GetEdgeHead()
			}
		}
		return ckpt == 5000 && head == 5000
	})
	// What the hub acked is what the edge's protecting cursors hold.
	waitFor(t, "the edge's cursors at the heads", patience, func() bool {
		var sum uint64
		for p := range 2 {
			c, ok, err := e.sp.Cursor(forwarder.CursorName, hubStream, p)
			if err != nil || !ok || !c.Protect {
				return false
			}
			sum += c.Offset
		}
		return sum == 5000
	})
}

// rawSession opens a replication stream by hand, to send what a correct
// forwarder never would.
type rawSession struct {
	t      *testing.T
	stream tributaryv1.ReplicationService_ReplicateClient
	cancel context.CancelFunc
}

func openRaw(t *testing.T, h *hub, tlsSite, helloSite, token string, offers map[string]uint32) (*rawSession, *tributaryv1.Welcome, error) {
	t.Helper()
	conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(credentials.NewTLS(clientTLS(t, h.ca, tlsSite))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	st, err := tributaryv1.NewReplicationServiceClient(conn).Replicate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hello := &tributaryv1.Hello{Site: helloSite, Epoch: "e1", Version: "test"}
	for s, n := range offers {
		hello.Streams = append(hello.Streams, &tributaryv1.StreamOffer{Stream: s, Partitions: n})
	}
	// A hub that refuses at once may have ended the stream before the Hello
	// is sent: Send then says io.EOF, and Recv has the status.
	_ = st.Send(&tributaryv1.ReplicateRequest{Msg: &tributaryv1.ReplicateRequest_Hello{Hello: hello}})
	resp, err := st.Recv()
	if err != nil {
		return nil, nil, err
	}
	return &rawSession{t: t, stream: st, cancel: cancel}, resp.GetWelcome(), nil
}

// batch sends records [base, base+n) of key k; values hold their offsets.
func (r *rawSession) batch(base uint64, n int) {
	r.t.Helper()
	recs := make([]spool.Record, n)
	for i := range recs {
		off := base + uint64(i)
		recs[i] = spool.Record{Key: []byte("k"), Value: []byte{byte(off >> 8), byte(off)}, Time: time.Unix(1, 0)}
	}
	data, err := spool.AppendBatch(nil, base, spool.CodecZstd, recs)
	if err != nil {
		r.t.Fatal(err)
	}
	b := &tributaryv1.Batch{Stream: hubStream, Partition: 0, BaseOffset: base, Count: uint32(n), Data: data}
	if err := r.stream.Send(&tributaryv1.ReplicateRequest{Msg: &tributaryv1.ReplicateRequest_Batch{Batch: b}}); err != nil {
		r.t.Fatalf("send: %v", err)
	}
}

func (r *rawSession) ack() (uint64, error) {
	resp, err := r.stream.Recv()
	if err != nil {
		return 0, err
	}
	return resp.GetAck().GetOffset(), nil
}

func (r *rawSession) wantAck(off uint64) {
	r.t.Helper()
	got, err := r.ack()
	if err != nil || got != off {
		r.t.Fatalf("ack: got %d, %v; want %d", got, err, off)
	}
}

func wantCode(t *testing.T, err error, code codes.Code, text string) {
	t.Helper()
	if status.Code(err) != code || !strings.Contains(status.Convert(err).Message(), text) {
		t.Fatalf("got %v, want %s with %q", err, code, text)
	}
}

// Replayed and overlapping batches are trimmed; a hole is refused; the
// hub's records are then offsets 0..24 exactly once.
func TestHubTrimsReplaysAndRefusesHoles(t *testing.T) {
	ca := testcert.NewCA(t, "sites")
	h := startHub(t, ca, hubConfig{})
	r, w, err := openRaw(t, h, "site-a", "site-a", "", map[string]uint32{hubStream: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(w.GetResume()) != 1 || w.GetResume()[0].GetOffset() != 0 {
		t.Fatalf("welcome: %v", w)
	}
	r.batch(0, 10)
	r.wantAck(10)
	r.batch(0, 10) // a replay
	r.wantAck(10)
	r.batch(5, 10) // overlaps: 5..9 are there
	r.wantAck(15)
	r.batch(15, 10)
	r.wantAck(25)
	r.batch(30, 5) // a hole: 25..29 never came
	_, err = r.ack()
	wantCode(t, err, codes.FailedPrecondition, "checkpoint is 25")

	// A new session resumes at 25.
	_, w, err = openRaw(t, h, "site-a", "site-a", "", map[string]uint32{hubStream: 1})
	if err != nil || w.GetResume()[0].GetOffset() != 25 {
		t.Fatalf("resume after the hole: %v, %v", w, err)
	}
	var got []int
	for _, recs := range h.records(hubStream) {
		for _, rec := range recs {
			got = append(got, int(rec.Value[0])<<8|int(rec.Value[1]))
		}
	}
	if len(got) != 25 {
		t.Fatalf("hub holds %d records, want 25: %v", len(got), got)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("hub record %d is offset %d: %v", i, v, got)
		}
	}
}

// A second session of a site fences the first: the first cannot commit.
func TestNewSessionFencesOld(t *testing.T) {
	ca := testcert.NewCA(t, "sites")
	h := startHub(t, ca, hubConfig{})
	old, _, err := openRaw(t, h, "site-a", "site-a", "", map[string]uint32{hubStream: 1})
	if err != nil {
		t.Fatal(err)
	}
	old.batch(0, 5)
	old.wantAck(5)
	cur, w, err := openRaw(t, h, "site-a", "site-a", "", map[string]uint32{hubStream: 1})
	if err != nil || w.GetResume()[0].GetOffset() != 5 {
		t.Fatalf("second session: %v, %v", w, err)
	}
	_, err = old.ack()
	wantCode(t, err, codes.Aborted, "fenced")
	cur.batch(5, 5)
	cur.wantAck(10)
	if n := h.count(hubStream); n != 10 {
		t.Fatalf("hub holds %d records, want 10", n)
	}
}

// Wrong credentials are refused, a site cannot write as another, and a
// forwarder with a wrong token backs off and says why.
func TestSitesAuthenticate(t *testing.T) {
	ca := testcert.NewCA(t, "sites")
	tok, err := tokens.New()
	if err != nil {
		t.Fatal(err)
	}
	line, err := tokens.Line("site-t", tok, []string{hubStream})
	if err != nil {
		t.Fatal(err)
	}
	ts, err := tokens.Parse("sites.tokens", []byte(line+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	h := startHub(t, ca, hubConfig{tokens: ts})
	offer := map[string]uint32{hubStream: 1}

	_, _, err = openRaw(t, h, "", "site-a", "", offer)
	wantCode(t, err, codes.Unauthenticated, "certificate or a bearer token")
	_, _, err = openRaw(t, h, "", "site-t", "trb_wrong", offer)
	wantCode(t, err, codes.Unauthenticated, "unknown site token")
	_, _, err = openRaw(t, h, "site-a", "site-b", "", offer)
	wantCode(t, err, codes.PermissionDenied, `site "site-a"`)
	_, _, err = openRaw(t, h, "", "site-x", tok, offer)
	wantCode(t, err, codes.PermissionDenied, `site "site-t"`)
	// The token's streams limit what the site may send.
	_, w, err := openRaw(t, h, "", "site-t", tok, map[string]uint32{hubStream: 1, "alarms": 1})
	if err != nil || len(w.GetResume()) != 1 || len(w.GetRefused()) != 1 || w.GetRefused()[0].GetStream() != "alarms" {
		t.Fatalf("token session: %v, %v", w, err)
	}
	// A certificate from another CA does not get through the handshake.
	other := testcert.NewCA(t, "other")
	e := openEdge(t, "site-a")
	cfg := clientTLS(t, other, "site-a")
	cfg.RootCAs = ca.Pool()
	e.forward(forwarder.Options{Addr: h.addr, TLS: cfg, FatalBackoff: time.Hour})
	waitFor(t, "the forwarder to report its refusal", patience, func() bool {
		st := e.fwd.Status()
		return st.Failures > 0 && !st.Connected
	})
	e.halt()
	e.forward(forwarder.Options{Addr: h.addr, TLS: clientTLS(t, ca, ""), Token: "trb_wrong", FatalBackoff: time.Hour})
	waitFor(t, "a fatal status for a wrong token", patience, func() bool {
		st := e.fwd.Status()
		return st.Fatal && strings.Contains(st.LastError, "unknown site token")
	})
	time.Sleep(300 * time.Millisecond)
	if st := e.fwd.Status(); st.Failures != 1 {
		t.Fatalf("a wrong token was retried %d times within 300 ms; want one attempt and a long backoff", st.Failures)
	}
}

// With the first hub address dead, the forwarder moves on to an alternate.
func TestAlternateHub(t *testing.T) {
	ca := testcert.NewCA(t, "sites")
	h := startHub(t, ca, hubConfig{})
	e := openEdge(t, "plant-03")
	e.produce(hubStream, keys, 10)
	e.forward(forwarder.Options{Addr: "127.0.0.1:1", Alternates: []string{h.addr}, TLS: clientTLS(t, ca, "plant-03")})
	waitFor(t, "the records at the alternate hub", patience, func() bool { return h.count(hubStream) == 50 })
	if st := e.fwd.Status(); st.Hub != h.addr {
		t.Fatalf("status names hub %q, want %q", st.Hub, h.addr)
	}
	exactlyOnce(t, h.records(hubStream), "plant-03", wantAll(e))
}

// endingHub welcomes a session at offset 0, takes a few batches without
// acking them, and ends the session with an error, again and again.
type endingHub struct {
	tributaryv1.UnimplementedReplicationServiceServer
	after int
	ended atomic.Int32
}

func (h *endingHub) Replicate(st tributaryv1.ReplicationService_ReplicateServer) error {
	req, err := st.Recv()
	if err != nil {
		return err
	}
	w := &tributaryv1.Welcome{Session: uint64(h.ended.Load()) + 1}
	for _, o := range req.GetHello().GetStreams() {
		for p := range o.GetPartitions() {
			w.Resume = append(w.Resume, &tributaryv1.PartitionOffset{Stream: o.GetStream(), Partition: p})
		}
	}
	if err := st.Send(&tributaryv1.ReplicateResponse{Msg: &tributaryv1.ReplicateResponse_Welcome{Welcome: w}}); err != nil {
		return err
	}
	for n := 0; n < h.after; {
		req, err := st.Recv()
		if err != nil {
			return err
		}
		if req.GetBatch() != nil {
			n++
		}
	}
	h.ended.Add(1)
	return status.Error(codes.Unavailable, "hub going away")
}

// A hub that ends the stream while the forwarder is sending: the forwarder
// reports the hub's reason and reconnects. (It used to call Recv from the
// sender too, beside the receiver's Recv; gRPC forbids that, the race
// detector flagged it, and it could hang the session.)
func TestHubEndsStreamMidSend(t *testing.T) {
	h := &endingHub{after: 5}
	gs := grpc.NewServer()
	tributaryv1.RegisterReplicationServiceServer(gs, h)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = gs.Serve(ln)
	}()
	defer func() { gs.Stop(); <-served }()

	e := openEdge(t, "site-a")
	for i := range 200 { // one batch each, so the sender has many to send
		if _, err := e.sp.Append(context.Background(), hubStream, spool.Record{Key: []byte{byte(i)}, Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	e.forward(forwarder.Options{Addr: ln.Addr().String(), Window: 1000, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	waitFor(t, "the hub to end 30 sessions", patience, func() bool { return h.ended.Load() >= 30 })
	st := e.fwd.Status()
	e.halt()
	if !strings.Contains(st.LastError, "hub going away") {
		t.Fatalf("last error %q; want the hub's reason", st.LastError)
	}
}

// manyStreams offers n streams of one partition each.
func manyStreams(n int) map[string]uint32 {
	m := make(map[string]uint32, n)
	for i := range n {
		m[fmt.Sprintf("s%d", i)] = 1
	}
	return m
}

// A Hello with a bad stream name, a stream twice, more streams or more
// partitions than a hub takes is refused, before anything is read or
// stored.
func TestHubRefusesBadHellos(t *testing.T) {
	ca := testcert.NewCA(t, "sites")
	h := startHub(t, ca, hubConfig{})
	for _, tc := range []struct {
		offers map[string]uint32
		want   string
	}{
		{map[string]uint32{"../x": 1}, "want 1 to 128"},
		{map[string]uint32{hubStream: 1024, "alarms": 1024, "a1": 1024, "a2": 1024, "a3": 1024, "a4": 1024, "a5": 1024, "a6": 1024,
			"a7": 1024, "a8": 1024, "a9": 1024, "b1": 1024, "b2": 1024, "b3": 1024, "b4": 1024, "b5": 1024, "b6": 1024}, "more than 16384 partitions"},
		{manyStreams(1025), "1025 streams offered, at most 1024"},
	} {
		_, _, err := openRaw(t, h, "site-a", "site-a", "", tc.offers)
		wantCode(t, err, codes.InvalidArgument, tc.want)
	}
}
