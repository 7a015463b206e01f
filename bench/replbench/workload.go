package main

import (
	"time"

	"github.com/tributary-io/tributary/spool"
)

// record is one telemetry reading: the spool record's key and value, and
// the MQTT topic the Mosquitto side publishes it on.
type record struct {
	device string
	topic  string
	value  []byte
	ts     time.Time
}

// records are the readings of a workload (replwork.Workload), each with
// its topic: sensors/ and the device id.
func records(work []spool.Record) []record {
	out := make([]record, len(work))
	for i, r := range work {
		dev := string(r.Key)
		out[i] = record{device: dev, topic: "sensors/" + dev, value: r.Value, ts: r.Time}
	}
	return out
}
