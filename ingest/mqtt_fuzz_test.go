package ingest

// Fuzz targets for the MQTT decoders that network bytes reach: the fixed
// header and its remaining length ((*mqtt.Client).ReadFixedHeader), each
// packet type's Decode as (*mqtt.Client).ReadPacket calls it, for a client
// on MQTT 3.1, 3.1.1 and 5, and Properties.Decode for every packet type.
//
// Not panicking is not enough; the invariants are:
//
//   - A packet that decodes encodes (its *Encode method) to bytes whose fixed
//     header decodes, whose remaining length is the body's, and whose body
//     decodes to an equal packet; encoding that packet again gives the same
//     bytes. Where mochi refuses to encode a decoded packet (a packet
//     identifier of 0 where one is required), its Validate method must refuse
//     the packet too, so the server never gets to use it.
//   - Every string decoded as an MQTT UTF-8 string is valid UTF-8 without
//     U+0000 [MQTT-1.5.4-1] [MQTT-1.5.4-2].
//   - Properties.Decode reads only the property bytes it says it consumed, and
//     they are within the buffer.
//   - The fixed header byte decodes iff its flags are valid for its type, and
//     encodes back to the same byte; the remaining length decodes iff it is a
//     Variable Byte Integer of at most four bytes, to the value the spec's
//     algorithm gives, and re-encodes in the fewest bytes to the same value.
//
// What mochi does not round-trip, and the comparison therefore leaves out or
// adjusts (see wireLoss and canonical):
//
//   - FixedHeader.Remaining: the encoder writes the length it needs. The
//     input's may differ: it may count bytes the decoder skips (trailing bytes
//     after a CONNECT's last field, a v3/v4 PUBACK's packet identifier, a
//     CONNACK's properties, a PINGREQ's or a v3/v4 DISCONNECT's body, ...).
//   - Connect's reserved flag bit (Packet.ReservedBit): always encoded as 0
//     [MQTT-2.1.3-1]; ConnectValidate refuses a packet that has it set.
//   - v5 PUBACK, PUBREC, PUBREL and PUBCOMP reason codes below 0x80 when the
//     packet has no properties: the encoder writes the reason code only if it
//     is an error or properties follow, because the server hands it QoS codes
//     (0x01, 0x02) as reason codes. A 0x10 (No matching subscribers) sent by
//     a client thus re-encodes as Success.
//   - Properties the encoder omits at their zero value or drops as invalid:
//     a Subscription Identifier of 0 (a protocol error; a SUBSCRIBE's filters
//     then take the next one as their Identifier), a Topic Alias of 0, a
//     Maximum QoS of 2 or more, a Response Topic with a wildcard. Others with
//     no presence flag (Message Expiry Interval, Content Type, Will Delay
//     Interval, Request Response Information, Receive Maximum, Topic Alias
//     Maximum, Maximum Packet Size) decode to the same zero value when absent.
//   - Empty and nil slices are not told apart.
//   - Mods and the broker's own fields (Origin, Created, Expiry, ...) are not
//     on the wire; decoding leaves them zero.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// packetCodec is one packet type's pair of methods.
type packetCodec struct {
	decode func(*packets.Packet, []byte) error
	encode func(*packets.Packet, *bytes.Buffer) error
}

var packetCodecs = map[byte]packetCodec{
	packets.Connect:     {(*packets.Packet).ConnectDecode, (*packets.Packet).ConnectEncode},
	packets.Connack:     {(*packets.Packet).ConnackDecode, (*packets.Packet).ConnackEncode},
	packets.Publish:     {(*packets.Packet).PublishDecode, (*packets.Packet).PublishEncode},
	packets.Puback:      {(*packets.Packet).PubackDecode, (*packets.Packet).PubackEncode},
	packets.Pubrec:      {(*packets.Packet).PubrecDecode, (*packets.Packet).PubrecEncode},
	packets.Pubrel:      {(*packets.Packet).PubrelDecode, (*packets.Packet).PubrelEncode},
	packets.Pubcomp:     {(*packets.Packet).PubcompDecode, (*packets.Packet).PubcompEncode},
	packets.Subscribe:   {(*packets.Packet).SubscribeDecode, (*packets.Packet).SubscribeEncode},
	packets.Suback:      {(*packets.Packet).SubackDecode, (*packets.Packet).SubackEncode},
	packets.Unsubscribe: {(*packets.Packet).UnsubscribeDecode, (*packets.Packet).UnsubscribeEncode},
	packets.Unsuback:    {(*packets.Packet).UnsubackDecode, (*packets.Packet).UnsubackEncode},
	packets.Pingreq:     {(*packets.Packet).PingreqDecode, (*packets.Packet).PingreqEncode},
	packets.Pingresp:    {(*packets.Packet).PingrespDecode, (*packets.Packet).PingrespEncode},
	packets.Disconnect:  {(*packets.Packet).DisconnectDecode, (*packets.Packet).DisconnectEncode},
	packets.Auth:        {(*packets.Packet).AuthDecode, (*packets.Packet).AuthEncode},
}

