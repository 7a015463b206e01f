package aggregator

import (
	"strings"
	"testing"
)

// NewDeadband validates its configuration as the pipeline's loader does.
func TestNewDeadbandValidates(t *testing.T) {
	if _, err := NewDeadband(DeadbandConfig{Absolute: 1}); err == nil || !strings.Contains(err.Error(), "at least one field") {
		t.Errorf("no fields: %v, want an error naming fields", err)
	}
	op, err := NewDeadband(DeadbandConfig{Fields: []string{"v"}, Absolute: 1})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, v := range []string{`{"v":1}`, `{"v":1.5}`, `{"v":2.5}`} {
		if err := op.Process(rec("a", 0, v), func(r *Record) { out = append(out, string(r.Value)) }); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(out, " ") != `{"v":1} {"v":2.5}` {
		t.Errorf("emitted %q", out)
	}
}
