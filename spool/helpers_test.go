package spool

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir) // never returns
	}
	goleak.VerifyTestMain(m)
}

// openTest opens a spool in a new directory. When the test ends it checks
// the spool's consistency, open and then closed and reopened read-only, so
// every test also proves it left a sound file.
func openTest(t testing.TB, opts Options) (*Spool, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if !s.closed.Load() {
			assertConsistent(t, s.Check)
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
		assertConsistent(t, func() (Report, error) { return CheckDir(dir) })
	})
	return s, dir
}

func assertConsistent(t testing.TB, check func() (Report, error)) {
	t.Helper()
	r, err := check()
	if err != nil {
		t.Errorf("check: %v", err)
		return
	}
	for _, p := range r.Problems {
		t.Errorf("consistency: %s", p)
	}
}

// testStream is a stream config with room to spare, small enough that a
// few fit a 32-bit platform's map budget.
func testStream(name string, partitions int) StreamConfig {
	return StreamConfig{Name: name, Partitions: partitions, MaxBytes: 256 << 20}
}

func ensure(t testing.TB, s *Spool, cfgs ...StreamConfig) {
	t.Helper()
	for _, c := range cfgs {
		if err := s.EnsureStream(c); err != nil {
			t.Fatalf("EnsureStream(%s): %v", c.Name, err)
		}
	}
}

// rec makes a record with a key and a value that encodes both (so a test
// can tell whose it is), at a fixed time.
func rec(key string, i int) Record {
	return Record{
		Key:     []byte(key),
		Value:   fmt.Appendf(nil, `{"device":%q,"seq":%d,"metric":"active_power","value":%d.5,"unit":"W"}`, key, i, 1000+i),
		Time:    time.Unix(1_800_000_000, int64(i)).UTC(),
		Headers: []Header{{Key: "site", Value: []byte("plant-01")}},
	}
}

// readAll returns every record of a partition from offset from, and the
// gaps met on the way.
func readAll(t testing.TB, s *Spool, stream string, p int, from uint64) ([]Record, []Gap) {
	t.Helper()
	var recs []Record
	var gaps []Gap
	_, next, err := s.Offsets(stream, p)
	if err != nil {
		t.Fatal(err)
	}
	for from < next {
		entries, err := s.Read(stream, p, from, 1<<20)
		if err != nil {
			t.Fatalf("Read(%s/%d from %d): %v", stream, p, from, err)
		}
		for _, e := range entries {
			if e.Gap != nil {
				gaps = append(gaps, *e.Gap)
				from = e.NextOffset()
				continue
			}
			rs, err := e.Records()
			if err != nil {
				t.Fatalf("Records at %d: %v", e.Offset(), err)
			}
			skip := int(from - e.Offset())
			recs = append(recs, rs[skip:]...)
			from = e.NextOffset()
		}
	}
	return recs, gaps
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}
