package firmwaresim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
)

// fakeHub serves StreamService (and SiteService) from hand-made
// partitions over a real loopback gRPC connection, with the Read
// semantics of stream.proto: pages of at most max_records records and
// gaps, next_offset, first_offset, from_offset_expired and end_offset.
type fakeHub struct {
	tributaryv1.UnimplementedStreamServiceServer
	tributaryv1.UnimplementedSiteServiceServer

	mu      sync.Mutex
	streams map[string][]*fakePart
	reads   int
	sites   []*tributaryv1.Site // nil: SiteService answers UNIMPLEMENTED
}

type fakePart struct {
	start, next uint64
	recs        []*tributaryv1.StoredRecord
	gaps        []*tributaryv1.Gap
}

func newFakeHub(streams map[string]int) *fakeHub {
	h := &fakeHub{streams: map[string][]*fakePart{}}
	for s, n := range streams {
		for range n {
			h.streams[s] = append(h.streams[s], &fakePart{})
		}
	}
	return h
}

// put appends a simulator message of device at site ("" for no header).
func (h *fakeHub) put(stream string, part int, site, device string, seqs ...uint64) {
	for _, seq := range seqs {
		h.putValue(stream, part, site, fmt.Sprintf(`{"device":%q,"seq":%d,"profile":"meter","values":{"v":1}}`, device, seq))
	}
}

func (h *fakeHub) putValue(stream string, part int, site, value string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.streams[stream][part]
	r := &tributaryv1.StoredRecord{Offset: p.next, Key: "k", Value: []byte(value)}
	if site != "" {
		r.Headers = map[string]string{HeaderSite: site, "topic": "t"}
	}
	p.recs = append(p.recs, r)
	p.next++
}

// gap appends a gap of n offsets.
func (h *fakeHub) gap(stream string, part int, n uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.streams[stream][part]
	p.gaps = append(p.gaps, &tributaryv1.Gap{FromOffset: p.next, ToOffset: p.next + n, Count: n, Reason: "max_bytes"})
	p.next += n
}

// expire makes retention delete offsets below start.
func (h *fakeHub) expire(stream string, part int, start uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.streams[stream][part].start = start
}

func (h *fakeHub) ListStreams(context.Context, *tributaryv1.ListStreamsRequest) (*tributaryv1.ListStreamsResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	resp := &tributaryv1.ListStreamsResponse{}
	for name, parts := range h.streams {
		si := &tributaryv1.StreamInfo{Name: name}
		for i, p := range parts {
			si.Partitions = append(si.Partitions, &tributaryv1.PartitionInfo{Partition: int32(i), StartOffset: p.start, NextOffset: p.next})
		}
		resp.Streams = append(resp.Streams, si)
	}
	return resp, nil
}

func (h *fakeHub) Read(_ context.Context, req *tributaryv1.ReadRequest) (*tributaryv1.ReadResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reads++
	parts, ok := h.streams[req.GetStream()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "stream %q does not exist", req.GetStream())
	}
	p := parts[req.GetPartition()]
	pos := p.start
	resp := &tributaryv1.ReadResponse{EndOffset: p.next}
	if req.FromOffset != nil {
		pos = req.GetFromOffset()
		if pos < p.start {
			pos, resp.FromOffsetExpired = p.start, true
		}
		if pos > p.next {
			return nil, status.Errorf(codes.OutOfRange, "from_offset past the end")
		}
	}
	resp.FirstOffset = pos
	limit := int(req.GetMaxRecords())
	for pos < p.next && len(resp.Records)+len(resp.Gaps) < limit {
		advanced := false
		for _, g := range p.gaps {
			if g.GetFromOffset() <= pos && pos < g.GetToOffset() {
				resp.Gaps = append(resp.Gaps, g)
				pos, advanced = g.GetToOffset(), true
			}
		}
		for _, r := range p.recs {
			if r.GetOffset() == pos {
				resp.Records = append(resp.Records, r)
				pos, advanced = pos+1, true
				break
			}
		}
		if !advanced {
			return nil, status.Errorf(codes.Internal, "fake hub: nothing at offset %d", pos)
		}
	}
	resp.NextOffset = pos
	return resp, nil
}

