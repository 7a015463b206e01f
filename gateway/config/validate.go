package config

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tributary-io/tributary/ingest"
)

// siteRE is what a site id may be: 1 to 63 of a-z, 0-9 and '-', starting
// with a letter or digit, so that it fits in a DNS label and a file name.
var siteRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

const siteWant = "1 to 63 of a-z, 0-9 and '-', starting with a letter or digit (e.g. plant-01)"

// Validate checks c and returns every problem found, each naming its key
// path and what is allowed. Load and Parse call it; code that builds a
// Config in Go should call it too. The errors have no File or Line.
func (c *Config) Validate() []FieldError {
	return c.validate(nil)
}

// validate is Validate for a Config read from a file. inFile, if not nil,
// reports whether the file sets the key at a path, so that a clash between
// two keys is reported at the one the file sets.
func (c *Config) validate(inFile func(path string) bool) []FieldError {
	var v validator
	v.role(c.Role)
	v.site(c.Role, c.Site)
	// A hub whose sink is Kafka keeps no state: it ignores data_dir and
	// streams (they can stay, so that one file serves both sinks).
	if c.DataDir == "" && (c.Role != RoleHub || c.Replication.Sink != SinkKafka) {
		v.add("data_dir", "must not be empty; it is the directory where the node keeps its data")
	}
	httpOK := v.listen("http.listen", c.HTTP.Listen)
	grpcOK := v.listen("grpc.listen", c.GRPC.Listen)
	if httpOK && grpcOK && clash(c.HTTP.Listen, c.GRPC.Listen) {
		v.reportClash(c, inFile != nil && inFile("http.listen") && !inFile("grpc.listen"))
	}
	v.duration("http.read_header_timeout", c.HTTP.ReadHeaderTimeout, Duration(time.Second), Duration(10*time.Minute))
	v.size("http.max_header_bytes", c.HTTP.MaxHeaderBytes, KiB, MiB)
	v.ingest(c)
	v.api(c)
	v.size("grpc.max_recv_msg_size", c.GRPC.MaxRecvMsgSize, KiB, 256*MiB)
	v.duration("shutdown_timeout", c.ShutdownTimeout, Duration(time.Second), Duration(10*time.Minute))
	v.duration("spool.linger", c.Spool.Linger, 0, Duration(time.Second))
	v.size("spool.max_batch_bytes", c.Spool.MaxBatchBytes, 64*KiB, 32*MiB)
	v.streams(c.Streams)
	v.mqtt(c)
	v.upstream(c)
	v.replication(c)
	if c.Role == RoleHub && len(c.Pipelines) > 0 {
		v.add("pipelines", "not allowed for a hub (edge nodes process locally); remove it")
	} else {
		v.pipelines(c)
	}
	return v.errs
}

// ingest checks the limits of the HTTP/gRPC ingest API, which only edge
// nodes serve (a hub ignores them).
func (v *validator) ingest(c *Config) {
	h := c.HTTP
	v.size("http.max_body_bytes", h.MaxBodyBytes, KiB, 256*MiB)
	v.size("http.max_bulk_bytes", h.MaxBulkBytes, KiB, 1024*GiB)
}

