package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// configsDir holds the example config files users copy.
const configsDir = "../../configs"

func TestExampleConfigsLoad(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(configsDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("found %d example configs in %s, want at least edge.yaml and hub.yaml", len(files), configsDir)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			cfg, err := Load(file)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if errs := cfg.Validate(); len(errs) > 0 {
				t.Fatalf("Validate: %v", Errors(errs))
			}
		})
	}
}

// TestExampleConfigsShowDefaults checks that the example files set what
// they say is the default to the default, so the two cannot drift apart.
func TestExampleConfigsShowDefaults(t *testing.T) {
	for _, role := range []Role{RoleEdge, RoleHub} {
		cfg, err := Load(filepath.Join(configsDir, string(role)+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		want := Default(role)
		want.Site = cfg.Site
		want.Streams = cfg.Streams                         // the examples show several streams,
		want.Pipelines = cfg.Pipelines                     // a pipeline,
		want.MQTT.Routes = cfg.MQTT.Routes                 // routes,
		want.MQTT.AllowAnonymous = cfg.MQTT.AllowAnonymous // and the demo's anonymous access
		want.HTTP.AllowAnonymous = cfg.HTTP.AllowAnonymous // over MQTT and HTTP,
		want.Upstream.Hub = cfg.Upstream.Hub               // the hub on loopback
		want.Upstream.Plaintext = cfg.Upstream.Plaintext
		want.Replication.Listen = cfg.Replication.Listen
		want.Replication.Plaintext = cfg.Replication.Plaintext
		want.Replication.AllowAnonymous = cfg.Replication.AllowAnonymous
		if !reflect.DeepEqual(*cfg, want) {
			t.Errorf("%s.yaml:\n got %+v\nwant %+v", role, *cfg, want)
		}
	}
}

// A stream entry takes the default of every key it leaves out.
func TestStreamEntriesTakeDefaults(t *testing.T) {
	cfg, err := Parse("s.yaml", []byte("role: hub\nstreams:\n  - name: a\n  - name: b\n    partitions: 2\n    max_age: 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	b := DefaultStream("b")
	b.Partitions, b.MaxAge = 2, 0
	if want := []Stream{DefaultStream("a"), b}; !reflect.DeepEqual(cfg.Streams, want) {
		t.Fatalf("streams = %+v, want %+v", cfg.Streams, want)
	}
	if len(Default(RoleEdge).Streams) != 1 || Default(RoleEdge).Streams[0] != DefaultStream("telemetry") {
		t.Fatalf("default streams = %+v", Default(RoleEdge).Streams)
	}
}

// badConfigs maps each file in configs/testdata to the exact error it must
// give. Every *.bad.yaml file must be here and every entry must have a file.
var badConfigs = map[string]string{
	"duplicate-key.bad.yaml":    `duplicate-key.bad.yaml:6: data_dir: duplicate key (first at line 3)`,
	"duration-no-unit.bad.yaml": `duration-no-unit.bad.yaml:4: http.read_header_timeout: invalid duration "30": want a number with a unit ns, us, ms, s, m, h, d (e.g. 30s, 168h, 7d)`,
	"duration-unit.bad.yaml":    `duration-unit.bad.yaml:3: shutdown_timeout: invalid duration "30sec": want a number with a unit ns, us, ms, s, m, h, d (e.g. 30s, 168h, 7d)`,
	"edge-no-site.bad.yaml":     `edge-no-site.bad.yaml:1: site: missing; an edge node needs its site id: 1 to 63 of a-z, 0-9 and '-', starting with a letter or digit (e.g. plant-01)`,
	"empty.bad.yaml":            `empty.bad.yaml:1: the file holds no settings; want a mapping with keys role, site, data_dir, http, grpc, shutdown_timeout, mqtt, upstream, replication, spool, streams, pipelines`,
	"hub-with-site.bad.yaml":    `hub-with-site.bad.yaml:2: site: not allowed for a hub; remove it (a hub serves many sites)`,
	"list-document.bad.yaml":    `list-document.bad.yaml:1: want a mapping with keys role, site, data_dir, http, grpc, shutdown_timeout, mqtt, upstream, replication, spool, streams, pipelines; got a list`,
	"kafka.bad.yaml": `kafka.bad.yaml:4: replication.kafka.brokers: at least one broker (host:port) is required
kafka.bad.yaml:5: replication.kafka.topic: must contain {stream} (and may contain {site}), e.g. "{stream}" or "{site}-{stream}"; got "{site}"
kafka.bad.yaml:6: replication.kafka.checkpoint_topic: "check points" is not a Kafka topic name (1 to 249 of a-z, A-Z, 0-9, '.', '_', '-')
kafka.bad.yaml:7: replication.kafka.compression: must be one of: none, gzip, snappy, lz4, zstd; got "brotli"
kafka.bad.yaml:8: replication.kafka.max_record_bytes: must be between 1KiB and 32MiB, got 64MiB
kafka.bad.yaml:9: replication.kafka.sasl.password_file: required with sasl
kafka.bad.yaml:10: replication.kafka.sasl.mechanism: must be one of: plain, scram-sha-256, scram-sha-512; got "gssapi"`,
	"upstream-kafka-no-brokers.bad.yaml": `upstream-kafka-no-brokers.bad.yaml:4: upstream.kafka.brokers: at least one broker (host:port) is required`,
	"upstream-kafka.bad.yaml":            `upstream-kafka.bad.yaml:5: upstream.kafka: upstream.hub and upstream.kafka exclude each other: forward to a hub or straight to Kafka; remove one`,
	"upstream-kafka-values.bad.yaml": `upstream-kafka-values.bad.yaml:5: upstream.kafka: alternates, plaintext, tls and token_file are for a hub; Kafka takes kafka.tls and kafka.sasl
upstream-kafka-values.bad.yaml:6: upstream.kafka.brokers[0]: want host:port such as 127.0.0.1:8080, or :8080 for all interfaces; got "kafka"
upstream-kafka-values.bad.yaml:7: upstream.kafka.compression: must be one of: none, gzip, snappy, lz4, zstd; got "brotli"
upstream-kafka-values.bad.yaml:8: upstream.kafka.max_record_bytes: must be between 1KiB and 32MiB, got 512B`,
	"sink.bad.yaml":           `sink.bad.yaml:3: replication.sink: must be spool or kafka; got "s3"`,
	"listen-no-port.bad.yaml": `listen-no-port.bad.yaml:4: http.listen: want host:port such as 127.0.0.1:8080, or :8080 for all interfaces; got "localhost"`,
	"missing-value.bad.yaml":  `missing-value.bad.yaml:3: shutdown_timeout: missing value; write one, or delete the key to use the default`,
	"out-of-range.bad.yaml": `out-of-range.bad.yaml:3: grpc.max_recv_msg_size: must be between 1KiB and 256MiB, got 1GiB
out-of-range.bad.yaml:4: shutdown_timeout: must be between 1s and 10m0s, got 0s`,
	"port-range.bad.yaml":   `port-range.bad.yaml:4: grpc.listen: port must be a number from 0 to 65535, got "90900"`,
	"role-bad.bad.yaml":     `role-bad.bad.yaml:1: role: must be one of: edge, hub; got "gateway"`,
	"role-missing.bad.yaml": `role-missing.bad.yaml:1: role: missing; must be one of: edge, hub`,
	"replication.bad.yaml": `replication.bad.yaml:2: replication: no site can get in: set tls.client_ca_file, tokens_file or allow_anonymous
replication.bad.yaml:3: replication.listen: "127.0.0.1:9091" clashes with http.listen or grpc.listen; use another port
replication.bad.yaml:4: replication.stream: must contain {stream} (and may contain {site}), e.g. "{stream}" or "{site}-{stream}"; got "{site}-data"
replication.bad.yaml:5: replication.tls: cert_file and key_file are required (or set plaintext: true on a trusted network)`,
	"upstream.bad.yaml": `upstream.bad.yaml:4: upstream.hub: want host:port such as 127.0.0.1:8080, or :8080 for all interfaces; got "hub.example.com"
upstream.bad.yaml:5: upstream.plaintext: plaintext and upstream.tls exclude each other; remove one
upstream.bad.yaml:8: upstream.streams[1]: stream "nope" is not in streams
upstream.bad.yaml:9: upstream.window: must be between 1 and 1024, got 0
upstream.bad.yaml:10: upstream.token_file: open no-such.token: no such file or directory
upstream.bad.yaml:12: replication.listen: not allowed for an edge node (hubs serve replication); remove it`,
	"same-port-as-default.bad.yaml": `same-port-as-default.bad.yaml:4: http.listen: "127.0.0.1:9091" clashes with grpc.listen "127.0.0.1:9091"; use another port`,
	"same-port.bad.yaml":            `same-port.bad.yaml:7: grpc.listen: "127.0.0.1:8080" clashes with http.listen ":8080"; use another port`,
	"spool-range.bad.yaml": `spool-range.bad.yaml:3: spool.linger: must be between 0s and 1s, got 2s
spool-range.bad.yaml:4: spool.max_batch_bytes: must be between 64KiB and 32MiB, got 1GiB`,
	"streams-duplicate.bad.yaml": `streams-duplicate.bad.yaml:6: streams[2].name: stream "telemetry" is already defined at streams[0]`,
	"streams-values.bad.yaml": `streams-values.bad.yaml:5: streams[0].partitions: must be between 1 and 1024, got 0
streams-values.bad.yaml:6: streams[0].max_bytes: must be between 1MiB and 64TiB, got 512KiB
streams-values.bad.yaml:7: streams[0].full: must be one of: block, drop_oldest; got "drop"
streams-values.bad.yaml:8: streams[0].compression: must be one of: zstd, none; got "gzip"
streams-values.bad.yaml:9: streams[0].priority: must be between -100 and 100, got 500
streams-values.bad.yaml:10: streams[1].name: must be 1 to 128 of a-z, A-Z, 0-9, '.', '_', '-'; got "raw data"
streams-values.bad.yaml:11: streams[1].max_age: invalid duration "-1h": must not be negative`,
	"hub-anonymous-reads.bad.yaml": `hub-anonymous-reads.bad.yaml:6: http.allow_anonymous: on a hub it lets reads in without a token when http.tokens_file is set; without tokens_file reads are open already: set tokens_file, or remove it`,
	"api-tls.bad.yaml": `api-tls.bad.yaml:5: http.tls: cert_file and key_file are required to serve TLS (client_ca_file alone is not enough)
api-tls.bad.yaml:8: grpc.tls: cert_file no-such.crt, key_file no-such.key: open no-such.crt: no such file or directory`,
	"http-ingest-range.bad.yaml": `http-ingest-range.bad.yaml:4: http.max_body_bytes: must be between 1KiB and 256MiB, got 512B
http-ingest-range.bad.yaml:5: http.max_bulk_bytes: must be between 1KiB and 1TiB, got 2TiB`,
	"hub-with-mqtt.bad.yaml": `hub-with-mqtt.bad.yaml:3: mqtt.listen: not allowed for a hub (edge nodes ingest MQTT); remove it`,
	"mqtt-routes.bad.yaml": `mqtt-routes.bad.yaml:6: mqtt.limits.max_inflight: must be between 1 and 65535, got 0
mqtt-routes.bad.yaml:9: mqtt.routes[0].stream: stream "telemetri" is not in streams
mqtt-routes.bad.yaml:10: mqtt.routes[1]: route "sensors/#/x": # must be the last level
mqtt-routes.bad.yaml:12: mqtt.routes[2]: route "meters/{id}": key uses {device}, which the topic does not capture
mqtt-routes.bad.yaml:15: mqtt.unrouted: must be drop or the name of a stream in streams; got "lost+found"`,
	"mqtt-security.bad.yaml": `mqtt-security.bad.yaml:5: mqtt.password_file: password file: open no-such.passwd: no such file or directory
mqtt-security.bad.yaml:6: mqtt.tls.listen: must be set when other mqtt.tls keys are
mqtt-security.bad.yaml:9: mqtt.websocket.listen: "127.0.0.1:1883" clashes with another listener (http, grpc or mqtt); use another port
mqtt-security.bad.yaml:10: mqtt.websocket.tls: needs mqtt.tls.cert_file and key_file; set mqtt.tls.listen and them
mqtt-security.bad.yaml:12: mqtt.acl[0]: users: name at least one user, or "*" for every client
mqtt-security.bad.yaml:14: mqtt.acl[1]: publish "a/#/b": '#' must be the last level
mqtt-security.bad.yaml:17: mqtt.limits.max_clients: must be between 1 and 1000000, got 0
mqtt-security.bad.yaml:18: mqtt.limits.max_topic_length: must be between 16 and 65535, got 8
mqtt-security.bad.yaml:19: mqtt.limits.connect_timeout: must be between 1s and 10m0s, got 0s`,
	"mqtt-tls-files.bad.yaml": `mqtt-tls-files.bad.yaml:4: mqtt.tls: cert_file no-such.crt, key_file no-such.key: open no-such.crt: no such file or directory
mqtt-tls-files.bad.yaml:8: mqtt.tls.require_client_cert: needs client_ca_file, the CAs that sign client certificates`,
	"pipelines.bad.yaml": `pipelines.bad.yaml:9: pipelines[0].to: is the same stream as from ("telemetry"); a pipeline writes to another stream
pipelines.bad.yaml:15: pipelines[1].allowed_lateness: must be between 0s and 7d, got 30d
pipelines.bad.yaml:17: pipelines[1].steps[0].deadband: absolute must be a finite number ≥ 0, got -1
pipelines.bad.yaml:18: pipelines[2].name: pipeline "rbe" is already defined at pipelines[1]
pipelines.bad.yaml:19: pipelines[2].from: stream "telemetri" is not in streams
pipelines.bad.yaml:21: pipelines[2].late: must be one of: drop, correct; got "fix"
pipelines.bad.yaml:23: pipelines[2].steps[0]: a step needs one of: filter, map, deadband, downsample, window
pipelines.bad.yaml:23: pipelines[2].steps[0].aggregate: unknown key; allowed here: filter, map, deadband, downsample, window
pipelines.bad.yaml:29: pipelines[3].steps[1].filter: expression line 1, column 3: unexpected token EOF
pipelines.bad.yaml:34: pipelines[4].steps[0]: has filter and map; a step is exactly one of them (make several steps)
pipelines.bad.yaml:40: pipelines[5].steps[0].map: expected map, but got int
pipelines.bad.yaml:45: pipelines[6].steps[0].window: slide 2m0s must not be larger than size 1m0s
pipelines.bad.yaml:52: pipelines[7].steps: at least one step is required: filter, map, deadband, downsample or window`,
	"several.bad.yaml": `several.bad.yaml:3: site: must be 1 to 63 of a-z, 0-9 and '-', starting with a letter or digit (e.g. plant-01); got "plant 01"
several.bad.yaml:4: data_dir: must not be empty; it is the directory where the node keeps its data
several.bad.yaml:6: http.listen: port must be a number from 0 to 65535, got "http"
several.bad.yaml:7: http.read_header_timeout: invalid duration "5 seconds": want a number with a unit ns, us, ms, s, m, h, d (e.g. 30s, 168h, 7d)
several.bad.yaml:9: http.gzip: unknown key; allowed here: listen, tls, read_header_timeout, max_header_bytes, max_body_bytes, max_bulk_bytes, tokens_file, allow_anonymous
several.bad.yaml:12: grpc.max_recv_msg_size: must be between 1KiB and 256MiB, got 512B
several.bad.yaml:13: shutdown_timeout: must be between 1s and 10m0s, got 1h0m0s`,
	"site-chars.bad.yaml":         `site-chars.bad.yaml:2: site: must be 1 to 63 of a-z, 0-9 and '-', starting with a letter or digit (e.g. plant-01); got "Plant_01"`,
	"size-negative.bad.yaml":      `size-negative.bad.yaml:4: http.max_header_bytes: invalid size "-1": must not be negative`,
	"size-unit.bad.yaml":          `size-unit.bad.yaml:4: grpc.max_recv_msg_size: invalid size "16M": want a number of bytes with an optional unit B, KB, MB, GB, TB, KiB, MiB, GiB, TiB (e.g. 64KiB, 2GiB)`,
	"syntax.bad.yaml":             `syntax.bad.yaml:5: invalid YAML: mapping values are not allowed in this context`,
	"two-documents.bad.yaml":      `two-documents.bad.yaml:4: a second YAML document starts here; a config file holds exactly one`,
	"unknown-key.bad.yaml":        `unknown-key.bad.yaml:4: listen: unknown key; allowed here: role, site, data_dir, http, grpc, shutdown_timeout, mqtt, upstream, replication, spool, streams, pipelines`,
	"unknown-nested-key.bad.yaml": `unknown-nested-key.bad.yaml:4: http.listn: unknown key (did you mean "listen"?); allowed here: listen, tls, read_header_timeout, max_header_bytes, max_body_bytes, max_bulk_bytes, tokens_file, allow_anonymous`,
	"wrong-kind.bad.yaml":         `wrong-kind.bad.yaml:5: http: want a mapping with keys listen, tls, read_header_timeout, max_header_bytes, max_body_bytes, max_bulk_bytes, tokens_file, allow_anonymous; got a list`,
}

func TestBadConfigs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(configsDir, "testdata", "*.bad.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, file := range files {
		name := filepath.Base(file)
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			want, ok := badConfigs[name]
			cfg, err := Load(file)
			got := errorText(err, file, name)
			if !ok {
				t.Fatalf("no entry in badConfigs; it gives:\n%q: %q,", name, got)
			}
			if cfg != nil || got != want {
				t.Fatalf("got config %v and error\n%s\nwant\n%s\nentry: %q: %q,", cfg, got, want, name, got)
			}
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error %T is not a non-empty Errors", err)
			}
		})
	}
	for name := range badConfigs {
		if !seen[name] {
			t.Errorf("badConfigs has %s, but there is no such file", name)
		}
	}
}