func (h *fakeHub) ListSites(context.Context, *tributaryv1.ListSitesRequest) (*tributaryv1.ListSitesResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sites == nil {
		return nil, status.Error(codes.Unimplemented, "no SiteService")
	}
	return &tributaryv1.ListSitesResponse{Sites: h.sites}, nil
}

// serve starts h on loopback and returns a client connection to it.
func (h *fakeHub) serve(t *testing.T) *grpc.ClientConn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	tributaryv1.RegisterStreamServiceServer(srv, h)
	tributaryv1.RegisterSiteServiceServer(srv, h)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func seqs(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// ackAll records every seq of from..to of device as acknowledged.
func ackAll(l *Ledger, device string, from, to uint64) {
	for s := from; s <= to; s++ {
		l.Ack(device, s)
	}
}

func TestVerify(t *testing.T) {
	const site = "plant-01"
	for _, tc := range []struct {
		name  string
		setup func(h *fakeHub, l *Ledger)
		opts  VerifyOptions
		ok    bool
		check func(t *testing.T, r *Report, h *fakeHub)
	}{{
		name: "clean, over many pages and partitions",
		setup: func(h *fakeHub, l *Ledger) {
			ackAll(l, "meter-1", 0, 99)
			ackAll(l, "meter-2", 0, 99)
			h.put("telemetry", 0, site, "meter-1", seqs(0, 89)...)
			h.put("telemetry", 1, site, "meter-2", seqs(0, 99)...)
			h.put("alarms", 0, site, "meter-1", seqs(90, 99)...) // one device's seqs span streams
		},
		opts: VerifyOptions{PageRecords: 7},
		ok:   true,
		check: func(t *testing.T, r *Report, h *fakeHub) {
			if r.AtHub != 200 || r.Acked != 200 || r.Devices != 2 || r.Missing != 0 {
				t.Errorf("at hub %d, acked %d, devices %d, missing %d; want 200 200 2 0", r.AtHub, r.Acked, r.Devices, r.Missing)
			}
			if h.reads < 200/7 {
				t.Errorf("%d reads: the pages were not limited to 7 records", h.reads)
			}
			if strings.Join(r.Streams, ",") != "alarms,telemetry" {
				t.Errorf("streams %v", r.Streams)
			}
		},
	}, {
		name: "missing",
		setup: func(h *fakeHub, l *Ledger) {
			ackAll(l, "meter-1", 0, 99)
			ackAll(l, "meter-2", 0, 9)
			for s := range uint64(100) {
				if (s < 10 || s > 12) && s != 50 && s != 99 {
					h.put("telemetry", 0, site, "meter-1", s)
				}
			}
			// meter-2: nothing at all.
		},
		check: func(t *testing.T, r *Report, _ *fakeHub) {
			if r.Missing != 15 || len(r.Problems) != 2 {
				t.Fatalf("missing %d in %d devices, want 15 in 2", r.Missing, len(r.Problems))
			}
			if got := r.Problems[0].Missing.String(); got != "10-12,50,99" {
				t.Errorf("meter-1 missing %s, want 10-12,50,99", got)
			}
			if got := r.Problems[1].Missing.String(); got != "0-9" {
				t.Errorf("meter-2 missing %s, want 0-9", got)
			}
		},
	}, {
		name: "pipeline duplicates",
		setup: func(h *fakeHub, l *Ledger) {
			ackAll(l, "meter-1", 0, 9)
			h.put("telemetry", 0, site, "meter-1", seqs(0, 9)...)
			h.put("telemetry", 0, site, "meter-1", 8, 9) // a replayed tail
			h.put("telemetry", 0, site, "meter-1", 9)
		},
		check: func(t *testing.T, r *Report, _ *fakeHub) {
			if r.Duplicated != 3 || r.ResentDuplicates != 0 || r.OutOfOrder != 0 {
				t.Fatalf("duplicated %d, resent %d, out of order %d; want 3 0 0", r.Duplicated, r.ResentDuplicates, r.OutOfOrder)
			}
			if d := r.Problems[0]; d.Duplicated.String() != "8-9" || d.DuplicatedCopies != 3 {
				t.Errorf("duplicated %s (%d copies), want 8-9 (3)", d.Duplicated, d.DuplicatedCopies)
			}
		},
	}, {
		name: "resent duplicates are explained",
		setup: func(h *fakeHub, l *Ledger) {
			ackAll(l, "meter-1", 0, 9)
			l.Resent("meter-1", 4)
			l.Resent("meter-1", 5)
			h.put("telemetry", 0, site, "meter-1", 0, 1, 2, 3, 4, 5, 4, 5, 6, 7, 8, 9)
		},
		ok: true,
		check: func(t *testing.T, r *Report, _ *fakeHub) {
			if r.ResentDuplicates != 2 || r.Duplicated != 0 {
				t.Errorf("resent duplicates %d, duplicated %d; want 2 0", r.ResentDuplicates, r.Duplicated)
			}
			if !strings.Contains(r.Summary(), "(2 resent duplicates explained by QoS 1)") {
				t.Errorf("summary: %s", r.Summary())
			}
		},
	}, {
		name: "out of order",
		setup: func(h *fakeHub, l *Ledger) {
			ackAll(l, "meter-1", 0, 9)
			l.Resent("meter-1", 2)
			h.put("telemetry", 0, site, "meter-1", 0, 1, 3, 2, 4, 7, 5, 6, 8, 9) // 2: resent late, explained; 5 after 7: not
		},
		check: func(t *testing.T, r *Report, _ *fakeHub) {
			if r.OutOfOrder != 1 || r.ResentLate != 1 || r.Missing != 0 || r.Duplicated != 0 {
				t.Fatalf("out of order %d, resent late %d, missing %d, dup %d; want 1 1 0 0", r.OutOfOrder, r.ResentLate, r.Missing, r.Duplicated)
			}
			f := r.Problems[0].FirstOutOfOrder
			if f == nil || f.Seq != 5 || f.After != 7 || f.Offset != 6 || f.Stream != "telemetry" {
				t.Errorf("first out of order %+v, want seq 5 after 7 at telemetry/0 offset 6", f)
			}
		},
	}, {
		name: "foreign records are ignored",
		setup: func(h *fakeHub, l *Ledger) {
			ackAll(l, "meter-1", 0, 2)
			h.put("telemetry", 0, site, "meter-1", 0)
			h.putValue("telemetry", 0, site, `{"v":229.8}`)
			h.putValue("telemetry", 0, site, "not json")
			h.put("telemetry", 0, site, "meter-1", 1, 2)
		},
		ok: true,
		check: func(t *testing.T, r *Report, _ *fakeHub) {
			if r.Foreign != 2 || r.AtHub != 3 {
				t.Errorf("foreign %d, at hub %d; want 2 3", r.Foreign, r.AtHub)
			}
		},
	}, {
		name: "gaps are listed and what they held is missing",
		setup: func(h *fakeHub, l *Ledger) {
			ackAll(l, "meter-1", 0, 9)
			h.put("telemetry", 0, site, "meter-1", 0, 1)
			h.gap("telemetry", 0, 5)
			h.put("telemetry", 0, site, "meter-1", 7, 8, 9)
		},
		opts: VerifyOptions{PageRecords: 2},
		check: func(t *testing.T, r *Report, _ *fakeHub) {
			if len(r.Gaps) != 1 || r.Gaps[0].From != 2 || r.Gaps[0].To != 7 || r.Missing != 5 {
				t.Fatalf("gaps %+v, missing %d; want one gap 2-7 and 5 missing", r.Gaps, r.Missing)
			}
			var b strings.Builder
			if err := r.WriteDetails(&b, 10); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"gap in telemetry/0 offsets 2-6: 5 records dropped (max_bytes)", "meter-1: missing 2-6 (5 of 10 acked)"} {
				if !strings.Contains(b.String(), want) {
					t.Errorf("details lack %q:\n%s", want, b.String())
				}
			}
		},
	}, {
		name: "other sites and unlabelled records are skipped",
		setup: func(h *fakeHub, l *Ledger) {
			ackAll(l, "meter-1", 0, 4)
			h.put("telemetry", 0, site, "meter-1", seqs(0, 4)...)
			h.put("telemetry", 0, "plant-02", "meter-1", seqs(0, 4)...) // same device names elsewhere
			h.put("telemetry", 1, "", "meter-1", 0, 1)
		},
		ok: true,
		check: func(t *testing.T, r *Report, _ *fakeHub) {
			if r.OtherSite != 5 || r.Unlabelled != 2 || r.AtHub != 5 || r.Duplicated != 0 {
				t.Errorf("other site %d, unlabelled %d, at hub %d, duplicated %d; want 5 2 5 0", r.OtherSite, r.Unlabelled, r.AtHub, r.Duplicated)
			}
		},
	}, {
		name: "unlabelled records count when asked",
		setup: func(h *fakeHub, l *Ledger) {
			ackAll(l, "meter-1", 0, 4)
			h.put("telemetry", 0, "", "meter-1", seqs(0, 4)...)
		},
		opts: VerifyOptions{IncludeUnlabelled: true},
		ok:   true,
		check: func(t *testing.T, r *Report, _ *fakeHub) {
			if r.AtHub != 5 || r.Unlabelled != 0 {
				t.Errorf("at hub %d, unlabelled %d; want 5 0", r.AtHub, r.Unlabelled)
			}
		},
	}, {
		name: "a device in two partitions of one stream",
		setup: func(h *fakeHub, l *Ledger) {
			ackAll(l, "meter-1", 0, 9)
			h.put("telemetry", 0, site, "meter-1", seqs(0, 4)...)
			h.put("telemetry", 1, site, "meter-1", seqs(5, 9)...)
		},
		check: func(t *testing.T, r *Report, _ *fakeHub) {
			if r.SplitDevices != 1 || strings.Join(r.Problems[0].Partitions, " ") != "telemetry/0 telemetry/1" {
				t.Errorf("split %d, partitions %v", r.SplitDevices, r.Problems)
			}
		},
	}, {
		name: "unacknowledged messages are extra, and fine",
		setup: func(h *fakeHub, l *Ledger) {
			ackAll(l, "meter-1", 0, 3)
			h.put("telemetry", 0, site, "meter-1", seqs(0, 5)...) // 4 and 5: PUBACK lost
			h.put("telemetry", 0, site, "meter-9", 0)             // not in the ledger
		},
		ok: true,
		check: func(t *testing.T, r *Report, _ *fakeHub) {
			if r.Extra != 3 || r.UnknownDevices != 1 {
				t.Errorf("extra %d, unknown devices %d; want 3 1", r.Extra, r.UnknownDevices)
			}
		},
	}, {
		name: "retention before reading",
		setup: func(h *fakeHub, l *Ledger) {
			ackAll(l, "meter-1", 0, 5)
			h.put("telemetry", 0, site, "meter-1", seqs(0, 5)...)
			h.expire("telemetry", 0, 2)
		},
		check: func(t *testing.T, r *Report, _ *fakeHub) {
			if len(r.Expired) != 1 || r.Expired[0].To != 2 || r.Missing != 2 {
				t.Errorf("expired %+v, missing %d", r.Expired, r.Missing)
			}
		},
	}, {
		name: "the site's edge losses and lag are noted",
		setup: func(h *fakeHub, l *Ledger) {
			ackAll(l, "meter-1", 0, 5)
			h.put("telemetry", 0, site, "meter-1", seqs(0, 3)...)
			h.sites = []*tributaryv1.Site{{Site: site, GapRecords: 7, Partitions: []*tributaryv1.SitePartition{{Stream: "telemetry", LagRecords: 2}}}}
		},
		check: func(t *testing.T, r *Report, _ *fakeHub) {
			if !r.SiteKnown || r.SiteGapRecords != 7 || r.SiteLagRecords != 2 {
				t.Fatalf("site known %v, gaps %d, lag %d", r.SiteKnown, r.SiteGapRecords, r.SiteLagRecords)
			}
			var b strings.Builder
			_ = r.WriteDetails(&b, 1)
			if !strings.Contains(b.String(), "lost 7 records at the edge") || !strings.Contains(b.String(), "still lagged 2 records") {
				t.Errorf("details:\n%s", b.String())
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHub(map[string]int{"telemetry": 2, "alarms": 1})
			l := NewLedger(site)
			tc.setup(h, l)
			r, err := Verify(t.Context(), h.serve(t), l, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if r.OK() != tc.ok {
				var b strings.Builder
				_ = r.WriteDetails(&b, 10)
				t.Errorf("OK() = %v, want %v: %s\n%s", r.OK(), tc.ok, r.Summary(), b.String())
			}
			if tc.check != nil {
				tc.check(t, r, h)
			}
		})
	}
}

// With Until, Verify reads again until what was acknowledged arrives.
func TestVerifyWaitsForTheRest(t *testing.T) {
	h := newFakeHub(map[string]int{"telemetry": 1})
	l := NewLedger("plant-01")
	ackAll(l, "meter-1", 0, 9)
	h.put("telemetry", 0, "plant-01", "meter-1", seqs(0, 4)...)
	conn := h.serve(t)
	go func() {
		time.Sleep(300 * time.Millisecond)
		h.put("telemetry", 0, "plant-01", "meter-1", seqs(5, 9)...)
	}()
	r, err := Verify(t.Context(), conn, l, VerifyOptions{Until: 10 * time.Second, Poll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || r.Passes < 2 || r.AtHub != 10 || !strings.Contains(r.Stopped, "every acknowledged message") {
		t.Fatalf("%s; %d passes; stopped: %s", r.Summary(), r.Passes, r.Stopped)
	}
	// Later passes read only what is new.
	if h.reads > r.Passes+1 {
		t.Errorf("%d reads in %d passes: a pass re-read what it had", h.reads, r.Passes)
	}
}

// With Until, a hub that stopped growing ends the wait early.
func TestVerifyStopsWhenTheHubSettles(t *testing.T) {
	h := newFakeHub(map[string]int{"telemetry": 1})
	l := NewLedger("plant-01")
	ackAll(l, "meter-1", 0, 9)
	h.put("telemetry", 0, "plant-01", "meter-1", seqs(0, 4)...)
	start := time.Now()
	r, err := Verify(t.Context(), h.serve(t), l, VerifyOptions{Until: time.Minute, Quiet: 200 * time.Millisecond, Poll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.OK() || r.Missing != 5 || !strings.Contains(r.Stopped, "stopped growing") || time.Since(start) > 10*time.Second {
		t.Fatalf("%s after %v; stopped: %s", r.Summary(), time.Since(start), r.Stopped)
	}
}

func TestVerifyErrors(t *testing.T) {
	h := newFakeHub(map[string]int{"telemetry": 1})
	conn := h.serve(t)
	_, err := Verify(t.Context(), conn, NewLedger("p"), VerifyOptions{Streams: []string{"telemetry", "nope"}})
	if !errors.Is(err, ErrUnknownStream) || !IsUsageError(err) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown stream: %v", err)
	}
	_, err = Verify(t.Context(), conn, NewLedger("p"), VerifyOptions{Until: -time.Second})
	if !IsUsageError(err) {
		t.Errorf("negative Until: %v", err)
	}
	// A node that is not there: a failure, not a usage error.
	dead, err := grpc.NewClient("127.0.0.1:1", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if _, err = Verify(ctx, dead, NewLedger("p"), VerifyOptions{}); err == nil || IsUsageError(err) {
		t.Errorf("unreachable node: %v", err)
	}
}

func TestSubtract(t *testing.T) {
	for _, tc := range []struct {
		a, b []Range
		want string
	}{
		{[]Range{{0, 9}}, nil, "0-9"},
		{[]Range{{0, 9}}, []Range{{0, 9}}, "-"},
		{[]Range{{0, 9}}, []Range{{2, 3}, {5, 5}}, "0-1,4,6-9"},
		{[]Range{{0, 3}, {10, 20}}, []Range{{2, 12}, {15, 30}}, "0-1,13-14"},
		{[]Range{{5, 5}}, []Range{{0, 4}, {6, 9}}, "5"},
		{[]Range{{0, ^uint64(0)}}, []Range{{1, ^uint64(0)}}, "0"},
	} {
		if got := RangeList(subtract(tc.a, tc.b)).String(); got != tc.want {
			t.Errorf("%v - %v = %s, want %s", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestSummaryFormat(t *testing.T) {
	r := &Report{Devices: 500, Acked: 1234567, AtHub: 1234602, ResentDuplicates: 3, Extra: 32}
	want := "verify: 500 devices, 1,234,567 acked, 1,234,602 at the hub: 0 missing, 0 duplicated (3 resent duplicates explained by QoS 1), 0 out of order, 32 unacknowledged stored — OK"
	if got := r.Summary(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	r.Missing = 1
	if !strings.HasSuffix(r.Summary(), "— FAILED") {
		t.Errorf("with a missing message: %s", r.Summary())
	}
}
