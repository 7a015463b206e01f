package config

import (
	"crypto/tls"
	"fmt"
	"strings"
)

// Enabled reports whether any key of t is set: the listener serves TLS.
func (t ListenerTLS) Enabled() bool { return t != ListenerTLS{} }

// TLSConfig reads the files t names: nil, nil when TLS is off. Clients
// need TLS 1.2 or later; with client_ca_file, a certificate those CAs sign.
func (t ListenerTLS) TLSConfig() (*tls.Config, error) {
	if !t.Enabled() {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("cert_file %s, key_file %s: %w", t.CertFile, t.KeyFile, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if t.ClientCAFile != "" {
		if cfg.ClientCAs, err = readPool(t.ClientCAFile); err != nil {
			return nil, fmt.Errorf("client_ca_file: %w", err)
		}
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// api checks the API listeners' TLS and the settings of their tokens.
func (v *validator) api(c *Config) {
	for _, l := range []struct {
		path string
		tls  ListenerTLS
	}{{"http.tls", c.HTTP.TLS}, {"grpc.tls", c.GRPC.TLS}} {
		switch t := l.tls; {
		case !t.Enabled():
		case t.CertFile == "" || t.KeyFile == "":
			v.add(l.path, "cert_file and key_file are required to serve TLS (client_ca_file alone is not enough)")
		default:
			if _, err := t.TLSConfig(); err != nil {
				v.add(l.path, "%v", err)
			}
		}
	}
	if c.Role == RoleHub && c.HTTP.AllowAnonymous && c.HTTP.TokensFile == "" {
		v.add("http.allow_anonymous", "on a hub it lets reads in without a token when http.tokens_file is set; without tokens_file reads are open already: set tokens_file, or remove it")
	}
}

// IsLoopback reports whether a listen address is on a loopback interface
// only, so that nothing off the machine can reach it.
func IsLoopback(addr string) bool {
	host := addr
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		host = strings.Trim(addr[:i], "[]")
	}
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1"
}
