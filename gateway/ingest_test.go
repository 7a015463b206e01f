package gateway_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
	"github.com/tributary-io/tributary/gateway"
	"github.com/tributary-io/tributary/gateway/config"
	"github.com/tributary-io/tributary/internal/tokens"
	"github.com/tributary-io/tributary/spool"
)

// response is an HTTP answer, read whole.
type response struct {
	code   int
	header http.Header
	body   string
}

// post sends body to url as a client would: contentType "" is what curl -d
// sends; token "" sends no Authorization; length -1 sends the body chunked,
// without Content-Length.
func post(t *testing.T, url, contentType, token string, body []byte, length int64) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = length
	if length == -1 {
		req.Body = io.NopCloser(bytes.NewReader(body)) // no length to announce
	}
	if contentType == "" {
		contentType = "application/x-www-form-urlencoded"
	}
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, string(b)}
}

// postJSON posts a JSON body with its length, anonymously.
func postJSON(t *testing.T, url, body string) response {
	t.Helper()
	return post(t, url, "application/json", "", []byte(body), int64(len(body)))
}

func recordsURL(n *gateway.Node, stream string) string {
	return "http://" + n.HTTPAddr().String() + "/v1/streams/" + stream + "/records"
}

// stored is a record read back from a spool, with where it is.
type stored struct {
	spool.Position
	spool.Record
}