// errorText returns err's text with the file's path shortened to its name.
func errorText(err error, path, name string) string {
	if err == nil {
		return "<nil>"
	}
	return strings.ReplaceAll(err.Error(), path, name)
}

func TestDefaultsValidate(t *testing.T) {
	for _, role := range []Role{RoleEdge, RoleHub} {
		cfg := Default(role)
		if role == RoleEdge {
			cfg.Site = "plant-01"
		}
		if errs := cfg.Validate(); len(errs) > 0 {
			t.Errorf("Default(%s) fails Validate: %v", role, Errors(errs))
		}
	}
}

// TestValidatePathsAreKeys checks that every path Validate reports names a
// key of the file, so that Parse can find its line.
func TestValidatePathsAreKeys(t *testing.T) {
	for _, cfg := range []Config{
		{Role: "x", Site: "-", HTTP: HTTP{Listen: ":x"}, GRPC: GRPC{Listen: "x"}},
		{Role: RoleEdge, HTTP: HTTP{Listen: ":1"}, GRPC: GRPC{Listen: ":1"}},
		{Role: RoleHub, Site: "a", HTTP: HTTP{Listen: ":1"}, GRPC: GRPC{Listen: ":1"}},
	} {
		for _, e := range cfg.Validate() {
			if !isKey(reflect.TypeFor[Config](), e.Path) {
				t.Errorf("%v: %q is not a key", e, e.Path)
			}
		}
	}
}

