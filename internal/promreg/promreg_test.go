package promreg

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestAllOrNone(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := prometheus.NewCounter(prometheus.CounterOpts{Name: "a_total", Help: "a"})
	b := prometheus.NewCounter(prometheus.CounterOpts{Name: "b_total", Help: "b"})
	if _, err := Register(reg, b); err != nil {
		t.Fatal(err)
	}
	// b is taken: registering a and b must leave a unregistered too.
	if _, err := Register(reg, a, prometheus.NewCounter(prometheus.CounterOpts{Name: "b_total", Help: "b"})); err == nil {
		t.Fatal("registering a duplicate succeeded")
	}
	set, err := Register(reg, a)
	if err != nil {
		t.Fatalf("a was left registered by the failed set: %v", err)
	}
	set.Unregister()
	if _, err := Register(reg, a); err != nil {
		t.Fatalf("a still registered after Unregister: %v", err)
	}
	if s, err := Register(nil, a); err != nil || s == nil {
		t.Fatalf("nil registry: %v", err)
	}
}