// storedRecords stops n and reads every record of stream from its spool,
// by partition, then offset.
func storedRecords(t *testing.T, n *gateway.Node, cfg config.Config, stream string) []stored {
	t.Helper()
	if err := n.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	sp, err := spool.Open(filepath.Join(cfg.DataDir, gateway.SpoolDir), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	var out []stored
	for _, sc := range sp.Streams() {
		if sc.Name != stream {
			continue
		}
		for p := range sc.Partitions {
			from := uint64(0)
			for {
				entries, err := sp.Read(stream, p, from, 1<<30)
				if err != nil {
					t.Fatal(err)
				}
				if len(entries) == 0 {
					break
				}
				for _, e := range entries {
					recs, err := e.Records()
					if err != nil {
						t.Fatal(err)
					}
					for i, r := range recs {
						out = append(out, stored{spool.Position{Partition: p, Offset: e.Offset() + uint64(i)}, r})
					}
					from = e.NextOffset()
				}
			}
		}
	}
	return out
}

func anonymousConfig(t *testing.T) config.Config {
	cfg := testConfig(t)
	cfg.HTTP.AllowAnonymous = true
	return cfg
}

// The curl command, and the forms of a record: each answered with
// offsets only once durable, and stored byte for byte as sent.
func TestHTTPIngestStoresRecordsAsSent(t *testing.T) {
	cfg := anonymousConfig(t)
	n := startNode(t, cfg)
	url := recordsURL(n, "telemetry")

	// curl -d '{"records":[{"key":"meter-1","value":{"v":229.8}}]}' URL
	curl := `{"records":[{"key":"meter-1","value":{"v":229.8}}]}`
	r := post(t, url, "", "", []byte(curl), int64(len(curl)))
	var first struct{ Offsets []map[string]any }
	if err := json.Unmarshal([]byte(r.body), &first); r.code != 200 || err != nil || len(first.Offsets) != 1 {
		t.Fatalf("curl example = %d %s", r.code, r.body)
	}

	before := time.Now()
	body := `{"records": [
		{"key": "meter-1", "value": { "z" : 1 , "big": 12345678901234567890, "s": "a \u00e9 b", "n": [1.50, -0] },
		 "time": "2026-11-29T10:00:00.123456789+01:00", "headers": {"unit": "V", "b": "2"}},
		{"value": "AAEC/w=="},
		{"value": "AAEC_w", "time": 1764410400123},
		{"key": "meter-2", "value": "", "time": null, "headers": null}
	]}`
	r = postJSON(t, url, body)
	after := time.Now()
	if r.code != 200 {
		t.Fatalf("POST = %d %s", r.code, r.body)
	}
	var resp struct {
		Offsets []struct {
			Partition int
			Offset    uint64 `json:",string"`
		}
	}
	if err := json.Unmarshal([]byte(r.body), &resp); err != nil || len(resp.Offsets) != 4 {
		t.Fatalf("answer %s: want 4 offsets (%v)", r.body, err)
	}
	if want := spool.Partition([]byte("meter-1"), 4); resp.Offsets[0].Partition != want {
		t.Errorf("meter-1 went to partition %d, want %d (the spool's placement)", resp.Offsets[0].Partition, want)
	}

	recs := storedRecords(t, n, cfg, "telemetry")
	at := func(i int) spool.Record {
		t.Helper()
		o := resp.Offsets[i]
		for _, s := range recs {
			if s.Partition == o.Partition && s.Offset == o.Offset {
				return s.Record
			}
		}
		t.Fatalf("record %d is not at %+v in the spool", i, o)
		return spool.Record{}
	}
	r0 := at(0)
	if want := `{"z":1,"big":12345678901234567890,"s":"a \u00e9 b","n":[1.50,-0]}`; string(r0.Value) != want {
		t.Errorf("object value stored as %s, want %s", r0.Value, want)
	}
	if string(r0.Key) != "meter-1" || !r0.Time.Equal(time.Date(2026, 11, 29, 9, 0, 0, 123456789, time.UTC)) {
		t.Errorf("record 0 key %q time %v", r0.Key, r0.Time)
	}
	if want := []spool.Header{{Key: "b", Value: []byte("2")}, {Key: "unit", Value: []byte("V")}}; !slices.EqualFunc(r0.Headers, want, func(a, b spool.Header) bool {
		return a.Key == b.Key && bytes.Equal(a.Value, b.Value)
	}) {
		t.Errorf("headers %q, want %q", r0.Headers, want)
	}
	for _, i := range []int{1, 2} {
		if v := at(i).Value; !bytes.Equal(v, []byte{0, 1, 2, 255}) {
			t.Errorf("record %d: base64 value stored as %x, want 000102ff", i, v)
		}
	}
	if r1 := at(1); r1.Key != nil || r1.Time.Before(before.Truncate(time.Nanosecond)) || r1.Time.After(after) {
		t.Errorf("record 1: key %q, time %v: want no key and the arrival time", r1.Key, r1.Time)
	}
	if tm := at(2).Time; !tm.Equal(time.UnixMilli(1764410400123)) {
		t.Errorf("record 2: time %v from Unix ms", tm)
	}
	if r3 := at(3); len(r3.Value) != 0 || string(r3.Key) != "meter-2" || len(r3.Headers) != 0 {
		t.Errorf("record 3 = %+v, want an empty value", r3)
	}
	if len(recs) != 5 {
		t.Errorf("the spool holds %d records, want 5", len(recs))
	}
}

// Each refusal has its HTTP status and names what is wrong; nothing of a
// refused request is stored.
func TestHTTPIngestErrors(t *testing.T) {
	cfg := testConfig(t)
	cfg.HTTP.MaxBodyBytes = 4 * config.KiB
	cfg.HTTP.MaxBulkBytes = 8 * config.KiB
	var writer, reader string
	cfg.HTTP.TokensFile, writer, reader = writeTokens(t, "telemetry,ghost", "alarms")
	n := startNode(t, cfg)
	url := recordsURL(n, "telemetry")
	big := `{"records":[{"value":"` + strings.Repeat("A", 5000) + `"}]}`

	cases := []struct {
		name              string
		stream, ctype     string
		token             string
		body              string
		length            int64 // 0: the body's
		code              int
		want              string // in the body
		wantHeader, value string
	}{
		{name: "bad value", body: `{"records":[{"value":{}},{"value":{}},{"value":{}},{"value":[1,2]}]}`,
			code: 400, want: `records[3].value: must be a JSON object or a base64 string`},
		{name: "number value", body: `{"records":[{"value":229.8}]}`, code: 400, want: `records[0].value: must be a JSON object or a base64 string`},
		{name: "bad base64", body: `{"records":[{"value":"not base64!"}]}`, code: 400, want: `records[0].value: must be a JSON object or a base64 string: illegal base64 data`},
		{name: "no value", body: `{"records":[{"key":"a"}]}`, code: 400, want: `records[0].value: missing`},
		{name: "bad time", body: `{"records":[{"value":{},"time":"yesterday"}]}`, code: 400, want: `records[0].time: must be an RFC 3339 time or a number of Unix milliseconds: \"yesterday\"`},
		{name: "time out of range", body: `{"records":[{"value":{},"time":"3000-01-01T00:00:00Z"}]}`, code: 400, want: `records[0].time: must be between`},
		{name: "bad header", body: `{"records":[{"value":{},"headers":{"a":1}}]}`, code: 400, want: `records[0].headers: must be an object whose values are strings`},
		{name: "unknown field", body: `{"records":[{"vaule":{}}]}`, code: 400, want: `records[0]: unknown field \"vaule\"; a record has key, value, time, headers`},
		{name: "no records", body: `{"records":[]}`, code: 400, want: `records: must hold at least one record`},
		{name: "not JSON", body: `{"records":[`, code: 400, want: `body: want a JSON object {\"records\": [...]} (invalid JSON at byte 12`},
		{name: "empty body", body: ``, code: 400, want: `body: empty`},
		{name: "unknown stream", stream: "ghost", body: `{"records":[{"value":{}}]}`, code: 404, want: `unknown stream: \"ghost\"`},
		{name: "no token", token: "-", body: `{"records":[{"value":{}}]}`, code: 401, want: `missing bearer token`,
			wantHeader: "WWW-Authenticate", value: `Bearer realm="tributary"`},
		{name: "wrong token", token: "trb_wrong", body: `{"records":[{"value":{}}]}`, code: 401, want: `unknown bearer token`},
		{name: "token of other streams", token: reader, body: `{"records":[{"value":{}}]}`, code: 403,
			want: `token not allowed on this stream: token \"reader\" may not write to stream \"telemetry\"`},
		{name: "no token, bad body", token: "-", body: `{`, code: 401, want: `missing bearer token`},
		{name: "over max_body_bytes", body: big, code: 413, want: `over http.max_body_bytes (4096 bytes)`},
		{name: "over max_body_bytes, chunked", body: big, length: -1, code: 413, want: `over http.max_body_bytes (4096 bytes)`},
		{name: "bulk over max_bulk_bytes", ctype: "application/x-ndjson", body: strings.Repeat(`{"value":{}}`+"\n", 1000),
			code: 413, want: `{"stored":0,"code":3,"message":"request body too large: over http.max_bulk_bytes (8192 bytes); split it into several requests"}`},
		{name: "bulk over max_bulk_bytes, chunked", ctype: "application/x-ndjson", body: strings.Repeat(`{"value":{}}`+"\n", 1000), length: -1,
			code: 413, want: `{"stored":630,"line":631,"code":3,"message":"line 631: request body too large: over http.max_bulk_bytes (8192 bytes)`}, // what came before is stored
		{name: "bulk without token", token: "-", ctype: "application/x-ndjson", body: `{"value":{}}`, code: 401, want: `"stored":0,"code":16,"message":"missing bearer token"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := url
			if tc.stream != "" {
				u = recordsURL(n, tc.stream)
			}
			token := writer
			switch tc.token {
			case "-":
				token = ""
			case "":
			default:
				token = tc.token
			}
			length := tc.length
			if length == 0 {
				length = int64(len(tc.body))
			}
			ctype := tc.ctype
			if ctype == "" {
				ctype = "application/json"
			}
			r := post(t, u, ctype, token, []byte(tc.body), length)
			if r.code != tc.code || !strings.Contains(r.body, tc.want) {
				t.Fatalf("= %d %s\nwant %d with %s", r.code, r.body, tc.code, tc.want)
			}
			if tc.wantHeader != "" && r.header.Get(tc.wantHeader) != tc.value {
				t.Errorf("%s: %q, want %q", tc.wantHeader, r.header.Get(tc.wantHeader), tc.value)
			}
		})
	}
	if recs := storedRecords(t, n, cfg, "telemetry"); len(recs) != 630 {
		t.Errorf("the spool holds %d records, want only the 630 of the bulk request cut short", len(recs))
	}
}

// writeTokens writes a tokens file with a token "writer" for writerStreams
// and "reader" for readerStreams, and returns its path and the two tokens.
func writeTokens(t *testing.T, writerStreams, readerStreams string) (path, writer, reader string) {
	t.Helper()
	var lines []string
	var toks []string
	for _, e := range []struct{ name, streams string }{{"writer", writerStreams}, {"reader", readerStreams}} {
		tok, err := tokens.New()
		if err != nil {
			t.Fatal(err)
		}
		line, err := tokens.Line(e.name, tok, strings.Split(e.streams, ","))
		if err != nil {
			t.Fatal(err)
		}
		lines, toks = append(lines, line), append(toks, tok)
	}
	path = filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte("# test tokens\n"+strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, toks[0], toks[1]
}

// fullStream makes a config whose "small" stream (block, 1MiB, stored
// uncompressed) has a forwarder cursor that has read nothing, so that
// nothing stored can be deleted to make room.
func fullStream(t *testing.T) config.Config {
	t.Helper()
	cfg := anonymousConfig(t)
	small := config.DefaultStream("small")
	small.Partitions, small.MaxBytes, small.Compression = 1, config.MiB, "none"
	cfg.Streams = append(cfg.Streams, small)
	cfg.Streams[0].MaxBytes = 64 * config.MiB
	sp, err := spool.Open(filepath.Join(cfg.DataDir, gateway.SpoolDir), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if err := sp.EnsureStream(spool.StreamConfig{Name: "small", Partitions: 1, MaxBytes: int64(config.MiB), Full: spool.Block, Uncompressed: true, MaxAge: 7 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Commit(context.Background(), new(spool.Txn).SetCursor("forwarder", "small", 0, 0, true)); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// A full block stream refuses with 503 and Retry-After, over JSON, NDJSON
// and gRPC (RESOURCE_EXHAUSTED), and what was refused is not stored.
func TestIngestIntoAFullStream(t *testing.T) {
	cfg := fullStream(t)
	n := startNode(t, cfg)
	url := recordsURL(n, "small")
	chunk := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 200<<10))
	accepted := 0
	var r response
	for range 10 {
		if r = postJSON(t, url, `{"records":[{"value":"`+chunk+`"}]}`); r.code != 200 {
			break
		}
		accepted++
	}
	if r.code != 503 || r.header.Get("Retry-After") != "1" || !strings.Contains(r.body, `"code":8`) || !strings.Contains(r.body, "stream is full") {
		t.Fatalf("after %d accepted: %d %v %s; want 503, Retry-After 1, RESOURCE_EXHAUSTED", accepted, r.code, r.header, r.body)
	}
	if accepted < 3 {
		t.Fatalf("only %d records of 200KiB fit in 1MiB", accepted)
	}

	bulk := fmt.Sprintf("{\"value\":\"%s\"}\n", chunk)
	if r := post(t, url, "application/x-ndjson", "", []byte(bulk), int64(len(bulk))); r.code != 503 || r.header.Get("Retry-After") != "1" ||
		!strings.Contains(r.body, `{"stored":0,"line":1,"code":8,"message":"line 1: stream is full`) {
		t.Fatalf("bulk into a full stream = %d %v %s", r.code, r.header, r.body)
	}

	_, err := tributaryv1.NewIngestServiceClient(dial(t, n)).Append(t.Context(), &tributaryv1.AppendRequest{
		Stream: "small", Records: []*tributaryv1.Record{{Value: bytes.Repeat([]byte{7}, 200<<10)}}})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("gRPC Append into a full stream = %v, want RESOURCE_EXHAUSTED", err)
	}
	if recs := storedRecords(t, n, cfg, "small"); len(recs) != accepted {
		t.Fatalf("the spool holds %d records, want the %d accepted", len(recs), accepted)
	}
}

// An NDJSON body is stored in chunks; a bad line stops it, and the answer
// says exactly which prefix is durable.
func TestNDJSONBulk(t *testing.T) {
	cfg := anonymousConfig(t)
	cfg.Spool.MaxBatchBytes = 64 * config.KiB // several chunks
	n := startNode(t, cfg)
	url := recordsURL(n, "telemetry")
	pad := strings.Repeat("x", 1000)
	line := func(i int) string { return fmt.Sprintf(`{"key":"k%d","value":{"i":%d,"pad":"%s"}}`, i, i, pad) }

	var good strings.Builder
	for i := range 300 {
		good.WriteString(line(i) + "\n")
		if i == 10 {
			good.WriteString("\r\n\n") // blank lines are skipped
		}
	}
	good.WriteString(line(300)) // the last line needs no newline
	r := post(t, url, "application/x-ndjson", "", []byte(good.String()), -1)
	if r.code != 200 || r.body != `{"stored":301}`+"\n" {
		t.Fatalf("good bulk = %d %s", r.code, r.body)
	}

	var bad strings.Builder
	for i := 1000; i < 1200; i++ {
		if i == 1150 {
			bad.WriteString(`{"key":"k1150","value":[1]}` + "\n")
			continue
		}
		bad.WriteString(line(i) + "\n")
	}
	r = post(t, url, "application/x-ndjson; charset=utf-8", "", []byte(bad.String()), int64(bad.Len()))
	want := `{"stored":150,"line":151,"code":3,"message":"line 151: value: must be a JSON object or a base64 string"}` + "\n"
	if r.code != 400 || r.body != want {
		t.Fatalf("bulk with a bad line = %d %s, want 400 %s", r.code, r.body, want)
	}

	recs := storedRecords(t, n, cfg, "telemetry")
	got := map[string]string{}
	for _, s := range recs {
		got[string(s.Key)] = string(s.Value)
	}
	if len(recs) != 301+150 || len(got) != len(recs) {
		t.Fatalf("the spool holds %d records (%d keys), want 451", len(recs), len(got))
	}
	for _, i := range append(seq(0, 301), seq(1000, 1150)...) {
		if want := fmt.Sprintf(`{"i":%d,"pad":"%s"}`, i, pad); got[fmt.Sprintf("k%d", i)] != want {
			t.Fatalf("k%d stored as %.40q, want %.40q", i, got[fmt.Sprintf("k%d", i)], want)
		}
	}
}

func seq(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

// gRPC clients append with a bearer token in the metadata.
func TestGRPCAppend(t *testing.T) {
	cfg := testConfig(t)
	var writer, reader string
	cfg.HTTP.TokensFile, writer, reader = writeTokens(t, "*", "alarms")
	n := startNode(t, cfg)
	client := tributaryv1.NewIngestServiceClient(dial(t, n))
	withToken := func(tok string) context.Context {
		return metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tok)
	}
	req := &tributaryv1.AppendRequest{Stream: "telemetry", Records: []*tributaryv1.Record{
		{Key: "meter-1", Value: []byte(`{"v":229.8}`), Time: timestamppb.New(time.UnixMilli(1764410400123)), Headers: map[string]string{"unit": "V"}},
		{Value: []byte{0, 1, 2}},
	}}
	resp, err := client.Append(withToken(writer), req)
	if err != nil || len(resp.GetOffsets()) != 2 {
		t.Fatalf("Append = %v, %v", resp, err)
	}
	for _, tc := range []struct {
		ctx  context.Context
		req  *tributaryv1.AppendRequest
		code codes.Code
		msg  string
	}{
		{t.Context(), req, codes.Unauthenticated, "missing bearer token"},
		{withToken("trb_nope"), req, codes.Unauthenticated, "unknown bearer token"},
		{withToken(reader), req, codes.PermissionDenied, `token "reader" may not write to stream "telemetry"`},
		{withToken(writer), &tributaryv1.AppendRequest{Stream: "ghost", Records: req.Records}, codes.NotFound, `unknown stream`},
		{withToken(writer), &tributaryv1.AppendRequest{Stream: "telemetry"}, codes.InvalidArgument, "records: must hold at least one record"},
		{withToken(writer), &tributaryv1.AppendRequest{Stream: "telemetry", Records: []*tributaryv1.Record{{}, {Time: &timestamppb.Timestamp{Seconds: 1 << 40}}}},
			codes.InvalidArgument, "records[1].time: "},
		{withToken(writer), &tributaryv1.AppendRequest{Stream: "telemetry", Records: []*tributaryv1.Record{{Value: make([]byte, 5<<20)}}},
			codes.InvalidArgument, "too large"},
	} {
		_, err := client.Append(tc.ctx, tc.req)
		if status.Code(err) != tc.code || !strings.Contains(status.Convert(err).Message(), tc.msg) {
			t.Errorf("Append = %v, want %v with %q", err, tc.code, tc.msg)
		}
	}

	_, body := get(t, "http://"+n.HTTPAddr().String()+"/metrics")
	for _, want := range []string{`tributary_api_appended_records_total{stream="telemetry",transport="grpc"} 2`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	recs := storedRecords(t, n, cfg, "telemetry")
	if len(recs) != 2 {
		t.Fatalf("the spool holds %d records, want 2", len(recs))
	}
	for _, s := range recs {
		if string(s.Key) == "meter-1" && (string(s.Value) != `{"v":229.8}` || !s.Time.Equal(time.UnixMilli(1764410400123)) || s.Headers[0].Key != "unit") {
			t.Errorf("meter-1 stored as %+v", s.Record)
		}
	}
}

// The request counter names the code and the route.
func TestHTTPRequestMetrics(t *testing.T) {
	n := startNode(t, anonymousConfig(t))
	base := "http://" + n.HTTPAddr().String()
	postJSON(t, recordsURL(n, "telemetry"), `{"records":[{"value":{"v":1}}]}`)
	postJSON(t, recordsURL(n, "telemetry"), `{"records":[{"value":1}]}`)
	get(t, base+"/v1/node")
	get(t, base+"/nowhere")
	_, body := get(t, base+"/metrics")
	for _, want := range []string{
		`tributary_http_requests_total{code="200",route="POST /v1/streams/{stream}/records"} 1`,
		`tributary_http_requests_total{code="400",route="POST /v1/streams/{stream}/records"} 1`,
		`tributary_http_requests_total{code="200",route="GET /v1/node"} 1`,
		`tributary_http_requests_total{code="404",route="other"} 1`,
		`tributary_api_appended_records_total{stream="telemetry",transport="http"} 1`,
		`tributary_api_appended_bytes_total{stream="telemetry",transport="http"} 23`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// Health, readiness, metrics and GET /v1/node need no token (reads do:
// see readauth_test.go).
func TestProbesAndMetricsNeedNoToken(t *testing.T) {
	cfg := testConfig(t)
	cfg.HTTP.TokensFile, _, _ = writeTokens(t, "*", "*")
	n := startNode(t, cfg)
	base := "http://" + n.HTTPAddr().String()
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/v1/node"} {
		if code, body := get(t, base+path); code != 200 {
			t.Errorf("GET %s = %d %s", path, code, body)
		}
	}
	if r := postJSON(t, recordsURL(n, "telemetry"), `{"records":[{"value":{}}]}`); r.code != 401 {
		t.Errorf("ingest without a token = %d %s", r.code, r.body)
	}
}

// A hub takes no records: gRPC UNIMPLEMENTED, REST 404.
func TestHubServesNoIngest(t *testing.T) {
	cfg := config.Default(config.RoleHub)
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.HTTP.Listen, cfg.GRPC.Listen = "127.0.0.1:0", "127.0.0.1:0"
	n := startNode(t, cfg)
	if r := postJSON(t, recordsURL(n, "telemetry"), `{"records":[{"value":{}}]}`); r.code != 404 {
		t.Errorf("REST ingest on a hub = %d %s, want 404", r.code, r.body)
	}
	_, err := tributaryv1.NewIngestServiceClient(dial(t, n)).Append(t.Context(), &tributaryv1.AppendRequest{Stream: "telemetry"})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("gRPC Append on a hub = %v, want UNIMPLEMENTED", err)
	}
}

// A bad tokens file stops the node from starting, naming file and line.
func TestBadTokensFile(t *testing.T) {
	cfg := testConfig(t)
	cfg.HTTP.TokensFile = filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(cfg.HTTP.TokensFile, []byte("# tokens\nmeter-gw abc telemetry\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := gateway.New(cfg, nil)
	if want := "http.tokens_file: " + cfg.HTTP.TokensFile + ":2: meter-gw: the hash must be 64 hex digits"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("New = %v, want %q", err, want)
	}
}
