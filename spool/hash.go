package spool

// Partition returns the partition of key among n (n ≥ 1): (murmur2(key) & 0x7fffffff) % n — the same placement as
// Apache Kafka's default partitioner for keyed records, so a key lands on the same partition number in a Kafka topic
// with the same partition count. Stable across versions: changing it would reorder every existing stream.
//
// An empty or nil key is hashed like any other (to partition 275646681 % n), as Kafka does for an empty key; Kafka
// itself spreads records with a null key instead, so those do not share a placement. Partition panics if n < 1, a
// programming error: stream configs are validated to have at least one partition.
func Partition(key []byte, n int) int {
	if n < 1 {
		panic("spool: Partition: partition count must be at least 1")
	}
	return int(murmur2(key)&0x7fffffff) % n
}

// murmur2 is Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), seed 0x9747b28c. Java does the same
// arithmetic on int32; the bits are the same on uint32.
func murmur2(data []byte) uint32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	h := uint32(seed) ^ uint32(len(data))
	n := len(data) &^ 3
	for i := 0; i < n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch tail := data[n:]; len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}
