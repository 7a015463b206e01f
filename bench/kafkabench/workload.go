package main

import (
	"encoding/binary"
	"hash/fnv"
	"time"

	"github.com/tributary-io/tributary/bench/internal/replwork"
)

// stream is the edge's stream, and the hub's (spool, or Kafka topic) of
// the same name.
var stream = replwork.Stream

const site = "plant-01"

// fingerprint is an order-free digest of a multiset of records: the count
// and the sum of a 64-bit hash of each record's key, value and event time
// (in ms, Kafka's precision). Two sides with the same fingerprint hold the
// same records, each as often, with overwhelming probability.
type fingerprint struct {
	Records int    `json:"records"`
	Sum     uint64 `json:"sum"`
}

func (f *fingerprint) add(key, value []byte, t time.Time) {
	h := fnv.New64a()
	_, _ = h.Write(key)
	_, _ = h.Write([]byte{0})
	_, _ = h.Write(value)
	_, _ = h.Write(binary.BigEndian.AppendUint64(nil, uint64(t.UnixMilli())))
	f.Records++
	f.Sum += h.Sum64()
}
