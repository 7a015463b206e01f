package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/tributary-io/tributary/bench/internal/figure"
	"github.com/tributary-io/tributary/bench/internal/host"
)

// Section 1a: how long the disk takes to make 4 KiB durable.

const pageSize = 4096

// syncResult is the write+sync latency, per run percentiles over runs, for
// two patterns: appending a new block (as a growing log does) and
// rewriting a block in place (as bbolt's meta page is).
type syncResult struct {
	Call         string        `json:"call"`
	Samples      int           `json:"samples_per_run"`
	AppendP50Ms  figure.Spread `json:"append_p50_ms"`
	AppendP99Ms  figure.Spread `json:"append_p99_ms"`
	InPlaceP50Ms figure.Spread `json:"in_place_p50_ms"`
	InPlaceP99Ms figure.Spread `json:"in_place_p99_ms"`
	AppendMaxMs  figure.Spread `json:"append_max_ms"`
	InPlaceMaxMs figure.Spread `json:"in_place_max_ms"`
}

func measureSync(c config) (*syncResult, error) {
	var app, inPlace [][]time.Duration // sorted samples of each measured run
	for i := range c.runs + 1 {
		a, p, err := syncRun(c.dir, c.fsyncs)
		if err != nil {
			return nil, err
		}
		if i > 0 { // run 0 is the warm-up
			app, inPlace = append(app, a), append(inPlace, p)
		}
	}
	return &syncResult{Call: datasyncName, Samples: c.fsyncs,
		AppendP50Ms: quantileSpread(app, 0.5), AppendP99Ms: quantileSpread(app, 0.99), AppendMaxMs: quantileSpread(app, 1),
		InPlaceP50Ms: quantileSpread(inPlace, 0.5), InPlaceP99Ms: quantileSpread(inPlace, 0.99), InPlaceMaxMs: quantileSpread(inPlace, 1)}, nil
}

// quantileSpread is the figure.Spread over runs of each run's q-quantile, in ms.
func quantileSpread(runs [][]time.Duration, q float64) figure.Spread {
	var v []float64
	for _, r := range runs {
		v = append(v, figure.Ms(figure.Percentile(r, q)))
	}
	return figure.Of(v)
}

// syncRun measures n appending and n in-place write+syncs, sorted.
func syncRun(parent string, n int) (app, inPlace []time.Duration, err error) {
	err = host.InTempDir(parent, "spoolbench-", func(dir string) error {
		if app, err = syncSamples(filepath.Join(dir, "append"), n, false); err != nil {
			return err
		}
		inPlace, err = syncSamples(filepath.Join(dir, "inplace"), n, true)
		return err
	})
	return app, inPlace, err
}

// syncSamples writes 4 KiB and syncs it n times. In place, the writes cycle
// over 16 blocks of a file written and synced beforehand; otherwise each
// write adds a block at the end.
func syncSamples(path string, n int, inPlace bool) ([]time.Duration, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("fsync test file: %w", err)
	}
	defer f.Close()
	block := make([]byte, pageSize)
	if inPlace {
		if err := preallocate(f, 16*pageSize); err != nil {
			return nil, err
		}
	}
	out := make([]time.Duration, 0, n)
	for i := range n {
		off := int64(i) * pageSize
		if inPlace {
			off = int64(i%16) * pageSize
		}
		block[0] = byte(i)
		began := time.Now()
		if _, err := f.WriteAt(block, off); err != nil {
			return nil, fmt.Errorf("fsync test write: %w", err)
		}
		if err := datasync(f); err != nil {
			return nil, fmt.Errorf("fsync test sync: %w", err)
		}
		out = append(out, time.Since(began))
	}
	slices.Sort(out)
	return out, nil
}

func preallocate(f *os.File, size int) error {
	if _, err := f.WriteAt(make([]byte, size), 0); err != nil {
		return fmt.Errorf("fsync test write: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync test sync: %w", err)
	}
	return nil
}
