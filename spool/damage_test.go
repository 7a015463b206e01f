package spool

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// damagedSpool writes two partitions of plain (uncompressed) records, each
// value marked so the test can find it in the file, and closes the spool.
func damagedSpool(t *testing.T) (dir string, path string) {
	t.Helper()
	dir = t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ensure(t, s, StreamConfig{Name: "t", Partitions: 2, MaxBytes: 256 << 20, Uncompressed: true})
	for b := range 3 {
		var recs []Record
		for i := range 20 {
			p := i / 10 // records 0-9 go to partition 0, 10-19 to 1
			recs = append(recs, Record{Key: []byte{byte(p)}, Value: []byte(strings.Repeat("v", 40) + "MARK" + string(rune('a'+b)) + string(rune('0'+p)))})
		}
		// one batch per partition per call
		if _, err := s.Commit(ctx(t), new(Txn).AppendTo("t", 0, recs[:10]...).AppendTo("t", 1, recs[10:]...)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, filepath.Join(dir, FileName)
}

// flipAll flips a bit at offset at from every occurrence of marker in b and
// returns how many it flipped.
func flipAll(b, marker []byte, at int) int {
	n := 0
	for i := 0; ; {
		j := bytes.Index(b[i:], marker)
		if j < 0 {
			return n
		}
		b[i+j+at] ^= 0x10
		n++
		i += j + 1
	}
}

func editFile(t *testing.T, path string, edit func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, edit(b), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A flipped bit in a stored batch: reads of that batch fail with a typed
// error naming it, everything else stays readable, the node can still
// append, and CheckDir names the exact range lost.
func TestDamagedBatchIsReportedNotFatal(t *testing.T) {
	dir, path := damagedSpool(t)
	// bbolt copies pages on write, so stale copies of a batch may lie in
	// free pages: flip the bit in every copy of the middle batches.
	editFile(t, path, func(b []byte) []byte {
		n := flipAll(b, []byte("MARKb0"), -3)
		if n == 0 {
			t.Fatal("marker not found in the file")
		}
		return b
	})

	r, err := CheckDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Problems) != 1 {
		t.Fatalf("CheckDir problems = %v, want exactly the damaged batch", r.Problems)
	}
	pr := r.Problems[0]
	if pr.Stream != "t" || pr.Partition != 0 || pr.From != 10 || pr.To != 20 || !strings.Contains(pr.What, "crc") {
		t.Fatalf("problem = %s; want stream t partition 0 offsets 10 to 19, a crc mismatch", pr)
	}

	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open with one damaged batch = %v; the node must keep serving", err)
	}
	defer s.Close()
	_, err = s.Read("t", pr.Partition, 10, 1<<20)
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Stream != "t" || ce.Partition != pr.Partition || ce.Offset != 10 || !errors.Is(err, ErrCorruptBatch) {
		t.Fatalf("Read of the damaged batch = %v, want a CorruptError naming t/%d/10", err, pr.Partition)
	}
	// Before it, and the other partition, read fine.
	if entries, err := s.Read("t", pr.Partition, 0, 1<<20); err != nil || len(entries) != 1 {
		t.Fatalf("Read before the damage = %d entries, %v; want the one good batch", len(entries), err)
	}
	if got, _ := readAll(t, s, "t", 1-pr.Partition, 0); len(got) != 30 {
		t.Fatalf("the undamaged partition reads %d records, want 30", len(got))
	}
	if _, err := s.Append(ctx(t), "t", Record{Key: []byte{0}, Value: []byte("after")}); err != nil {
		t.Fatalf("append with a damaged batch on disk = %v", err)
	}
}

// The damage table for the file as a whole: each case must give its
// outcome, and none may panic or hang.
func TestDamagedFiles(t *testing.T) {
	cases := map[string]struct {
		damage func(t *testing.T, path string)
		// open: the error Open must give (nil: Open succeeds); check: a
		// word CheckDir's problems or error must contain.
		open  error
		check string
	}{
		"foreign file": {
			damage: func(t *testing.T, path string) {
				editFile(t, path, func([]byte) []byte { return bytes.Repeat([]byte("not a database\n"), 2000) })
			},
			open: ErrCorrupt, check: "not a readable spool",
		},
		"truncated to one page": {
			damage: func(t *testing.T, path string) { editFile(t, path, func(b []byte) []byte { return b[:4096] }) },
			open:   ErrCorrupt, check: "",
		},
		"truncated value": {
			damage: func(t *testing.T, path string) {
				rewriteBatch(t, path, func(v []byte) []byte { return v[:len(v)/2] })
			},
			open: nil, check: "damaged batch",
		},
		"zeroed meta pages": {
			damage: func(t *testing.T, path string) {
				editFile(t, path, func(b []byte) []byte { clear(b[:8192]); return b })
			},
			open: ErrCorrupt, check: "",
		},
		"zeroed data page": {
			damage: func(t *testing.T, path string) {
				editFile(t, path, func(b []byte) []byte {
					i := bytes.Index(b, []byte("MARKc"))
					page := i / 4096 * 4096
					clear(b[page : page+4096])
					return b
				})
			},
			open: nil, check: "",
		},
		"bbolt file of another program": {
			damage: func(t *testing.T, path string) {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
				db, err := bolt.Open(path, 0o600, nil)
				if err != nil {
					t.Fatal(err)
				}
				_ = db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("users")); return err })
				db.Close()
			},
			open: ErrCorrupt, check: "not a Tributary spool",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir, path := damagedSpool(t)
			tc.damage(t, path)
			r, cerr := CheckDir(dir)
			if cerr == nil && r.OK() {
				t.Fatalf("CheckDir found nothing wrong")
			}
			if tc.check != "" && !strings.Contains(fmtReport(r, cerr), tc.check) {
				t.Fatalf("CheckDir = %s, want it to mention %q", fmtReport(r, cerr), tc.check)
			}
			s, err := Open(dir, Options{})
			if tc.open != nil {
				if !errors.Is(err, tc.open) {
					t.Fatalf("Open = %v, want %v", err, tc.open)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open = %v, want it to open and report damage on read", err)
			}
			defer s.Close()
			for p := range 2 {
				if _, err := s.Read("t", p, 0, 1<<20); err != nil && !errors.Is(err, ErrCorrupt) {
					t.Errorf("Read partition %d = %v, want data or ErrCorrupt", p, err)
				}
			}
		})
	}
}

func fmtReport(r Report, err error) string {
	var b strings.Builder
	if err != nil {
		b.WriteString(err.Error() + "; ")
	}
	for _, p := range r.Problems {
		b.WriteString(p.String() + "; ")
	}
	return b.String()
}

// rewriteBatch replaces the first batch of partition 0 through bbolt itself,
// as a buggy writer or a bad sector under a valid page might leave it.
func rewriteBatch(t *testing.T, path string, edit func([]byte) []byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketData).Bucket([]byte("t")).Bucket(be32(0)).Bucket(keyBatches)
		k, v := b.Cursor().First()
		v = batchValue(b, k, v)
		return b.Bucket(k).Put(keyBatch, edit(append([]byte(nil), v...)))
	})
	if err != nil {
		t.Fatal(err)
	}
}
