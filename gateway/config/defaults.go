package config

import "time"

// Default returns the configuration a node of the given role has before its
// config file is read. It is the one place where defaults are written down:
//
//	key                        edge                hub
//	role                       edge                hub
//	site                       none; required      none; not allowed
//	data_dir                   ./data/edge         ./data/hub
//	http.listen                127.0.0.1:8080      127.0.0.1:8090
//	http.tls.*                 none (plaintext)    none (plaintext)
//	http.read_header_timeout   10s                 10s
//	http.max_header_bytes      64KiB               64KiB
//	http.max_body_bytes        4MiB                4MiB
//	http.max_bulk_bytes        256MiB              256MiB
//	http.tokens_file           "" (reads open)     "" (reads open)
//	http.allow_anonymous       false               false
//	grpc.listen                127.0.0.1:9090      127.0.0.1:9091
//	grpc.tls.*                 none (plaintext)    none (plaintext)
//	grpc.max_recv_msg_size     16MiB               16MiB
//	shutdown_timeout           10s                 10s
//	mqtt.listen                127.0.0.1:1883      "" (off)
//	mqtt.tls.listen            "" (off)            "" (off)
//	mqtt.tls.cert_file         none                none
//	mqtt.tls.key_file          none                none
//	mqtt.tls.client_ca_file    none                none
//	mqtt.tls.require_client_cert false             false
//	mqtt.websocket.listen      "" (off)            "" (off)
//	mqtt.websocket.path        /mqtt               /mqtt
//	mqtt.websocket.tls         false               false
//	mqtt.allow_anonymous       false               false
//	mqtt.password_file         none                none
//	mqtt.acl                   none (all allowed)  none
//	mqtt.limits.max_clients    10000               10000
//	mqtt.limits.max_inflight   1024                1024
//	mqtt.limits.max_packet_size 256KiB             256KiB
//	mqtt.limits.max_topic_length 512               512
//	mqtt.limits.max_message_rate 0 (none)          0 (none)
//	mqtt.limits.max_session_expiry 1d              1d
//	mqtt.limits.max_write_queue 1024               1024
//	mqtt.limits.max_retained   10000               10000
//	mqtt.limits.connect_timeout 10s                10s
//	mqtt.routes                none                none
//	mqtt.unrouted              drop                drop
//	upstream.hub               "" (none)           ""; not allowed
//	upstream.alternates        none                -
//	upstream.plaintext         false (TLS)         -
//	upstream.tls.*             none (system CAs)   -
//	upstream.token_file        none                -
//	upstream.streams           all streams         -
//	upstream.bandwidth         0 (no cap)          -
//	upstream.window            32                  -
//	upstream.heartbeat         5s                  -
//	replication.listen         ""; not allowed     "" (off: it needs credentials)
//	replication.plaintext      -                   false (TLS)
//	replication.tls.*          -                   none
//	replication.tokens_file    -                   none
//	replication.allow_anonymous -                  false
//	replication.stream         -                   {stream}
//	spool.linger               2ms                 2ms
//	spool.max_batch_bytes      4MiB                4MiB
//	streams                    one: telemetry      one: telemetry
//	pipelines                  none                none; not allowed
//
// and for each entry of streams, the keys it leaves out:
//
//	name                       none; required
//	partitions                 4
//	max_bytes                  1GiB
//	max_age                    7d
//	full                       block
//	priority                   0
//	compression                zstd
//
// and for each entry of pipelines (see the aggregator package):
//
//	name, from, to, steps      none; required
//	allowed_lateness           0s
//	late                       drop
//	steps[].deadband           absolute 0, relative 0 (0: off; both off:
//	                           any change), heartbeat 0 (none)
//	steps[].downsample         mode required: first, last or mean
//	steps[].window             slide: size (tumbling); group_by: [key]
//
// Edge and hub listen on different ports so that both can run on one machine.
// A role other than edge or hub gets the edge defaults, with that role and a
// data_dir named after it; such a Config fails Validate.
func Default(role Role) Config {
	httpListen, grpcListen, mqttListen := "127.0.0.1:8080", "127.0.0.1:9090", "127.0.0.1:1883"
	if role == RoleHub {
		httpListen, grpcListen, mqttListen = "127.0.0.1:8090", "127.0.0.1:9091", ""
	}
	return Config{
		Role:    role,
		DataDir: "./data/" + string(role),
		HTTP: HTTP{
			Listen:            httpListen,
			ReadHeaderTimeout: Duration(10 * time.Second),
			MaxHeaderBytes:    64 * KiB,
			MaxBodyBytes:      4 * MiB,
			MaxBulkBytes:      256 * MiB,
		},
		GRPC: GRPC{
			Listen:         grpcListen,
			MaxRecvMsgSize: 16 * MiB,
		},
		ShutdownTimeout: Duration(10 * time.Second),
		MQTT: MQTT{
			Listen:    mqttListen,
			WebSocket: MQTTWebSocket{Path: "/mqtt"},
			Limits: MQTTLimits{
				MaxClients:       10000,
				MaxInflight:      1024,
				MaxPacketSize:    256 * KiB,
				MaxTopicLength:   512,
				MaxSessionExpiry: Day,
				MaxWriteQueue:    1024,
				MaxRetained:      10000,
				ConnectTimeout:   Duration(10 * time.Second),
			},
			Unrouted: "drop",
		},
		Upstream:    Upstream{Window: 32, Heartbeat: Duration(5 * time.Second), Kafka: defaultKafka("tributary-edge")},
		Replication: Replication{Stream: "{stream}", Sink: SinkSpool, MaxPendingBytes: 256 * MiB, Kafka: defaultKafka("tributary-hub")},
		Spool: Spool{
			Linger:        Duration(2 * time.Millisecond),
			MaxBatchBytes: 4 * MiB,
		},
		Streams: []Stream{DefaultStream("telemetry")},
	}
}

// DefaultStream is a stream entry with every key at its default.
func DefaultStream(name string) Stream {
	var s Stream
	s.setDefaults()
	s.Name = name
	return s
}

func (s *Stream) setDefaults() {
	*s = Stream{
		Partitions:  4,
		MaxBytes:    GiB,
		MaxAge:      7 * Day,
		Full:        "block",
		Compression: "zstd",
	}
}
