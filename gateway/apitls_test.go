package gateway_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/tributary-io/tributary/gateway"
	"github.com/tributary-io/tributary/gateway/config"
	"github.com/tributary-io/tributary/internal/testcert"
)

// apiTLS writes a server certificate of a new CA and returns the
// listener TLS for it, with the CA.
func apiTLS(t *testing.T) (config.ListenerTLS, *testcert.CA) {
	t.Helper()
	ca := testcert.NewCA(t, "api CA")
	cert, key := testcert.WritePair(t, ca.Server(t), t.TempDir(), "node")
	return config.ListenerTLS{CertFile: cert, KeyFile: key}, ca
}

// httpsClient trusts roots and shows the client certificates given.
func httpsClient(roots *x509.CertPool, certs ...tls.Certificate) *http.Client {
	return &http.Client{Transport: &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}}
}

// dialTLS connects to the node's gRPC API over TLS.
func dialTLS(t *testing.T, n *gateway.Node, cfg *tls.Config, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(n.GRPCAddr().String(), append(opts, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func healthCheck(t *testing.T, conn *grpc.ClientConn) error {
	t.Helper()
	_, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{})
	return err
}

// With http.tls and grpc.tls both listeners serve TLS: a client that
// trusts the CA gets in, one that trusts another CA or speaks plaintext
// does not.
func TestAPIListenersServeTLS(t *testing.T) {
	cfg := testConfig(t)
	lt, ca := apiTLS(t)
	cfg.HTTP.TLS, cfg.GRPC.TLS = lt, lt
	n := startNode(t, cfg)
	base := "https://" + n.HTTPAddr().String()

	resp, err := httpsClient(ca.Pool()).Get(base + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz over TLS: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Proto != "HTTP/2.0" {
		t.Errorf("GET /healthz = %d %s %q, want 200 over HTTP/2", resp.StatusCode, resp.Proto, body)
	}
	other := testcert.NewCA(t, "someone else")
	if _, err := httpsClient(other.Pool()).Get(base + "/healthz"); err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("GET with the wrong CA = %v, want an unknown authority error", err)
	}
	if code, body := get(t, "http://"+n.HTTPAddr().String()+"/healthz"); code != http.StatusBadRequest {
		t.Errorf("plain HTTP to the TLS listener = %d %q, want 400", code, body)
	}

	if err := healthCheck(t, dialTLS(t, n, &tls.Config{RootCAs: ca.Pool()})); err != nil {
		t.Errorf("gRPC over TLS: %v", err)
	}
	if err := healthCheck(t, dialTLS(t, n, &tls.Config{RootCAs: other.Pool()})); err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("gRPC with the wrong CA = %v, want an unknown authority error", err)
	}
	if err := healthCheck(t, dial(t, n)); err == nil {
		t.Error("plaintext gRPC to the TLS listener succeeded")
	}
}

// With client_ca_file a client needs a certificate those CAs signed.
func TestAPIListenersMutualTLS(t *testing.T) {
	cfg := testConfig(t)
	lt, ca := apiTLS(t)
	clients := testcert.NewCA(t, "clients CA")
	lt.ClientCAFile = clients.WriteCA(t, t.TempDir(), "clients.crt")
	cfg.HTTP.TLS, cfg.GRPC.TLS = lt, lt
	n := startNode(t, cfg)
	base := "https://" + n.HTTPAddr().String()

	good := clients.Client(t, "dashboard")
	forged := testcert.NewCA(t, "forger").Client(t, "dashboard")
	resp, err := httpsClient(ca.Pool(), good).Get(base + "/readyz")
	if err != nil {
		t.Fatalf("GET with a client certificate: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET /readyz with a client certificate = %d", resp.StatusCode)
	}
	for name, certs := range map[string][]tls.Certificate{"no certificate": nil, "another CA's": {forged}} {
		if _, err := httpsClient(ca.Pool(), certs...).Get(base + "/readyz"); err == nil {
			t.Errorf("HTTPS with %s got in", name)
		}
		if err := healthCheck(t, dialTLS(t, n, &tls.Config{RootCAs: ca.Pool(), Certificates: certs})); err == nil {
			t.Errorf("gRPC with %s got in", name)
		}
	}
	if err := healthCheck(t, dialTLS(t, n, &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{good}})); err != nil {
		t.Errorf("gRPC with a client certificate: %v", err)
	}
}
