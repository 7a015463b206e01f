// Package ingest takes data in: an embedded MQTT broker (mochi-mqtt) whose
// publishes on routed topics are appended to the spool and acknowledged
// only once durable.
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
// # Caveats
//
// There is no authentication, ACL, TLS or WebSocket listener yet: a node
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
// match topics starting with '$'. QoS 2 is at least once for now: a duplicate PUBLISH sent
// before our PUBREC is stored again. Will messages go straight to
// subscribers (mochi sends them without the publish hooks) and are not
// stored. An MQTT 3.1.1 client whose payload a route refuses is
// disconnected: that protocol has no other refusal.
package ingest