// mqtt checks the broker's settings and that routes name known streams.
func (v *validator) mqtt(c *Config) {
	m := c.MQTT
	if !m.Enabled() {
		if len(m.Routes) > 0 {
			v.add("mqtt.routes", "routes need mqtt.listen, mqtt.tls.listen or mqtt.websocket.listen; set one, or remove the routes")
		}
		return
	}
	if c.Role == RoleHub {
		v.add(m.firstListenPath(), "not allowed for a hub (edge nodes ingest MQTT); remove it")
		return
	}
	taken := []string{c.HTTP.Listen, c.GRPC.Listen}
	for _, l := range []struct{ path, addr string }{
		{"mqtt.listen", m.Listen}, {"mqtt.tls.listen", m.TLS.Listen}, {"mqtt.websocket.listen", m.WebSocket.Listen},
	} {
		if l.addr == "" || !v.listen(l.path, l.addr) {
			continue
		}
		if slices.ContainsFunc(taken, func(a string) bool { return clash(l.addr, a) }) {
			v.add(l.path, "%q clashes with another listener (http, grpc or mqtt); use another port", l.addr)
		}
		taken = append(taken, l.addr)
	}
	v.mqttTLS(m)
	if m.PasswordFile != "" {
		if _, err := ingest.LoadPasswordFile(m.PasswordFile); err != nil {
			v.add("mqtt.password_file", "%v", err)
		}
	}
	for i, r := range m.ACL {
		if err := ingest.CheckACLRule(ingest.ACLRule(r)); err != nil {
			v.add(fmt.Sprintf("mqtt.acl[%d]", i), "%v", err)
		}
	}
	l := m.Limits
	v.intRange("mqtt.limits.max_clients", l.MaxClients, 1, 1_000_000)
	v.intRange("mqtt.limits.max_inflight", l.MaxInflight, 1, 65535)
	v.size("mqtt.limits.max_packet_size", l.MaxPacketSize, KiB, 256*MiB)
	v.intRange("mqtt.limits.max_topic_length", l.MaxTopicLength, 16, 65535)
	v.intRange("mqtt.limits.max_message_rate", l.MaxMessageRate, 0, 1_000_000)
	v.duration("mqtt.limits.max_session_expiry", l.MaxSessionExpiry, Duration(time.Second), 365*Day)
	v.intRange("mqtt.limits.max_write_queue", l.MaxWriteQueue, 1, 1_000_000)
	v.intRange("mqtt.limits.max_retained", l.MaxRetained, 0, 10_000_000)
	v.duration("mqtt.limits.connect_timeout", l.ConnectTimeout, Duration(time.Second), Duration(10*time.Minute))
	known := map[string]bool{}
	for _, s := range c.Streams {
		known[s.Name] = true
	}
	for i, r := range m.Routes {
		p := fmt.Sprintf("mqtt.routes[%d]", i)
		if err := ingest.CheckRoute(ingest.Route(r)); err != nil {
			v.add(p, "%v", err)
		} else if !known[r.Stream] {
			v.add(p+".stream", "stream %q is not in streams", r.Stream)
		}
	}
	if m.Unrouted != "drop" && !known[m.Unrouted] {
		v.add("mqtt.unrouted", "must be drop or the name of a stream in streams; got %q", m.Unrouted)
	}
}

// mqttTLS checks the TLS settings, reading the files they name.
func (v *validator) mqttTLS(m MQTT) {
	t := m.TLS
	if t.Listen == "" {
		if m.WebSocket.TLS {
			v.add("mqtt.websocket.tls", "needs mqtt.tls.cert_file and key_file; set mqtt.tls.listen and them")
		}
		if t.CertFile != "" || t.KeyFile != "" || t.ClientCAFile != "" || t.RequireClientCert {
			v.add("mqtt.tls.listen", "must be set when other mqtt.tls keys are")
		}
		return
	}
	if t.CertFile == "" || t.KeyFile == "" {
		v.add("mqtt.tls", "cert_file and key_file are required with listen")
	}
	if t.RequireClientCert && t.ClientCAFile == "" {
		v.add("mqtt.tls.require_client_cert", "needs client_ca_file, the CAs that sign client certificates")
	}
	if t.CertFile != "" && t.KeyFile != "" {
		if _, err := m.TLSConfig(); err != nil {
			v.add("mqtt.tls", "%v", err)
		}
	}
}

// intRange checks that n is in [lo, hi].
func (v *validator) intRange(path string, n, lo, hi int) {
	if n < lo || n > hi {
		v.add(path, "must be between %d and %d, got %d", lo, hi, n)
	}
}

