package gateway_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
	"github.com/tributary-io/tributary/gateway"
	"github.com/tributary-io/tributary/gateway/config"
)

// getAuth GETs url with a bearer token ("" for none).
func getAuth(t *testing.T, url, token string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, string(b)}
}

// withToken is ctx with a bearer token in the call's metadata.
func withToken(ctx context.Context, token string) context.Context {
	if token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// readAuthNode is an edge with streams telemetry and alarms, a token
// "writer" for telemetry and "reader" for alarms, and one record in
// telemetry's partition 0.
func readAuthNode(t *testing.T, anonymous bool) (n *gateway.Node, writer, reader string) {
	t.Helper()
	cfg := testConfig(t)
	cfg.Streams = []config.Stream{config.DefaultStream("telemetry"), config.DefaultStream("alarms")}
	cfg.Streams[0].Partitions = 1
	cfg.Streams[1].MaxBytes = 64 * config.MiB // the two must fit arm/v7's 1.5GiB
	cfg.HTTP.AllowAnonymous = anonymous
	cfg.HTTP.TokensFile, writer, reader = writeTokens(t, "telemetry", "alarms")
	n = startNode(t, cfg)
	body := `{"records":[{"key":"m1","value":{"v":1}}]}`
	if r := post(t, recordsURL(n, "telemetry"), "application/json", writer, []byte(body), int64(len(body))); r.code != 200 {
		t.Fatalf("ingest = %d %s", r.code, r.body)
	}
	return n, writer, reader
}

// With http.tokens_file a read needs a token of the file that names the
// stream, over REST and gRPC; health, readiness, metrics and node info
// stay open.
func TestReadsNeedATokenForTheStream(t *testing.T) {
	n, writer, reader := readAuthNode(t, false)
	base := "http://" + n.HTTPAddr().String()
	read := base + "/v1/streams/telemetry/partitions/0/records"
	cases := []struct {
		name, url, token string
		code             int
		want             string
	}{
		{"no token", read, "", 401, `missing bearer token: this node's reads need a token (Authorization: Bearer TOKEN)`},
		{"unknown token", read, "trb_nobody", 401, `unknown bearer token`},
		{"token of another stream", read, reader, 403, `token \"reader\" may not read stream \"telemetry\"`},
		{"unknown stream, token of another", base + "/v1/streams/ghost/partitions/0/records", reader, 403, `may not read stream \"ghost\"`},
		{"token of the stream", read, writer, 200, `"key":"m1","value":{"v":1}`},
		{"list, no token", base + "/v1/streams", "", 401, `missing bearer token`},
		{"list, token of alarms", base + "/v1/streams", reader, 200, `"name":"alarms"`},
		{"list, token of telemetry", base + "/v1/streams", writer, 200, `"name":"telemetry"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := getAuth(t, tc.url, tc.token)
			if r.code != tc.code || !strings.Contains(r.body, tc.want) {
				t.Fatalf("= %d %s\nwant %d with %s", r.code, r.body, tc.code, tc.want)
			}
			if r.code == 401 && r.header.Get("WWW-Authenticate") != `Bearer realm="tributary"` {
				t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
			}
		})
	}
	if r := getAuth(t, base+"/v1/streams", reader); strings.Contains(r.body, "telemetry") {
		t.Errorf("the list for a token of alarms shows telemetry: %s", r.body)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/v1/node"} {
		if r := getAuth(t, base+path, ""); r.code != 200 {
			t.Errorf("GET %s without a token = %d %s", path, r.code, r.body)
		}
	}

	client := tributaryv1.NewStreamServiceClient(dial(t, n))
	ctx := t.Context()
	readAs := func(token string) error {
		_, err := client.Read(withToken(ctx, token), &tributaryv1.ReadRequest{Stream: "telemetry"})
		return err
	}
	for token, want := range map[string]codes.Code{"": codes.Unauthenticated, "trb_nobody": codes.Unauthenticated, reader: codes.PermissionDenied, writer: codes.OK} {
		if err := readAs(token); status.Code(err) != want {
			t.Errorf("gRPC Read with token %.8q = %v, want %v", token, err, want)
		}
	}
	list, err := client.ListStreams(withToken(ctx, reader), &tributaryv1.ListStreamsRequest{})
	if err != nil || len(list.GetStreams()) != 1 || list.GetStreams()[0].GetName() != "alarms" {
		t.Errorf("gRPC ListStreams for a token of alarms = %v, %v; want alarms only", list, err)
	}
	if _, err := client.ListStreams(ctx, &tributaryv1.ListStreamsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("gRPC ListStreams without a token = %v", err)
	}
}

// http.allow_anonymous lets reads without a token in, on every stream; a
// token sent is still checked.
func TestAnonymousReads(t *testing.T) {
	n, _, reader := readAuthNode(t, true)
	read := "http://" + n.HTTPAddr().String() + "/v1/streams/telemetry/partitions/0/records"
	if r := getAuth(t, read, ""); r.code != 200 || !strings.Contains(r.body, `"key":"m1"`) {
		t.Errorf("anonymous read = %d %s", r.code, r.body)
	}
	if r := getAuth(t, read, "trb_nobody"); r.code != 401 {
		t.Errorf("read with an unknown token = %d %s, want 401", r.code, r.body)
	}
	if r := getAuth(t, read, reader); r.code != 403 {
		t.Errorf("read with a token of another stream = %d %s, want 403", r.code, r.body)
	}
}

// A hub takes http.tokens_file for reads: sites and streams need a token.
func TestHubReadsNeedAToken(t *testing.T) {
	cfg := hubConfig(t)
	var reader string
	cfg.HTTP.TokensFile, _, reader = writeTokens(t, "*", "alarms")
	n := startNode(t, cfg)
	base := "http://" + n.HTTPAddr().String()
	for path, want := range map[string]int{"/v1/sites": 401, "/v1/streams": 401, "/healthz": 200} {
		if r := getAuth(t, base+path, ""); r.code != want {
			t.Errorf("GET %s without a token = %d %s, want %d", path, r.code, r.body, want)
		}
	}
	if r := getAuth(t, base+"/v1/sites", reader); r.code != 200 {
		t.Errorf("GET /v1/sites with a token = %d %s", r.code, r.body)
	}
	sites := tributaryv1.NewSiteServiceClient(dial(t, n))
	if _, err := sites.ListSites(t.Context(), &tributaryv1.ListSitesRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("gRPC ListSites without a token = %v", err)
	}
	if _, err := sites.ListSites(withToken(t.Context(), reader), &tributaryv1.ListSitesRequest{}); err != nil {
		t.Errorf("gRPC ListSites with a token: %v", err)
	}
}