// wireMods lets the encoder write every property it knows: the server
// decides per client whether response information and problem information
// go out, which is not the decoder's business.
var wireMods = packets.Mods{AllowResponseInfo: true}

// protocolVersion maps a fuzzed byte to the protocol version of a connected
// client; ConnectValidate admits only 3 (MQIsdp), 4 and 5.
func protocolVersion(b byte) byte { return 3 + b%3 }

// splitRaw splits a whole packet into its fixed header's flags and its body.
func splitRaw(raw []byte) (flags byte, body []byte, ok bool) {
	if len(raw) == 0 {
		return 0, nil, false
	}
	r := bytes.NewReader(raw[1:])
	if _, _, err := packets.DecodeLength(r); err != nil {
		return 0, nil, false
	}
	return raw[0] & 0x0f, raw[len(raw)-r.Len():], true
}

// fuzzPacketType fuzzes one packet type's Decode: a header byte of that type
// with fuzzed flags (dropped, as by ReadFixedHeader, if they are invalid), a
// fuzzed body whose length is the remaining length, and a client protocol
// version of 3, 4 or 5, as ReadPacket sets them up.
func fuzzPacketType(f *testing.F, typ byte) {
	for _, c := range packets.TPacketData[typ] {
		flags, body, ok := splitRaw(c.RawBytes)
		if !ok || c.RawBytes[0]>>4 != typ {
			continue
		}
		for v := byte(0); v < 3; v++ {
			f.Add(v, flags, body)
		}
	}
	f.Add(byte(2), byte(0), []byte{})
	f.Add(byte(2), byte(2), []byte{})

	codec := packetCodecs[typ]
	f.Fuzz(func(t *testing.T, version, flags byte, body []byte) {
		var fh packets.FixedHeader
		if err := fh.Decode(typ<<4 | flags&0x0f); err != nil {
			return
		}
		fh.Remaining = len(body)
		pk := packets.Packet{ProtocolVersion: protocolVersion(version), FixedHeader: fh}
		if err := codec.decode(&pk, bytes.Clone(body)); err != nil {
			return
		}
		checkRoundTrip(t, pk)
	})
}

func FuzzConnectDecode(f *testing.F)     { fuzzPacketType(f, packets.Connect) }
func FuzzConnackDecode(f *testing.F)     { fuzzPacketType(f, packets.Connack) }
func FuzzPublishDecode(f *testing.F)     { fuzzPacketType(f, packets.Publish) }
func FuzzPubackDecode(f *testing.F)      { fuzzPacketType(f, packets.Puback) }
func FuzzPubrecDecode(f *testing.F)      { fuzzPacketType(f, packets.Pubrec) }
func FuzzPubrelDecode(f *testing.F)      { fuzzPacketType(f, packets.Pubrel) }
func FuzzPubcompDecode(f *testing.F)     { fuzzPacketType(f, packets.Pubcomp) }
func FuzzSubscribeDecode(f *testing.F)   { fuzzPacketType(f, packets.Subscribe) }
func FuzzSubackDecode(f *testing.F)      { fuzzPacketType(f, packets.Suback) }
func FuzzUnsubscribeDecode(f *testing.F) { fuzzPacketType(f, packets.Unsubscribe) }
func FuzzUnsubackDecode(f *testing.F)    { fuzzPacketType(f, packets.Unsuback) }
func FuzzPingreqDecode(f *testing.F)     { fuzzPacketType(f, packets.Pingreq) }
func FuzzPingrespDecode(f *testing.F)    { fuzzPacketType(f, packets.Pingresp) }
func FuzzDisconnectDecode(f *testing.F)  { fuzzPacketType(f, packets.Disconnect) }
func FuzzAuthDecode(f *testing.F)        { fuzzPacketType(f, packets.Auth) }

