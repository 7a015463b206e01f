// Package promreg registers a component's Prometheus collectors as one set:
// all of them or none, and all of them unregistered together, so that a
// component can be closed and opened again on the same registry.
package promreg

import "github.com/prometheus/client_golang/prometheus"

// Set is a group of registered collectors.
type Set struct {
	reg prometheus.Registerer
	cs  []prometheus.Collector
}

// Register registers every collector with reg, or, if one fails, none of
// them. A nil reg registers nothing (the collectors still count).
func Register(reg prometheus.Registerer, cs ...prometheus.Collector) (*Set, error) {
	if reg == nil {
		return &Set{}, nil
	}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return nil, err
		}
	}
	return &Set{reg: reg, cs: cs}, nil
}

// Unregister removes the set's collectors from their registry.
func (s *Set) Unregister() {
	for _, c := range s.cs {
		s.reg.Unregister(c)
	}
}
