package ingest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tributary-io/tributary/spool"
)

func mustRoute(t *testing.T, r Route) *route {
	t.Helper()
	c, err := compileRoute(r)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRouteMatch(t *testing.T) {
	r := mustRoute(t, Route{Topic: "sensors/{site}/{device}/{metric}", Stream: "telemetry", Key: "{site}-{device}"})
	cases := map[string]string{ // topic → key, "" for no match
		"sensors/plant-01/meter-7/voltage": "plant-01-meter-7",
		"sensors/plant-01/meter-7":         "",
		"sensors/plant-01/meter-7/v/extra": "",
		"other/plant-01/meter-7/voltage":   "",
		"sensors//meter-7/voltage":         "-meter-7",
	}
	for topic, wantKey := range cases {
		hs, ok := r.match(topic)
		if ok != (wantKey != "") {
			t.Errorf("%s: match = %v", topic, ok)
			continue
		}
		if ok {
			if got := string(r.makeKey(topic, hs)); got != wantKey {
				t.Errorf("%s: key %q, want %q", topic, got, wantKey)
			}
		}
	}
	hash := mustRoute(t, Route{Topic: "alarms/+/#", Stream: "alarms"})
	for topic, want := range map[string]bool{"alarms/a": true, "alarms/a/b/c": true, "alarms": false, "alarm/a": false} {
		if _, ok := hash.match(topic); ok != want {
			t.Errorf("alarms/+/# on %s = %v", topic, ok)
		}
	}
	all := mustRoute(t, Route{Topic: "#", Stream: "s"})
	for topic, want := range map[string]bool{"a/b": true, "$share/g/t": false, "$SYS/x": false} {
		if _, ok := all.match(topic); ok != want {
			t.Errorf("# on %s = %v", topic, ok)
		}
	}
}

func TestRouteRecord(t *testing.T) {
	r := mustRoute(t, Route{Topic: "m/{device}", Stream: "s", Key: "{device}", Format: FormatJSON, TimeField: "ts"})
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	hs, _ := r.match("m/d1")
	rec, err := r.record("m/d1", []byte(`{"v":1,"ts":"2026-11-29T10:00:00Z"}`), hs, now)
	if err != nil {
		t.Fatal(err)
	}
	if string(rec.Key) != "d1" || !rec.Time.Equal(time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("record = %+v", rec)
	}
	want := []spool.Header{{Key: "device", Value: []byte("d1")}, {Key: "topic", Value: []byte("m/d1")}}
	if len(rec.Headers) != 2 || rec.Headers[0].Key != want[0].Key || string(rec.Headers[1].Value) != "m/d1" {
		t.Fatalf("headers = %+v", rec.Headers)
	}
	if rec, _ := r.record("m/d1", []byte(`{"v":1,"ts":1700000000123}`), hs, now); rec.Time.UnixMilli() != 1700000000123 {
		t.Fatalf("unix ms time = %v", rec.Time)
	}
	for _, p := range []string{`{"v":1}`, `{"v":1,"ts":null}`} {
		if rec, err := r.record("m/d1", []byte(p), hs, now); err != nil || !rec.Time.Equal(now) {
			t.Fatalf("%s: time = %v, %v; want the arrival time", p, rec.Time, err)
		}
	}
	plain := mustRoute(t, Route{Topic: "m/{device}", Stream: "s", Format: FormatJSON})
	for p, ok := range map[string]bool{`{"v":1}`: true, ` {"v":[1,2]} `: true, `[1]`: false, `{"v":`: false, `7`: false, ``: false} {
		if _, err := plain.record("m/d1", []byte(p), hs, now); (err == nil) != ok {
			t.Errorf("json route without time field, payload %q: err = %v", p, err)
		}
	}
	// Times a spool cannot hold (Unix nanoseconds in an int64) are refused,
	// not wrapped into some other time.
	for _, bad := range []string{`not json`, `[1,2]`, `{"ts":"yesterday"}`, `{"ts":true}`,
		`{"ts":1e300}`, `{"ts":-1e300}`, `{"ts":"9999-01-01T00:00:00Z"}`, `{"ts":"0001-01-01T00:00:00Z"}`} {
		if _, err := r.record("m/d1", []byte(bad), hs, now); !errors.Is(err, errPayload) {
			t.Errorf("payload %s: err = %v, want errPayload", bad, err)
		}
	}
}

func TestCompileRouteErrors(t *testing.T) {
	for r, want := range map[Route]string{
		{Topic: "a/#/b", Stream: "s"}:                "# must be the last level",
		{Topic: "a/b", Stream: ""}:                   "stream is required",
		{Topic: "a/{x}", Stream: "s", Key: "{y}"}:    "does not capture",
		{Topic: "a/b", Stream: "s", Format: "xml"}:   "format must be raw or json",
		{Topic: "a/b", Stream: "s", TimeField: "ts"}: "time_field needs format json",
		{Topic: "a/x+y", Stream: "s"}:                "want a literal",
		{Topic: "a/{x}", Stream: "s", Key: "{x"}:     "unclosed",
	} {
		if _, err := compileRoute(r); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("compileRoute(%+v) = %v, want %q", r, err, want)
		}
	}
}