// checkRoundTrip checks a decoded packet against the invariants above.
func checkRoundTrip(t *testing.T, pk1 packets.Packet) {
	t.Helper()
	typ := pk1.FixedHeader.Type
	codec, ok := packetCodecs[typ]
	if !ok {
		t.Fatalf("decoded a packet of type %d", typ)
	}
	checkStrings(t, pk1)

	enc := pk1
	enc.Mods = wireMods
	var buf bytes.Buffer
	if err := codec.encode(&enc, &buf); err != nil {
		if !refusedConsistently(pk1, err) {
			t.Fatalf("a decoded %s does not encode: %v\npacket: %+v", packets.PacketNames[typ], err, pk1)
		}
		return
	}
	raw := bytes.Clone(buf.Bytes())
	pk2 := decodeWire(t, raw, pk1.ProtocolVersion)

	want, got := canonical(wireLoss(pk1)), canonical(pk2)
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("%s changed over encode and decode (decoded != re-decoded):\n%s\nwire: % x", packets.PacketNames[typ], fieldDiff(want, got), raw)
	}

	enc2 := pk2
	enc2.Mods = wireMods
	var buf2 bytes.Buffer
	if err := codec.encode(&enc2, &buf2); err != nil {
		t.Fatalf("%s decoded from mochi's own encoding does not encode: %v", packets.PacketNames[typ], err)
	}
	if !bytes.Equal(raw, buf2.Bytes()) {
		t.Fatalf("%s encodes differently the second time\n first: % x\nsecond: % x", packets.PacketNames[typ], raw, buf2.Bytes())
	}
}

// decodeWire decodes a whole encoded packet as ReadFixedHeader and
// ReadPacket would, failing the test on any error.
func decodeWire(t *testing.T, raw []byte, version byte) packets.Packet {
	t.Helper()
	var fh packets.FixedHeader
	if err := fh.Decode(raw[0]); err != nil {
		t.Fatalf("mochi encoded a fixed header it refuses: %v\nwire: % x", err, raw)
	}
	r := bytes.NewReader(raw[1:])
	rem, _, err := packets.DecodeLength(r)
	body := raw[len(raw)-r.Len():]
	if err != nil || rem != len(body) {
		t.Fatalf("encoded remaining length %d (%v) for a %d-byte body\nwire: % x", rem, err, len(body), raw)
	}
	fh.Remaining = rem
	pk := packets.Packet{ProtocolVersion: version, FixedHeader: fh}
	if err := packetCodecs[fh.Type].decode(&pk, body); err != nil {
		t.Fatalf("mochi's encoding of a decoded %s does not decode: %v\nwire: % x", packets.PacketNames[fh.Type], err, raw)
	}
	return pk
}

// refusedConsistently says whether an encoder's refusal is one that the
// packet's validation, which the server runs before using it, shares.
func refusedConsistently(pk packets.Packet, err error) bool {
	if !errors.Is(err, packets.ErrProtocolViolationNoPacketID) || pk.PacketID != 0 {
		return false
	}
	switch pk.FixedHeader.Type {
	case packets.Publish:
		return pk.FixedHeader.Qos > 0 && pk.PublishValidate(math.MaxUint16) != packets.CodeSuccess
	case packets.Subscribe:
		return pk.SubscribeValidate() != packets.CodeSuccess
	case packets.Unsubscribe:
		return pk.UnsubscribeValidate() != packets.CodeSuccess
	}
	return false
}

