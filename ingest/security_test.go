package ingest

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/crypto/bcrypt"

	"github.com/tributary-io/tributary/internal/testcert"
	"github.com/tributary-io/tributary/spool"
)

// testUsers has dev-1 (argon2id, password "pw-1") and dev-2 (bcrypt,
// password "pw-2").
func testUsers(t *testing.T) *Users {
	t.Helper()
	h1, err := HashPassword([]byte("pw-1"))
	if err != nil {
		t.Fatal(err)
	}
	h2, err := bcrypt.GenerateFromPassword([]byte("pw-2"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	u, err := ParsePasswords("users", strings.NewReader("# test users\ndev-1:"+h1+"\n\ndev-2:"+string(h2)+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// connectRaw sends CONNECT (clean session) with optional credentials and
// returns the client and the CONNACK's reason (MQTT 5) or return code.
func connectRaw(t *testing.T, addr string, version byte, id, user, pass string) (*rawClient, byte) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := &rawClient{t: t, conn: conn, r: bufio.NewReader(conn)}
	flags := byte(0x02)
	if user != "" {
		flags |= 0x80 | 0x40
	}
	body := append(mqttString("MQTT"), version, flags, 0, 60)
	if version == 5 {
		body = append(body, 0)
	}
	body = append(body, mqttString(id)...)
	if user != "" {
		body = append(append(body, mqttString(user)...), mqttString(pass)...)
	}
	c.send(0x10, body)
	typ, ack := c.read()
	if typ != 0x20 || len(ack) < 2 {
		t.Fatalf("want CONNACK, got type %#x % x", typ, ack)
	}
	return c, ack[1]
}

// closed reports whether the server closes c within 10 s, reading
// (and dropping) whatever comes first.
func (c *rawClient) closed() bool {
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, c.r)
	var ne net.Error
	return err == nil || !errors.As(err, &ne) || !ne.Timeout()
}

func TestPasswordFile(t *testing.T) {
	sp := testSpool(t, spool.Options{})
	reg := prometheus.NewRegistry()
	b := startBroker(t, sp, Options{Users: testUsers(t), Registerer: reg})
	for _, tc := range []struct {
		name, user, pass string
		v5, v3           byte
	}{
		{"argon2id", "dev-1", "pw-1", 0x00, 0x00},
		{"bcrypt", "dev-2", "pw-2", 0x00, 0x00},
		{"cached", "dev-1", "pw-1", 0x00, 0x00},
		{"wrong password", "dev-1", "pw-2", 0x86, 0x05},
		{"right after the cache", "dev-1", "pw-1", 0x00, 0x00},
		{"unknown user", "dev-9", "pw-1", 0x86, 0x05},
		{"anonymous", "", "", 0x87, 0x05},
	} {
		for _, v := range []byte{4, 5} {
			want := tc.v3
			if v == 5 {
				want = tc.v5
			}
			if _, got := connectRaw(t, b.Addr(), v, "c-"+tc.name, tc.user, tc.pass); got != want {
				t.Errorf("%s, MQTT v%d: CONNACK code %#x, want %#x", tc.name, v, got, want)
			}
		}
	}
	if got := testutil.ToFloat64(b.m.connects.WithLabelValues("bad_credentials")); got != 4 {
		t.Errorf("bad_credentials connects: %v, want 4", got)
	}
	if got := testutil.ToFloat64(b.m.connects.WithLabelValues("not_authorized")); got != 2 {
		t.Errorf("not_authorized connects: %v, want 2", got)
	}
}

func TestACL(t *testing.T) {
	sp := testSpool(t, spool.Options{})
	b := startBroker(t, sp, Options{Users: testUsers(t), ACL: []ACLRule{
		{Users: []string{"*"}, Publish: []string{"sensors/+/{username}/#"}},
		{Users: []string{"dev-2"}, Subscribe: []string{"sensors/#"}},
	}})

	// MQTT 5: a denied publish gets 0x87 in its turn, between stored ones.
	c, code := connectRaw(t, b.Addr(), 5, "acl-5", "dev-1", "pw-1")
	if code != 0 {
		t.Fatalf("CONNACK %#x", code)
	}
	c.publish(5, "sensors/s/dev-1/v", 1, "ok")
	c.publish(5, "sensors/s/dev-2/v", 2, "not mine")
	c.publish(5, "sensors/s/dev-1/w", 3, "ok")
	for i, want := range []byte{0, 0x87, 0} {
		typ, body := c.read()
		reason := byte(0)
		if len(body) > 2 {
			reason = body[2]
		}
		if typ != 0x40 || binary.BigEndian.Uint16(body) != uint16(i+1) || reason != want {
			t.Fatalf("ack %d: type %#x % x, want PUBACK %d reason %#x", i+1, typ, body, i+1, want)
		}
	}
	if n := storedCount(t, sp); n != 2 {
		t.Fatalf("%d records stored, want 2", n)
	}

	// dev-1 may not subscribe; dev-2 may, but not to $SYS through '#'.
	c.send(0x82, append([]byte{0, 9, 0}, append(mqttString("sensors/#"), 1)...))
	if typ, body := c.read(); typ != 0x90 || body[len(body)-1] != 0x87 {
		t.Fatalf("dev-1 SUBACK %#x % x, want reason 0x87", typ, body)
	}
	c2, _ := connectRaw(t, b.Addr(), 4, "acl-sub", "dev-2", "pw-2")
	c2.send(0x82, append([]byte{0, 9}, append(mqttString("sensors/+/+/v"), 1)...))
	if typ, body := c2.read(); typ != 0x90 || body[len(body)-1] != 0x01 {
		t.Fatalf("dev-2 SUBACK %#x % x, want granted QoS 1", typ, body)
	}
	c2.send(0x82, append([]byte{0, 10}, append(mqttString("#"), 1)...))
	if typ, body := c2.read(); typ != 0x90 || body[len(body)-1] != 0x80 {
		t.Fatalf("dev-2 SUBACK for # %#x % x, want failure 0x80", typ, body)
	}

	// MQTT 3.1.1 has no refusal: the connection is closed, nothing stored.
	c3, _ := connectRaw(t, b.Addr(), 4, "acl-4", "dev-1", "pw-1")
	c3.publish(4, "sensors/s/dev-2/v", 1, "not mine")
	if !c3.closed() {
		t.Fatal("MQTT 3.1.1 client still connected after a denied publish")
	}
	if n := storedCount(t, sp); n != 2 {
		t.Fatalf("%d records stored after the 3.1.1 denial, want 2", n)
	}
	if got := testutil.ToFloat64(b.m.denied.WithLabelValues("publish")); got != 2 {
		t.Errorf("publish denials: %v, want 2", got)
	}
}

func TestACLSubstitution(t *testing.T) {
	rules := []ACLRule{{Users: []string{"*"}, Publish: []string{"d/{clientid}/#", "u/{username}"}}}
	for _, tc := range []struct {
		user, id, topic string
		want            bool
	}{
		{"dev-1", "c1", "d/c1/x", true},
		{"dev-1", "c1", "d/c2/x", false},
		{"dev-1", "c1", "u/dev-1", true},
		{"", "c1", "u/", false},        // anonymous: {username} grants nothing
		{"dev-1", "#", "d/x/y", false}, // a client id cannot widen a rule
		{"dev-1", "a/b", "d/a/b/c", false},
		{"+", "c1", "u/x", false},
	} {
		g := grantsFor(rules, tc.user, tc.id)
		if got := g.canPublish(tc.topic); got != tc.want {
			t.Errorf("user %q id %q publish %q: %v, want %v", tc.user, tc.id, tc.topic, got, tc.want)
		}
	}
	if g := grantsFor(nil, "", ""); !g.canPublish("any/thing") || !g.canSubscribe("#") {
		t.Error("no rules must allow everything")
	}
	if g := grantsFor([]ACLRule{{Users: []string{"dev-2"}, Publish: []string{"#"}}}, "dev-1", "c"); g.canPublish("x") {
		t.Error("a rule for dev-2 applied to dev-1")
	}
}

func TestCovers(t *testing.T) {
	for _, tc := range []struct {
		allowed, req string
		want         bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/+", "a/b", true},
		{"a/+", "a/+", true},
		{"a/+", "a/#", false},
		{"a/+", "a/b/c", false},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"a/#", "a/+/#", true},
		{"a/b", "a/+", false},
		{"a/b/c", "a/b", false},
		{"#", "x/y", true},
		{"#", "$SYS/x", false},
		{"+/x", "$SYS/x", false},
		{"$SYS/#", "$SYS/broker/uptime", true},
		{"+/+", "a", false},
	} {
		if got := covers(tc.allowed, tc.req); got != tc.want {
			t.Errorf("covers(%q, %q) = %v, want %v", tc.allowed, tc.req, got, tc.want)
		}
	}
}

func TestCheckACLRule(t *testing.T) {
	for _, tc := range []struct {
		r    ACLRule
		want string
	}{
		{ACLRule{Publish: []string{"a"}}, "users: name at least one"},
		{ACLRule{Users: []string{"a b"}, Publish: []string{"a"}}, `users: "a b" is not a username`},
		{ACLRule{Users: []string{"*"}}, "grants nothing"},
		{ACLRule{Users: []string{"*"}, Publish: []string{"a/#/b"}}, `publish "a/#/b": '#' must be the last level`},
		{ACLRule{Users: []string{"*"}, Subscribe: []string{"a+/b"}}, `subscribe "a+/b": '+' and '#' must fill a level`},
		{ACLRule{Users: []string{"*"}, Publish: []string{"d/{device}"}}, "only {username} and {clientid}"},
		{ACLRule{Users: []string{"*"}, Publish: []string{""}}, "empty filter"},
	} {
		err := CheckACLRule(tc.r)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.r, err, tc.want)
		}
	}
	if err := CheckACLRule(ACLRule{Users: []string{"*"}, Publish: []string{"sensors/{username}/#", "dev-{clientid}/+"}}); err != nil {
		t.Errorf("valid rule refused: %v", err)
	}
}

