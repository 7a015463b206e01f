package spool

import (
	"encoding/hex"
	"testing"
)

// TestMurmur2KafkaVectors checks murmur2 against Kafka's own test vectors (UtilsTest.testMurmur2), read as int32.
func TestMurmur2KafkaVectors(t *testing.T) {
	for key, want := range map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
	} {
		if got := int32(murmur2([]byte(key))); got != want {
			t.Errorf("murmur2(%q) = %d, want %d", key, got, want)
		}
	}
}

// TestMurmur2Tails covers the tail lengths Kafka's vectors miss (1 byte past a multiple of 4, and binary keys), with
// values computed by a line-by-line transliteration of Kafka's Java Utils.murmur2.
func TestMurmur2Tails(t *testing.T) {
	for key, want := range map[string]int32{
		"44":                 -1339759895,
		"f90ec7dd01":         -1871343714,
		"0b0d04c36ed80e":     -980327290,
		"940bd5335f973daad8": -1112856320,
	} {
		b, err := hex.DecodeString(key)
		if err != nil {
			t.Fatal(err)
		}
		if got := int32(murmur2(b)); got != want {
			t.Errorf("murmur2(%s) = %d, want %d", key, got, want)
		}
	}
}

// TestPartitionPinned pins placements: if one changes, every existing stream would be reordered.
func TestPartitionPinned(t *testing.T) {
	for _, c := range []struct {
		key  string
		n    int
		want int
	}{
		{"meter-0042", 1, 0}, {"meter-0042", 12, 6}, {"meter-0042", 64, 6},
		{"meter-0043", 12, 0}, {"meter-0043", 64, 4},
		{"sensor/boiler-7", 3, 1}, {"sensor/boiler-7", 64, 1},
		{"site-α/device-9", 3, 2}, {"site-α/device-9", 12, 5}, {"site-α/device-9", 64, 45},
		{"21", 1000, 340}, // (-973932308 & 0x7fffffff) % 1000, as Kafka computes it
	} {
		if got := Partition([]byte(c.key), c.n); got != c.want {
			t.Errorf("Partition(%q, %d) = %d, want %d", c.key, c.n, got, c.want)
		}
	}
}

// TestPartitionEmptyKey: a nil and an empty key are placed alike, and always in the same place.
func TestPartitionEmptyKey(t *testing.T) {
	if got := murmur2(nil); got != 275646681 {
		t.Errorf("murmur2(nil) = %d, want 275646681", got)
	}
	for n, want := range map[int]int{1: 0, 3: 0, 12: 9, 64: 25} {
		if a, b := Partition(nil, n), Partition([]byte{}, n); a != want || b != want {
			t.Errorf("Partition(nil, %d) = %d, Partition([]byte{}, %d) = %d, want %d", n, a, n, b, want)
		}
	}
}

// TestPartitionRange: every result is in [0, n), including keys whose hash has the top bit set.
func TestPartitionRange(t *testing.T) {
	for i := range 2000 {
		key := []byte{byte(i), byte(i >> 8), 0xff}
		for _, n := range []int{1, 2, 7, 1 << 30} {
			if p := Partition(key, n); p < 0 || p >= n {
				t.Fatalf("Partition(%x, %d) = %d, outside [0, %d)", key, n, p, n)
			}
		}
	}
}

func TestPartitionPanicsOnNoPartitions(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Partition(key, 0) did not panic")
		}
	}()
	Partition([]byte("k"), 0)
}
