package gateway

import (
	"context"

	"github.com/tributary-io/tributary/ingest"
	"github.com/tributary-io/tributary/spool"
)

// startMQTT starts the embedded broker when the config has a listener.
func (n *Node) startMQTT(sp *spool.Spool) (*ingest.Broker, error) {
	m := n.cfg.MQTT
	if m.Listen == "" {
		return nil, nil
	}
	opts := ingest.Options{
		Listen:         m.Listen,
		AllowAnonymous: m.AllowAnonymous,
		MaxInflight:    m.MaxInflight,
		MaxPacketSize:  int(m.MaxPacketSize),
		Logger:         n.log.With("component", "mqtt"),
		Registerer:     n.reg,
	}
	if m.Unrouted != "drop" {
		opts.CatchAll = m.Unrouted
	}
	for _, r := range m.Routes {
		opts.Routes = append(opts.Routes, ingest.Route(r))
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