func TestParsePasswordsErrors(t *testing.T) {
	h, err := HashPassword([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	content := strings.Join([]string{
		"# comment",
		"plain:secret",
		"nocolon",
		"mosq:$7$101$abc$def",
		"a:" + h,
		"a:" + h,
		"bad user:" + h,
		"argon:$argon2id$v=19$m=0,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"bc:$2b$04$short",
	}, "\n")
	_, err = ParsePasswords("pw.txt", strings.NewReader(content))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`pw.txt:2: user "plain": not a password hash (plaintext passwords are not accepted)`,
		"pw.txt:3: want username:hash",
		`pw.txt:4: user "mosq": a mosquitto_passwd hash`,
		`pw.txt:6: user "a" appears twice`,
		`pw.txt:7: username "bad user"`,
		`pw.txt:8: user "argon": argon2id hash: memory m=0 KiB out of range`,
		`pw.txt:9: user "bc": bcrypt hash`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
}

func TestUsersCheck(t *testing.T) {
	u := testUsers(t)
	for range 2 { // the second round is served from the cache
		if !u.Check("dev-1", []byte("pw-1")) || !u.Check("dev-2", []byte("pw-2")) {
			t.Fatal("right password refused")
		}
		if u.Check("dev-1", []byte("pw-2")) || u.Check("dev-1", nil) || u.Check("nobody", []byte("pw-1")) {
			t.Fatal("wrong password accepted")
		}
	}
}

func TestEditPasswords(t *testing.T) {
	in := []byte("# users\na:h1\nb:h2")
	out, err := SetPassword(in, "a", "h3")
	if err != nil || string(out) != "# users\na:h3\nb:h2\n" {
		t.Fatalf("replace: %q %v", out, err)
	}
	out, _ = SetPassword(out, "c", "h4")
	if string(out) != "# users\na:h3\nb:h2\nc:h4\n" {
		t.Fatalf("add: %q", out)
	}
	out, found := DeletePassword(out, "b")
	if !found || string(out) != "# users\na:h3\nc:h4\n" {
		t.Fatalf("delete: %q %v", out, found)
	}
	if _, found := DeletePassword(out, "zz"); found {
		t.Fatal("deleted a user that was not there")
	}
	if _, err := SetPassword(nil, "a:b", "h"); err == nil {
		t.Fatal("a username with ':' was accepted")
	}
}

// TLS, mutual TLS and WebSocket listeners with real handshakes: a client
// certificate's identity is the client's username, for ACLs too.
func TestTLSAndWebSocketListeners(t *testing.T) {
	ca, other := testcert.NewCA(t, "site CA"), testcert.NewCA(t, "someone else")
	serverCfg := &tls.Config{Certificates: []tls.Certificate{ca.Server(t)}, ClientCAs: ca.Pool(),
		ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12}
	sp := testSpool(t, spool.Options{})
	b := startBroker(t, sp, Options{
		Listen:    "127.0.0.1:0",
		TLS:       &TLSListener{Listen: "127.0.0.1:0", Config: serverCfg},
		WebSocket: &WebSocketListener{Listen: "127.0.0.1:0", TLS: serverCfg},
		Users:     testUsers(t),
		ACL:       []ACLRule{{Users: []string{"*"}, Publish: []string{"sensors/+/{username}/#"}}},
	})
	connect := func(url, user string, cert *tls.Certificate) (paho.Client, error) {
		cfg := &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		o := paho.NewClientOptions().AddBroker(url).SetClientID("tls-" + user).SetTLSConfig(cfg).
			SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(10 * time.Second)
		if user != "" {
			o.SetUsername(user).SetPassword("pw-" + strings.TrimPrefix(user, "dev-"))
		}
		c := paho.NewClient(o)
		tok := c.Connect()
		tok.WaitTimeout(15 * time.Second)
		if tok.Error() == nil {
			t.Cleanup(func() { c.Disconnect(100) })
		}
		return c, tok.Error()
	}
	publish := func(c paho.Client, topic string) error {
		tok := c.Publish(topic, 1, false, "v")
		if !tok.WaitTimeout(10 * time.Second) {
			return errors.New("no PUBACK")
		}
		return tok.Error()
	}
	tlsURL := "ssl://" + b.ListenerAddr(ListenerTLS)
	wssURL := "wss://" + b.ListenerAddr(ListenerWS) + "/mqtt"

	// A certificate from the site CA: in as "dev-7", confined to its topics.
	cert7 := ca.Client(t, "dev-7")
	for _, url := range []string{tlsURL, wssURL} {
		c, err := connect(url, "", &cert7)
		if err != nil {
			t.Fatalf("%s with a client certificate: %v", url, err)
		}
		if err := publish(c, "sensors/s/dev-7/v"); err != nil {
			t.Fatalf("%s: own topic: %v", url, err)
		}
		// paho speaks 3.1.1 here: a denied publish closes the connection.
		_ = publish(c, "sensors/s/dev-1/v")
		deadline := time.Now().Add(10 * time.Second)
		for c.IsConnectionOpen() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if c.IsConnectionOpen() {
			t.Fatalf("%s: still connected after publishing on another device's topic", url)
		}
	}
	// A password over TLS works too.
	if c, err := connect(tlsURL, "dev-1", nil); err != nil {
		t.Fatalf("password over TLS: %v", err)
	} else if err := publish(c, "sensors/s/dev-1/v"); err != nil {
		t.Fatalf("password over TLS: %v", err)
	}
	// No certificate and no password: refused (anonymous is off).
	if _, err := connect(tlsURL, "", nil); err == nil {
		t.Fatal("anonymous TLS client accepted")
	}
	// A certificate from another CA fails the handshake.
	certX := other.Client(t, "dev-7")
	if _, err := connect(tlsURL, "", &certX); err == nil {
		t.Fatal("client certificate from an unknown CA accepted")
	}
	if n := storedCount(t, sp); n != 3 {
		t.Fatalf("%d records stored, want 3", n)
	}
}

func TestLimits(t *testing.T) {
	sp := testSpool(t, spool.Options{})
	// The broker's own $SYS topics hold retained messages too: room for one more.
	sys := func() int {
		b := startBroker(t, sp, Options{AllowAnonymous: true})
		return b.server.Topics.Retained.Len()
	}()
	b := startBroker(t, sp, Options{AllowAnonymous: true, MaxClients: 2, MaxTopicLength: 32,
		MaxRetained: sys + 1, ConnectTimeout: 300 * time.Millisecond})

	t.Run("max clients", func(t *testing.T) {
		c1, _ := connectRaw(t, b.Addr(), 5, "one", "", "")
		if _, code := connectRaw(t, b.Addr(), 5, "two", "", ""); code != 0 {
			t.Fatalf("second client refused: %#x", code)
		}
		if _, code := connectRaw(t, b.Addr(), 5, "three", "", ""); code != 0x89 {
			t.Fatalf("third client (v5): CONNACK %#x, want 0x89 server busy", code)
		}
		if _, code := connectRaw(t, b.Addr(), 4, "four", "", ""); code != 0x03 {
			t.Fatalf("third client (v3): CONNACK %#x, want 0x03 server unavailable", code)
		}
		// A known client id may always come back (taking its session over).
		if _, code := connectRaw(t, b.Addr(), 5, "one", "", ""); code != 0 {
			t.Fatalf("a known client id refused: %#x", code)
		}
		_ = c1
	})
	t.Run("topic length", func(t *testing.T) {
		waitClients(t, b, 0)
		c, _ := connectRaw(t, b.Addr(), 5, "long", "", "")
		c.publish(5, "sensors/s/"+strings.Repeat("d", 40)+"/v", 1, "x")
		if typ, body := c.read(); typ != 0x40 || len(body) < 3 || body[2] != 0x90 {
			t.Fatalf("long topic: %#x % x, want PUBACK 0x90", typ, body)
		}
	})
	t.Run("connect timeout", func(t *testing.T) {
		conn, err := net.Dial("tcp", b.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = conn.Close() }()
		c := &rawClient{t: t, conn: conn, r: bufio.NewReader(conn)}
		if !c.closed() {
			t.Fatal("a connection that sent nothing was kept for 10 s")
		}
	})
	t.Run("retained", func(t *testing.T) {
		waitClients(t, b, 0)
		p := pahoClient(t, b, "retainer")
		for _, topic := range []string{"sensors/s/a/v", "sensors/s/b/v"} {
			if tok := p.Publish(topic, 1, true, "r"); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				t.Fatal(tok.Error())
			}
		}
		// The PUBACK goes out before the delivery that retains: wait for it.
		limited := func() float64 { return testutil.ToFloat64(b.m.limited.WithLabelValues("retained")) }
		for deadline := time.Now().Add(10 * time.Second); limited() == 0 && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		if got := limited(); got != 1 {
			t.Fatalf("retained limit counted %v times, want 1", got)
		}
		if n := b.server.Topics.Retained.Len(); n != sys+1 {
			t.Fatalf("%d retained messages, want %d", n, sys+1)
		}
	})
}

// waitClients waits until at most n clients have sessions.
func waitClients(t *testing.T, b *Broker, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); b.server.Clients.Len()-1 > n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions remain, want %d", b.server.Clients.Len()-1, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRateLimitThrottles(t *testing.T) {
	sp := testSpool(t, spool.Options{})
	b := startBroker(t, sp, Options{AllowAnonymous: true, MaxMessageRate: 20})
	c, _ := connectRaw(t, b.Addr(), 5, "fast", "", "")
	const n = 50 // 20 in the first second's burst, then 20 a second: at least 1.5 s
	start := time.Now()
	for i := 1; i <= n; i++ {
		c.publish(5, "sensors/s/d/v", uint16(i), "x")
	}
	for range n {
		if typ, _ := c.read(); typ != 0x40 {
			t.Fatalf("got %#x, want PUBACK", typ)
		}
	}
	if d := time.Since(start); d < 1400*time.Millisecond {
		t.Fatalf("%d publishes at 20/s took %v; the limit did not hold", n, d)
	}
	if got := testutil.ToFloat64(b.m.limited.WithLabelValues("rate")); got == 0 {
		t.Fatal("the rate limit was never counted")
	}
	if n2 := storedCount(t, sp); n2 != n {
		t.Fatalf("%d stored, want %d: throttling must not lose messages", n2, n)
	}
}

// Past MaxInflight the connection is not read until acks go out: every
// publish is still answered, in order, and the wait is counted.
func TestMaxInflightHoldsTheReader(t *testing.T) {
	sp := testSpool(t, spool.Options{Linger: 20 * time.Millisecond})
	b := startBroker(t, sp, Options{AllowAnonymous: true, MaxInflight: 4})
	c, _ := connectRaw(t, b.Addr(), 5, "held", "", "")
	const n = 40
	for i := 1; i <= n; i++ {
		c.publish(5, "sensors/s/d/v", uint16(i), "x")
	}
	for i := 1; i <= n; i++ {
		if typ, body := c.read(); typ != 0x40 || binary.BigEndian.Uint16(body) != uint16(i) {
			t.Fatalf("ack %d: %#x % x", i, typ, body)
		}
	}
	if got := testutil.ToFloat64(b.m.limited.WithLabelValues("inflight")); got == 0 {
		t.Fatal("the in-flight limit was never counted")
	}
	if got := storedCount(t, sp); got != n {
		t.Fatalf("%d stored, want %d", got, n)
	}
}