// wireLoss is what mochi's encoder makes of a packet: the fields it does not
// round-trip, as listed at the top of this file.
func wireLoss(pk packets.Packet) packets.Packet {
	pk.ReservedBit = 0
	pk.Properties = propsWireLoss(pk.Properties)
	pk.Connect.WillProperties = propsWireLoss(pk.Connect.WillProperties)
	switch pk.FixedHeader.Type {
	case packets.Subscribe:
		id := 0
		if ids := pk.Properties.SubscriptionIdentifier; len(ids) > 0 {
			id = ids[0]
		}
		filters := append(packets.Subscriptions(nil), pk.Filters...)
		for i := range filters {
			filters[i].Identifier = id
		}
		pk.Filters = filters
	case packets.Puback, packets.Pubrec, packets.Pubrel, packets.Pubcomp:
		if pk.ProtocolVersion == 5 && pk.ReasonCode < packets.ErrUnspecifiedError.Code && !propsOnWire(pk.FixedHeader.Type, pk.Properties) {
			pk.ReasonCode = packets.CodeSuccess.Code
		}
	}
	return pk
}

func propsWireLoss(p packets.Properties) packets.Properties {
	if strings.ContainsAny(p.ResponseTopic, "+#") {
		p.ResponseTopic = ""
	}
	var ids []int
	for _, id := range p.SubscriptionIdentifier {
		if id > 0 {
			ids = append(ids, id)
		}
	}
	p.SubscriptionIdentifier = ids
	if p.TopicAlias == 0 {
		p.TopicAliasFlag = false
	}
	if p.MaximumQos >= 2 {
		p.MaximumQos, p.MaximumQosFlag = 0, false
	}
	return p
}

// propsOnWire says whether the encoder writes any property of p for typ.
func propsOnWire(typ byte, p packets.Properties) bool {
	var b bytes.Buffer
	p.Encode(typ, wireMods, &b, 0)
	return b.Len() > 1
}

// canonical clears what is not compared: the remaining length, the encoder's
// modifiers, and the difference between nil and empty slices.
func canonical(pk packets.Packet) packets.Packet {
	pk.FixedHeader.Remaining = 0
	pk.Mods = packets.Mods{}
	pk.Payload = nilIfEmpty(pk.Payload)
	pk.ReasonCodes = nilIfEmpty(pk.ReasonCodes)
	if len(pk.Filters) == 0 {
		pk.Filters = nil
	}
	pk.Connect.ProtocolName = nilIfEmpty(pk.Connect.ProtocolName)
	pk.Connect.Username = nilIfEmpty(pk.Connect.Username)
	pk.Connect.Password = nilIfEmpty(pk.Connect.Password)
	pk.Connect.WillPayload = nilIfEmpty(pk.Connect.WillPayload)
	pk.Properties = canonicalProps(pk.Properties)
	pk.Connect.WillProperties = canonicalProps(pk.Connect.WillProperties)
	return pk
}

func canonicalProps(p packets.Properties) packets.Properties {
	p.CorrelationData = nilIfEmpty(p.CorrelationData)
	p.AuthenticationData = nilIfEmpty(p.AuthenticationData)
	if len(p.SubscriptionIdentifier) == 0 {
		p.SubscriptionIdentifier = nil
	}
	if len(p.User) == 0 {
		p.User = nil
	}
	return p
}

// fieldDiff lists the fields in which a and b, values of one struct type,
// differ.
func fieldDiff(a, b any) string {
	var out []string
	var walk func(path string, a, b reflect.Value)
	walk = func(path string, a, b reflect.Value) {
		if a.Kind() == reflect.Struct {
			for i := range a.NumField() {
				walk(path+"."+a.Type().Field(i).Name, a.Field(i), b.Field(i))
			}
			return
		}
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			out = append(out, fmt.Sprintf("  %s: %#v != %#v", path, a.Interface(), b.Interface()))
		}
	}
	walk(reflect.TypeOf(a).Name(), reflect.ValueOf(a), reflect.ValueOf(b))
	return strings.Join(out, "\n")
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// checkStrings checks the fields mochi decodes as MQTT UTF-8 strings. The
// User Name is one too [MQTT-3.1.3-11], but mochi keeps it as bytes and does
// not check it (see the report); it is left out.
func checkStrings(t *testing.T, pk packets.Packet) {
	t.Helper()
	check := func(name, s string) {
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			t.Fatalf("%s %q decoded: not a valid MQTT UTF-8 string", name, s)
		}
	}
	check("topic name", pk.TopicName)
	check("client identifier", pk.Connect.ClientIdentifier)
	check("will topic", pk.Connect.WillTopic)
	for _, f := range pk.Filters {
		check("topic filter", f.Filter)
	}
	for _, p := range []packets.Properties{pk.Properties, pk.Connect.WillProperties} {
		checkPropStrings(check, p)
	}
}

