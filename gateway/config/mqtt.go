package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// Enabled reports whether the broker has a listener.
func (m MQTT) Enabled() bool {
	return m.Listen != "" || m.TLS.Listen != "" || m.WebSocket.Listen != ""
}

// firstListenPath is the key path of the first listener set.
func (m MQTT) firstListenPath() string {
	switch {
	case m.Listen != "":
		return "mqtt.listen"
	case m.TLS.Listen != "":
		return "mqtt.tls.listen"
	}
	return "mqtt.websocket.listen"
}

// TLSConfig reads the certificate, key and client CAs that mqtt.tls names.
// Clients need TLS 1.2 or later; with client_ca_file, a client certificate
// is verified if given, and required with require_client_cert.
func (m MQTT) TLSConfig() (*tls.Config, error) {
	t := m.TLS
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("cert_file %s, key_file %s: %w", t.CertFile, t.KeyFile, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if t.ClientCAFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(t.ClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("client_ca_file: %w", err)
	}
	cfg.ClientCAs = x509.NewCertPool()
	if !cfg.ClientCAs.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("client_ca_file %s: no PEM certificate in it", t.ClientCAFile)
	}
	cfg.ClientAuth = tls.VerifyClientCertIfGiven
	if t.RequireClientCert {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}