// streamRE is what a stream name may be, as the spool allows.
var streamRE = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,128}$`)

// streams checks each stream entry and that names are unique.
func (v *validator) streams(ss []Stream) {
	seen := map[string]int{}
	for i, s := range ss {
		p := fmt.Sprintf("streams[%d]", i)
		switch j, dup := seen[s.Name]; {
		case !streamRE.MatchString(s.Name):
			v.add(p+".name", "must be 1 to 128 of a-z, A-Z, 0-9, '.', '_', '-'; got %q", s.Name)
		case dup:
			v.add(p+".name", "stream %q is already defined at streams[%d]", s.Name, j)
		default:
			seen[s.Name] = i
		}
		if s.Partitions < 1 || s.Partitions > 1024 {
			v.add(p+".partitions", "must be between 1 and 1024, got %d", s.Partitions)
		}
		v.size(p+".max_bytes", s.MaxBytes, MiB, 64*1024*GiB)
		v.duration(p+".max_age", s.MaxAge, 0, 3650*Day)
		v.oneOf(p+".full", s.Full, "block", "drop_oldest")
		v.oneOf(p+".compression", s.Compression, "zstd", "none")
		if s.Priority < -100 || s.Priority > 100 {
			v.add(p+".priority", "must be between -100 and 100, got %d", s.Priority)
		}
	}
}

func (v *validator) oneOf(path, got string, allowed ...string) {
	for _, a := range allowed {
		if got == a {
			return
		}
	}
	v.add(path, "must be one of: %s; got %q", strings.Join(allowed, ", "), got)
}

// validator collects the problems Validate finds.
type validator struct {
	errs []FieldError
}

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) role(r Role) {
	switch r {
	case RoleEdge, RoleHub:
	case "":
		v.add("role", "missing; must be one of: edge, hub")
	default:
		v.add("role", "must be one of: edge, hub; got %q", r)
	}
}

// site checks the site id. Whether one is required depends on the role; if
// the role is invalid, only the id's form is checked.
func (v *validator) site(r Role, site string) {
	switch {
	case r == RoleHub && site != "":
		v.add("site", "not allowed for a hub; remove it (a hub serves many sites)")
	case r == RoleEdge && site == "":
		v.add("site", "missing; an edge node needs its site id: %s", siteWant)
	case site != "" && !siteRE.MatchString(site):
		v.add("site", "must be %s; got %q", siteWant, site)
	}
}

// listen checks a host:port listen address and reports whether it is valid.
func (v *validator) listen(path, addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.add(path, "want host:port such as 127.0.0.1:8080, or :8080 for all interfaces; got %q", addr)
		return false
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		v.add(path, "port must be a number from 0 to 65535, got %q", port)
		return false
	}
	return true
}

// reportClash reports that the http and grpc listen addresses clash, at
// grpc.listen unless atHTTP.
func (v *validator) reportClash(c *Config, atHTTP bool) {
	if atHTTP {
		v.add("http.listen", "%q clashes with grpc.listen %q; use another port", c.HTTP.Listen, c.GRPC.Listen)
		return
	}
	v.add("grpc.listen", "%q clashes with http.listen %q; use another port", c.GRPC.Listen, c.HTTP.Listen)
}

// clash reports whether two valid listen addresses would take the same
// port: the same non-zero port, with the same host or either host meaning
// all interfaces.
func clash(a, b string) bool {
	hostA, portA, _ := net.SplitHostPort(a)
	hostB, portB, _ := net.SplitHostPort(b)
	pa, _ := strconv.ParseUint(portA, 10, 16)
	pb, _ := strconv.ParseUint(portB, 10, 16)
	if pa != pb || pa == 0 {
		return false
	}
	return hostA == hostB || wildcard(hostA) || wildcard(hostB)
}

// wildcard reports whether a listen host means all interfaces.
func wildcard(host string) bool {
	return host == "" || host == "0.0.0.0" || host == "::"
}

func (v *validator) duration(path string, d, lo, hi Duration) {
	if d < lo || d > hi {
		v.add(path, "must be between %v and %v, got %v", lo, hi, d)
	}
}

func (v *validator) size(path string, s, lo, hi Size) {
	if s < lo || s > hi {
		v.add(path, "must be between %v and %v, got %v", lo, hi, s)
	}
}