func checkPropStrings(check func(name, s string), p packets.Properties) {
	check("content type", p.ContentType)
	check("response topic", p.ResponseTopic)
	check("assigned client identifier", p.AssignedClientID)
	check("authentication method", p.AuthenticationMethod)
	check("response information", p.ResponseInfo)
	check("server reference", p.ServerReference)
	check("reason string", p.ReasonString)
	for _, u := range p.User {
		check("user property key", u.Key)
		check("user property value", u.Val)
	}
}

// propertyPacketTypes are the packet types Properties.Decode is called with,
// Will Properties included.
var propertyPacketTypes = []byte{
	packets.Connect, packets.Connack, packets.Publish, packets.Puback, packets.Pubrec,
	packets.Pubrel, packets.Pubcomp, packets.Subscribe, packets.Suback, packets.Unsubscribe,
	packets.Unsuback, packets.Pingreq, packets.Pingresp, packets.Disconnect, packets.Auth,
	packets.WillProperties,
}

// FuzzPropertiesDecode fuzzes Properties.Decode for every packet type, with
// the bytes that follow the properties in a packet (payload, filters, ...)
// after them in the buffer, as the packet decoders pass it.
func FuzzPropertiesDecode(f *testing.F) {
	index := map[byte]byte{}
	for i, typ := range propertyPacketTypes {
		index[typ] = byte(i)
	}
	for typ, cases := range packets.TPacketData {
		for _, c := range cases {
			if c.Packet == nil {
				continue
			}
			for _, s := range []struct {
				typ   byte
				props packets.Properties
			}{{typ, c.Packet.Properties}, {packets.WillProperties, c.Packet.Connect.WillProperties}} {
				var b bytes.Buffer
				s.props.Encode(s.typ, wireMods, &b, 0)
				if b.Len() > 1 {
					f.Add(index[s.typ], b.Bytes())
					f.Add(index[s.typ], append(bytes.Clone(b.Bytes()), 0, 3, 'a', '/', 'b'))
				}
			}
		}
	}
	f.Add(byte(0), []byte{0})

	f.Fuzz(func(t *testing.T, sel byte, data []byte) {
		typ := propertyPacketTypes[int(sel)%len(propertyPacketTypes)]
		var p packets.Properties
		n, err := p.Decode(typ, bytes.NewBuffer(bytes.Clone(data)))
		if err != nil {
			return
		}
		if n < 1 || n > len(data) {
			t.Fatalf("Decode says it consumed %d of %d bytes", n, len(data))
		}
		check := func(name, s string) {
			if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
				t.Fatalf("%s %q decoded: not a valid MQTT UTF-8 string", name, s)
			}
		}
		checkPropStrings(check, p)

		// The properties are what their declared length covers, nothing after.
		var q packets.Properties
		m, err := q.Decode(typ, bytes.NewBuffer(bytes.Clone(data[:n])))
		if err != nil || m != n || !reflect.DeepEqual(canonicalProps(p), canonicalProps(q)) {
			t.Fatalf("properties of packet type %d read past their length: from % x, then its first %d bytes (%d, %v):\n%s",
				typ, data, n, m, err, fieldDiff(canonicalProps(p), canonicalProps(q)))
		}

		var b bytes.Buffer
		p.Encode(typ, wireMods, &b, 0)
		raw := bytes.Clone(b.Bytes())
		var r packets.Properties
		k, err := r.Decode(typ, bytes.NewBuffer(bytes.Clone(raw)))
		if err != nil || k != len(raw) {
			t.Fatalf("encoded properties do not decode: consumed %d of %d: %v\nwire: % x", k, len(raw), err, raw)
		}
		if want, got := canonicalProps(propsWireLoss(p)), canonicalProps(r); !reflect.DeepEqual(want, got) {
			t.Fatalf("properties of packet type %d changed over encode and decode (decoded != re-decoded):\n%s\nwire: % x", typ, fieldDiff(want, got), raw)
		}
		var b2 bytes.Buffer
		r.Encode(typ, wireMods, &b2, 0)
		if !bytes.Equal(raw, b2.Bytes()) {
			t.Fatalf("properties encode differently the second time\n first: % x\nsecond: % x", raw, b2.Bytes())
		}
	})
}

