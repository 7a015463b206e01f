package gateway

import (
	"context"
	"time"

	"github.com/tributary-io/tributary/ingest"
	"github.com/tributary-io/tributary/spool"
)

// startMQTT starts the embedded broker when the config has a listener.
func (n *Node) startMQTT(sp *spool.Spool) (*ingest.Broker, error) {
	m := n.cfg.MQTT
	if !m.Enabled() {
		return nil, nil
	}
	l := m.Limits
	opts := ingest.Options{
		Listen:           m.Listen,
		AllowAnonymous:   m.AllowAnonymous,
		MaxClients:       l.MaxClients,
		MaxInflight:      l.MaxInflight,
		MaxPacketSize:    int(l.MaxPacketSize),
		MaxTopicLength:   l.MaxTopicLength,
		MaxMessageRate:   float64(l.MaxMessageRate),
		MaxSessionExpiry: time.Duration(l.MaxSessionExpiry),
		MaxWriteQueue:    l.MaxWriteQueue,
		MaxRetained:      l.MaxRetained,
		ConnectTimeout:   time.Duration(l.ConnectTimeout),
		Logger:           n.log.With("component", "mqtt"),
		Registerer:       n.reg,
	}
	if m.Unrouted != "drop" {
		opts.CatchAll = m.Unrouted
	}
	for _, r := range m.Routes {
		opts.Routes = append(opts.Routes, ingest.Route(r))
	}
	for _, r := range m.ACL {
		opts.ACL = append(opts.ACL, ingest.ACLRule(r))
	}
	if m.PasswordFile != "" {
		users, err := ingest.LoadPasswordFile(m.PasswordFile)
		if err != nil {
			return nil, err
		}
		opts.Users = users
	}
	if m.TLS.Listen != "" {
		cfg, err := m.TLSConfig()
		if err != nil {
			return nil, err
		}
		opts.TLS = &ingest.TLSListener{Listen: m.TLS.Listen, Config: cfg}
	}
	if w := m.WebSocket; w.Listen != "" {
		opts.WebSocket = &ingest.WebSocketListener{Listen: w.Listen, Path: w.Path}
		if w.TLS && opts.TLS != nil { // validation requires mqtt.tls with websocket.tls
			opts.WebSocket.TLS = opts.TLS.Config
		}
	}
	b, err := ingest.New(opts, sp)
	if err != nil {
		return nil, err
	}
	if err := b.Start(); err != nil {
		_ = b.Close(context.Background())
		return nil, err
	}
	return b, nil
}
