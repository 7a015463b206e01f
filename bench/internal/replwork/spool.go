package replwork

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tributary-io/tributary/spool"
)

// FillSpool writes recs into a new spool in dir with Stream, fillBatch
// records per Append, and returns the bytes it stores (batches as stored).
func FillSpool(dir string, recs []spool.Record, fillBatch int) (int64, error) {
	sp, err := spool.Open(dir, spool.Options{})
	if err != nil {
		return 0, err
	}
	if err := sp.EnsureStream(Stream); err != nil {
		sp.Close()
		return 0, err
	}
	for i := 0; i < len(recs); i += fillBatch {
		if _, err := sp.Append(context.Background(), Stream.Name, recs[i:min(i+fillBatch, len(recs))]...); err != nil {
			sp.Close()
			return 0, fmt.Errorf("fill the edge spool: %w", err)
		}
	}
	st, err := sp.Stat()
	if err != nil {
		sp.Close()
		return 0, err
	}
	var stored int64
	for _, s := range st.Streams {
		stored += s.Bytes
	}
	return stored, sp.Close()
}

// CopyTree copies the regular files under src to dst.
func CopyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(to)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}