// FuzzFixedHeader fuzzes the fixed header byte (FixedHeader.Decode) and the
// remaining length after it (DecodeLength), as ReadFixedHeader reads them.
func FuzzFixedHeader(f *testing.F) {
	for _, cases := range packets.TPacketData {
		for _, c := range cases {
			if len(c.RawBytes) > 0 {
				f.Add(c.RawBytes[:min(len(c.RawBytes), 6)])
			}
		}
	}
	for _, s := range [][]byte{
		{0x30, 0x7f}, {0x30, 0x80, 0x01}, {0x30, 0xff, 0x7f}, {0x30, 0xff, 0xff, 0x7f},
		{0x30, 0xff, 0xff, 0xff, 0x7f}, {0x30, 0x80, 0x80, 0x80, 0x00}, {0x30, 0xff, 0xff, 0xff, 0xff, 0x7f},
	} {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		var fh packets.FixedHeader
		err := fh.Decode(data[0])
		if want := validHeaderByte(data[0]); (err == nil) != want {
			t.Fatalf("header byte %#02x: Decode error %v, valid per the spec: %v", data[0], err, want)
		}
		if err == nil {
			var b bytes.Buffer
			fh.Encode(&b)
			if b.Bytes()[0] != data[0] {
				t.Fatalf("header byte %#02x decodes to %+v, which encodes as %#02x", data[0], fh, b.Bytes()[0])
			}
		}

		rest := data[1:]
		r := bytes.NewReader(rest)
		n, bu, err := packets.DecodeLength(r)
		wantN, wantBu, wantErr := specVarInt(rest)
		switch {
		case err == nil && wantErr != nil:
			t.Fatalf("remaining length % x: decoded %d from %d bytes, but it is malformed: %v", rest, n, bu, wantErr)
		case err != nil && wantErr == nil:
			t.Fatalf("remaining length % x: refused (%v), but it is %d in %d bytes", rest, err, wantN, wantBu)
		case err != nil:
			return
		}
		if n != wantN || bu != wantBu || len(rest)-r.Len() != bu {
			t.Fatalf("remaining length % x: decoded %d from %d bytes (%d read), want %d from %d",
				rest, n, bu, len(rest)-r.Len(), wantN, wantBu)
		}

		var b bytes.Buffer
		(&packets.FixedHeader{Type: packets.Pingreq, Remaining: n}).Encode(&b)
		enc := b.Bytes()[1:]
		m, mbu, err := packets.DecodeLength(bytes.NewReader(enc))
		if err != nil || m != n || mbu != len(enc) || len(enc) != minVarIntLen(n) {
			t.Fatalf("remaining length %d encodes as % x, which decodes to %d in %d bytes (%v)", n, enc, m, mbu, err)
		}
	})
}

// validHeaderByte is the spec's table of fixed header flags (2.1.3), plus
// mochi's refusal of DUP on QoS 0 [MQTT-3.3.1-2]. Packet type 0 is left to
// ReadPacket, which refuses it.
func validHeaderByte(b byte) bool {
	typ, flags := b>>4, b&0x0f
	switch typ {
	case packets.Publish:
		qos := flags >> 1 & 3
		return qos != 3 && (qos > 0 || flags&0x08 == 0)
	case packets.Pubrel, packets.Subscribe, packets.Unsubscribe:
		return flags == 0x02
	default:
		return flags == 0
	}
}

var errVarIntTooLong = errors.New("variable byte integer longer than 4 bytes")

