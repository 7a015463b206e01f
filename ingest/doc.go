// Package ingest takes data in: an embedded MQTT broker (mochi-mqtt) whose
// publishes on routed topics are appended to the spool and acknowledged
// only once durable, and the HTTP/gRPC ingest API (API), which answers only
// once a request's records are durable.
//
// # Basics
//
// Routes map topic templates to streams ("sensors/{site}/{device}/{metric}"
// → telemetry, key "{device}"); captures become record headers, with the
// topic. A route's format is raw (the payload as is) or json (a JSON object,
// optionally with the event time in a field).
//
// A QoS 1 PUBLISH is answered with a PUBACK (QoS 2: PUBREC) only after its
// record is committed and fsynced. Many publishes of one connection may wait
// for the spool at once (MaxInflight), and their acks still go out in the
// order the PUBLISHes came: see hook.go for how, around mochi, which writes
// its PUBACK as soon as the OnPublish hooks return. A durable publish is then
// delivered to local subscribers, so the node stays a usable broker. QoS 0
// is spooled the same way, without an ack.
//
// A publish that is not stored never gets a success ack: an MQTT 5 client at
// QoS 1 gets the reason (0x97 when the stream is full, 0x99 for a payload
// its route refuses, 0x80 otherwise); an MQTT 3.1.1 client gets no ack and
// sends it again. Topics no route matches are not stored (counted) unless
// CatchAll names a stream.
//
// # HTTP and gRPC
//
// API implements tributary.v1.IngestService: Append stores a request's
// records in one spool commit (all or none) and returns each one's
// partition and offset after the fsync. gRPC calls it directly; REST calls
// it through grpc-gateway, in the same process, at POST
// /v1/streams/{stream}/records. RecordsHandler sits in front of that route:
// it checks the token and limits the body (MaxBodyBytes) before anything is
// read, and serves the NDJSON form (Content-Type: application/x-ndjson)
// itself, streamed line by line and committed in chunks of at most
// MaxBatchBytes, each before the next is read (MaxBulkBytes bounds the
// body). At the first failure it stops and answers how many records are
// durable and the line it stopped at: the records of every line before it
// are stored, none from it on.
//
// A REST record's value is a JSON object, kept verbatim (compacted), or a
// base64 string: NewRESTMarshaler decodes an Append body with encoding/json
// and json.RawMessage (api_json.go) instead of protojson, because the proto
// value is bytes and the alternative, google.protobuf.Struct, turns numbers
// into float64 (12345678901234567890 would not survive) and reorders keys.
// Every other message goes to grpc-gateway's JSONPb. A record's time is RFC
// 3339 or Unix milliseconds, absent the arrival time; its headers are
// strings, stored sorted by name; no key lets the spool spread records.
//
// Tokens: a request sends "Bearer TOKEN" (the HTTP Authorization header,
// which grpc-gateway passes on as gRPC metadata, or the authorization
// metadata). A missing or unknown token is UNAUTHENTICATED (401), one not
// allowed on the stream PERMISSION_DENIED (403); AllowAnonymous admits
// requests without one. Errors map to codes in one place (codeOf), and
// HTTPErrorHandler gives REST its statuses: a full stream (spool.ErrFull)
// is RESOURCE_EXHAUSTED over gRPC and 503 with Retry-After over REST; a
// request too large for one commit is INVALID_ARGUMENT and 413.
//
// # Caveats
//
// MQTT has no authentication, ACL, TLS or WebSocket listener yet: a node
// admits clients only with mqtt.allow_anonymous, and should then listen on
// a trusted interface only. mochi-mqtt is carried with two fixes
// (third_party/mochi-mqtt-server, README.tributary.md there): v2.7.9, the
// newest release, panics on a truncated MQTT 5 SUBSCRIBE (upstream #501)
// and can deadlock in Server.Close; more fixes came from fuzzing.
//
// A connection with MaxInflight publishes waiting is not read until acks go
// out (TCP backpressure) rather than disconnected for exceeding its
// Receive Maximum. Delivery to local subscribers goes through mochi's
// inline client: subscribers see it as the origin, NoLocal does not apply,
// and MQTT 5 properties (user properties, content type, expiry) are not
// passed on. As MQTT asks, a route whose first level is a wildcard does not
// match topics starting with '$'. A QoS 2 PUBLISH sent again before its
// PUBREL is answered with a PUBREC and not stored again; once PUBCOMP is out
// the packet id is free, and a PUBLISH with it is a new message, as MQTT
// says. Will messages go straight to subscribers (mochi sends them without
// the publish hooks) and are not stored. An MQTT 3.1.1 client whose
// payload a route refuses is disconnected: that protocol has no other
// refusal.
//
// The ingest API reads the tokens file once, at startup: a changed file
// takes a restart. Tokens are plain bearer tokens, so HTTP and gRPC should
// run on a trusted network (or behind TLS) until the node terminates TLS
// itself. A JSON request is decoded whole (it is bounded by MaxBodyBytes),
// and must fit in one commit; bigger loads go through NDJSON. An NDJSON
// line may be at most 2×MaxBatchBytes long.
package ingest