// isKey reports whether path, such as "http.listen", names a key of a
// struct of type t.
func isKey(t reflect.Type, path string) bool {
	for name := range strings.SplitSeq(path, ".") {
		if t.Kind() != reflect.Struct {
			return false
		}
		fields := structFields(t)
		i := fields.find(name)
		if i < 0 {
			return false
		}
		t = t.FieldByIndex(fields[i].index).Type
	}
	return true
}

// TestMarshalRoundTrip checks that a Config written with yaml.Marshal reads
// back to the same Config, so sizes and durations format as they parse.
func TestMarshalRoundTrip(t *testing.T) {
	want := Default(RoleEdge)
	want.Site = "plant-01"
	want.HTTP.MaxHeaderBytes = 1536
	want.ShutdownTimeout = Duration(90 * time.Second)
	data, err := yaml.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse("marshalled.yaml", data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("got %+v\nwant %+v\nfrom\n%s", *got, want, data)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "absent.yaml"))
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "read config: ") {
		t.Fatalf("got %v, want a read config error wrapping os.ErrNotExist", err)
	}
}

// FuzzParse checks that Parse never panics, that every error it returns is
// an Errors whose entries all name the file, and that a config it accepts
// is valid and survives yaml.Marshal and Parse unchanged.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(configsDir, "*.yaml"))
	bad, _ := filepath.Glob(filepath.Join(configsDir, "testdata", "*.bad.yaml"))
	for _, file := range append(files, bad...) {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("f.yaml", data)
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 || cfg != nil {
				t.Fatalf("got %v and error %T %v, want nil and a non-empty Errors", cfg, err, err)
			}
			for _, e := range errs {
				if e.File != "f.yaml" || e.Msg == "" {
					t.Fatalf("error %#v lacks its file or message", e)
				}
			}
			return
		}
		if errs := cfg.Validate(); len(errs) > 0 {
			t.Fatalf("accepted an invalid config: %v", Errors(errs))
		}
		out, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse("f.yaml", out)
		if err != nil || !reflect.DeepEqual(back, cfg) {
			t.Fatalf("%+v marshals to\n%s\nwhich parses to %+v, %v", cfg, out, back, err)
		}
	})
}

// The example edge configs run on every platform the binary is built for
// (an edge box may be 32-bit ARM, where a spool holds at most 1.5 GiB:
// bbolt maps the whole file). A hub runs on a 64-bit server.
func TestExampleConfigsFitA32BitSpool(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(configsDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		cfg, err := Load(file)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if cfg.Role != RoleEdge {
			continue
		}
		var sum Size
		for _, s := range cfg.Streams {
			sum += s.MaxBytes
		}
		if sum > 1536*MiB {
			t.Errorf("%s: the streams' max_bytes add up to %v, more than a 32-bit platform's 1.5GiB", filepath.Base(file), sum)
		}
	}
}