// specVarInt decodes a Variable Byte Integer by the algorithm in the spec
// (1.5.5): at most four bytes; more is malformed.
func specVarInt(b []byte) (value, n int, err error) {
	multiplier := 1
	for i := range 4 {
		if i >= len(b) {
			return 0, 0, io.ErrUnexpectedEOF
		}
		value += int(b[i]&0x7f) * multiplier
		if b[i]&0x80 == 0 {
			return value, i + 1, nil
		}
		multiplier *= 128
	}
	return 0, 0, errVarIntTooLong
}

func minVarIntLen(n int) int {
	switch {
	case n < 1<<7:
		return 1
	case n < 1<<14:
		return 2
	case n < 1<<21:
		return 3
	}
	return 4
}

// fuzzConn is a client connection that reads the fuzzer's bytes. Only Read
// and RemoteAddr are used by NewClient, ReadFixedHeader and ReadPacket.
type fuzzConn struct {
	net.Conn
	r io.Reader
}

func (c *fuzzConn) Read(p []byte) (int, error) { return c.r.Read(p) }
func (c *fuzzConn) RemoteAddr() net.Addr       { return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1883} }

// fuzzServer is a server configured as ingest configures its own where it
// matters for reading: a maximum packet size (ingest's default), so that
// ReadPacket does not allocate what a fuzzed remaining length asks for.
var fuzzServer = sync.OnceValue(func() *mqtt.Server {
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = 256 << 10
	caps.MaximumClientWritesPending = 1
	return mqtt.New(&mqtt.Options{Capabilities: caps, Logger: slog.New(slog.DiscardHandler)})
})

// FuzzReadPacket fuzzes the path a connection's bytes take in mochi:
// (*mqtt.Client).ReadFixedHeader then ReadPacket, packet after packet, for a
// client on the fuzzed protocol version; a valid CONNECT sets the version for
// what follows, as the server's ParseConnect does.
func FuzzReadPacket(f *testing.F) {
	var connect5 []byte
	for _, c := range packets.TPacketData[packets.Connect] {
		if c.Case == packets.TConnectMqtt5 {
			connect5 = c.RawBytes
		}
	}
	for _, cases := range packets.TPacketData {
		for _, c := range cases {
			if len(c.RawBytes) == 0 {
				continue
			}
			v := byte(4)
			if c.Packet != nil && c.Packet.ProtocolVersion >= 3 {
				v = c.Packet.ProtocolVersion
			}
			f.Add(v-3, c.RawBytes)
			if v == 5 && c.RawBytes[0]>>4 != packets.Connect {
				f.Add(byte(1), append(bytes.Clone(connect5), c.RawBytes...))
			}
		}
	}

	f.Fuzz(func(t *testing.T, version byte, stream []byte) {
		cl := fuzzServer().NewClient(&fuzzConn{r: bytes.NewReader(stream)}, "fuzz", "fuzz", false)
		cl.Properties.ProtocolVersion = protocolVersion(version)
		for {
			var fh packets.FixedHeader
			if err := cl.ReadFixedHeader(&fh); err != nil {
				return
			}
			pk, err := cl.ReadPacket(&fh)
			if err != nil {
				return
			}
			if pk.FixedHeader.Remaining != fh.Remaining || len(pk.Payload) > fh.Remaining {
				t.Fatalf("ReadPacket: remaining length %d, header said %d", pk.FixedHeader.Remaining, fh.Remaining)
			}
			checkRoundTrip(t, pk)
			if pk.FixedHeader.Type == packets.Connect && pk.ConnectValidate() == packets.CodeSuccess {
				cl.Properties.ProtocolVersion = pk.ProtocolVersion
			}
		}
	})
}

// An MQTT 5 DISCONNECT may carry a reason code without properties; the
// carried mochi read it as 0x00 (normal), losing "disconnect with will".
func TestDisconnectReasonWithoutProperties(t *testing.T) {
	pk := packets.Packet{ProtocolVersion: 5, FixedHeader: packets.FixedHeader{Type: packets.Disconnect, Remaining: 1}}
	if err := pk.DisconnectDecode([]byte{0x04}); err != nil {
		t.Fatal(err)
	}
	if pk.ReasonCode != 0x04 {
		t.Fatalf("reason %#x, want 0x04", pk.ReasonCode)
	}
}
