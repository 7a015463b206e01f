package forwarder_test

// The tests here run a real hub (package cluster's server on a gRPC server
// with TLS on loopback, over a real spool file) and real forwarders over
// real edge spools. forwarder does not import cluster; only its tests do.

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
	"github.com/tributary-io/tributary/cluster"
	"github.com/tributary-io/tributary/forwarder"
	"github.com/tributary-io/tributary/internal/testcert"
	"github.com/tributary-io/tributary/internal/tokens"
	"github.com/tributary-io/tributary/spool"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(crashModeEnv); mode != "" {
		crashChild(mode) // never returns
	}
	goleak.VerifyTestMain(m)
}

const hubStream = "telemetry"

// hub is a running hub.
type hub struct {
	t      *testing.T
	ca     *testcert.CA
	dir    string
	sp     *spool.Spool
	srv    *cluster.Server
	gs     *grpc.Server
	addr   string
	tokens *tokens.Set
	opts   cluster.Options
	done   chan struct{}
}

type hubConfig struct {
	tokens         *tokens.Set
	allowAnonymous bool
	dir            string // reuse (a restart)
	addr           string // reuse
}

func startHub(t *testing.T, ca *testcert.CA, hc hubConfig) *hub {
	t.Helper()
	dir := hc.dir
	if dir == "" {
		dir = t.TempDir()
	}
	sp, err := spool.Open(dir, spool.Options{Linger: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []spool.StreamConfig{
		{Name: hubStream, Partitions: 4, MaxBytes: 256 << 20},
		{Name: "alarms", Partitions: 1, MaxBytes: 64 << 20},
	} {
		if err := sp.EnsureStream(c); err != nil {
			t.Fatal(err)
		}
	}
	h := &hub{t: t, ca: ca, dir: dir, sp: sp, tokens: hc.tokens, done: make(chan struct{})}
	h.opts = cluster.Options{Spool: sp, Tokens: hc.tokens, AllowAnonymous: hc.allowAnonymous}
	return h.serve(hc.addr)
}

// serve starts h.opts's server with TLS on addr ("": any port).
func (h *hub) serve(addr string) *hub {
	ca := h.ca
	cfg := &tls.Config{
		Certificates: []tls.Certificate{ca.Server(h.t)},
		ClientCAs:    ca.Pool(),
		ClientAuth:   tls.VerifyClientCertIfGiven,
		MinVersion:   tls.VersionTLS12,
	}
	return h.serveGRPC(addr, grpc.NewServer(grpc.Creds(credentials.NewTLS(cfg))))
}

// serveGRPC starts h.opts's server on gs and addr ("": any port).
func (h *hub) serveGRPC(addr string, gs *grpc.Server) *hub {
	t := h.t
	var err error
	h.srv, err = cluster.New(h.opts)
	if err != nil {
		t.Fatal(err)
	}
	h.gs = gs
	tributaryv1.RegisterReplicationServiceServer(h.gs, h.srv)
	tributaryv1.RegisterSiteServiceServer(h.gs, h.srv)
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	for i := 0; ; i++ { // a restart reuses the port, which may linger briefly
		ln, err = net.Listen("tcp", addr)
		if err == nil || i == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	h.addr = ln.Addr().String()
	go func() {
		defer close(h.done)
		_ = h.gs.Serve(ln)
	}()
	t.Cleanup(h.stop)
	return h
}

// stop stops the hub (idempotent).
func (h *hub) stop() {
	select {
	case <-h.done:
		return
	default:
	}
	h.gs.Stop()
	<-h.done
	h.srv.Close()
	if h.sp == nil { // a Kafka hub
		return
	}
	if err := h.sp.Close(); err != nil {
		h.t.Errorf("hub spool close: %v", err)
	}
}

// restart stops the hub and starts it again on the same data and address.
func (h *hub) restart() *hub {
	h.stop()
	return startHub(h.t, h.ca, hubConfig{tokens: h.tokens, allowAnonymous: h.opts.AllowAnonymous, dir: h.dir, addr: h.addr})
}

// records reads every record of a hub stream, by partition.
func (h *hub) records(stream string) [][]spool.Record {
	h.t.Helper()
	var out [][]spool.Record
	for _, c := range h.sp.Streams() {
		if c.Name != stream {
			continue
		}
		for p := range c.Partitions {
			out = append(out, readPartition(h.t, h.sp, stream, p))
		}
	}
	return out
}

func readPartition(t testing.TB, sp *spool.Spool, stream string, p int) []spool.Record {
	t.Helper()
	var out []spool.Record
	start, next, err := sp.Offsets(stream, p)
	if err != nil {
		t.Fatal(err)
	}
	for off := start; off < next; {
		es, err := sp.Read(stream, p, off, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			recs, err := e.Records()
			if err != nil {
				t.Fatal(err)
			}
			skip := int(off - e.Offset())
			if skip > 0 && skip <= len(recs) {
				recs = recs[skip:]
			}
			out = append(out, recs...)
			off = e.NextOffset()
		}
	}
	return out
}

// count is how many records a hub stream holds.
func (h *hub) count(stream string) uint64 {
	var n uint64
	for _, c := range h.sp.Streams() {
		if c.Name != stream {
			continue
		}
		for p := range c.Partitions {
			start, next, _ := h.sp.Offsets(stream, p)
			n += next - start
		}
	}
	return n
}

// edge is an edge node's spool and forwarder.
type edge struct {
	t    *testing.T
	site string
	dir  string
	sp   *spool.Spool
	fwd  *forwarder.Forwarder
	stop context.CancelFunc
	done chan error
	mu   sync.Mutex
	seq  map[string]int // next sequence number per key
}

func openEdge(t *testing.T, site string) *edge {
	t.Helper()
	dir := t.TempDir()
	e := &edge{t: t, site: site, dir: dir, seq: map[string]int{}}
	e.open()
	t.Cleanup(e.close)
	return e
}

func (e *edge) open() {
	e.t.Helper()
	sp, err := spool.Open(e.dir, spool.Options{Linger: time.Millisecond})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, c := range []spool.StreamConfig{
		{Name: hubStream, Partitions: 2, MaxBytes: 256 << 20},
		{Name: "alarms", Partitions: 1, MaxBytes: 64 << 20, Priority: 10},
	} {
		if err := sp.EnsureStream(c); err != nil {
			e.t.Fatal(err)
		}
	}
	e.sp = sp
}

// clientTLS is a TLS config for site, with a client certificate from ca.
func clientTLS(t testing.TB, ca *testcert.CA, site string) *tls.Config {
	cfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", MinVersion: tls.VersionTLS12}
	if site != "" {
		cfg.Certificates = []tls.Certificate{ca.Client(t, site)}
	}
	return cfg
}

// forward starts a forwarder with opts (Spool and Site are filled in).
func (e *edge) forward(opts forwarder.Options) {
	e.t.Helper()
	opts.Spool, opts.Site = e.sp, e.site
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = 200 * time.Millisecond
	}
	if opts.Heartbeat == 0 {
		opts.Heartbeat = 100 * time.Millisecond
	}
	f, err := forwarder.New(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.fwd, e.stop, e.done = f, cancel, make(chan error, 1)
	go func() { e.done <- f.Run(ctx) }()
}

// halt stops the forwarder (idempotent).
func (e *edge) halt() {
	if e.fwd == nil {
		return
	}
	e.stop()
	if err := <-e.done; err != nil {
		e.t.Errorf("forwarder Run: %v", err)
	}
	if err := e.fwd.Close(); err != nil {
		e.t.Errorf("forwarder Close: %v", err)
	}
	e.fwd = nil
}

func (e *edge) close() {
	e.halt()
	if e.sp != nil {
		if err := e.sp.Close(); err != nil {
			e.t.Errorf("edge spool close: %v", err)
		}
		e.sp = nil
	}
}

// produce appends n records per key to stream; each value holds its key's
// sequence number.
func (e *edge) produce(stream string, keys []string, n int) {
	e.t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	var recs []spool.Record
	for i := 0; i < n; i++ {
		for _, k := range keys {
			v := binary.BigEndian.AppendUint64([]byte(fmt.Sprintf("%-150s", k)), uint64(e.seq[k]))
			e.seq[k]++
			recs = append(recs, spool.Record{Key: []byte(k), Value: v, Time: time.Now()})
			if len(recs) == 500 {
				if _, err := e.sp.Append(context.Background(), stream, recs...); err != nil {
					e.t.Fatal(err)
				}
				recs = recs[:0]
			}
		}
	}
	if len(recs) > 0 {
		if _, err := e.sp.Append(context.Background(), stream, recs...); err != nil {
			e.t.Fatal(err)
		}
	}
}

func seqOf(r spool.Record) uint64 { return binary.BigEndian.Uint64(r.Value[len(r.Value)-8:]) }

// exactlyOnce checks that the hub holds every key's records 0..want-1 once,
// in order, each with site's header.
func exactlyOnce(t *testing.T, parts [][]spool.Record, site string, want map[string]int) {
	t.Helper()
	next := map[string]uint64{}
	for p, recs := range parts {
		for _, r := range recs {
			k := string(r.Key)
			if got := seqOf(r); got != next[k] {
				t.Fatalf("hub partition %d: key %s: record %d where %d was due (lost or duplicated)", p, k, got, next[k])
			}
			next[k]++
			if s := header(r, cluster.HeaderSite); s != site {
				t.Fatalf("record of %s has site header %q, want %q", k, s, site)
			}
		}
	}
	for k, n := range want {
		if next[k] != uint64(n) {
			t.Fatalf("key %s: hub holds %d records, the edge stored %d", k, next[k], n)
		}
	}
}

func header(r spool.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
