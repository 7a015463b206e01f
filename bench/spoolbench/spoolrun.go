package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-io/tributary/bench/internal/host"
	"github.com/tributary-io/tributary/spool"
)

// The spool under test runs with its default Options: what a node gets.

const tierFsync = "fsync before ack"

// testSpool is an open spool with the benchmark's stream and a private
// metrics registry, read for commit statistics.
type testSpool struct {
	*spool.Spool
	dir  string
	opts spool.Options // as opened, without the registry
	reg  *prometheus.Registry
}

func openSpool(dir string, opts spool.Options) (*testSpool, error) {
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	s, err := spool.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	if err := s.EnsureStream(streamConfig()); err != nil {
		return nil, errors.Join(fmt.Errorf("create stream: %w", err), s.Close())
	}
	opts.Registerer = nil
	return &testSpool{Spool: s, dir: dir, opts: opts, reg: reg}, nil
}

// withSpool runs fn on a spool in a fresh directory under c.dir, then
// closes the spool and removes the directory.
func withSpool(c config, fn func(s *testSpool) error) error {
	return host.InTempDir(c.dir, "spoolbench-", func(dir string) error {
		s, err := openSpool(dir, c.spoolOptions())
		if err != nil {
			return err
		}
		err = fn(s)
		if cerr := s.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close spool: %w", cerr)
		}
		return err
	})
}

// spoolOptions are the Options every spool of the run is opened with: the
// defaults, unless -linger is given.
func (c config) spoolOptions() spool.Options { return spool.Options{Linger: c.linger} }

// commitStats is what the spool's own metrics say about its group commits.
type commitStats struct {
	commits     float64
	commitSecs  float64 // total time inside commits: encode, bbolt tx, fsyncs
	records     float64
	bounds      []float64 // commit-time histogram: bucket upper bounds, seconds
	cumulative  []uint64  // and cumulative counts
	fromMetrics bool
}

// stats reads the commit histograms; fromMetrics is false if the spool no
// longer exports them under these names.
func (s *testSpool) stats() commitStats {
	mfs, err := s.reg.Gather()
	if err != nil {
		return commitStats{}
	}
	var c commitStats
	for _, mf := range mfs {
		if len(mf.GetMetric()) != 1 {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		switch {
		case h == nil:
		case mf.GetName() == "tributary_spool_commit_seconds":
			c.commits, c.commitSecs, c.fromMetrics = float64(h.GetSampleCount()), h.GetSampleSum(), true
			for _, b := range h.GetBucket() {
				c.bounds, c.cumulative = append(c.bounds, b.GetUpperBound()), append(c.cumulative, b.GetCumulativeCount())
			}
		case mf.GetName() == "tributary_spool_records_per_commit":
			c.records = h.GetSampleSum()
		}
	}
	return c
}

// sub is the difference of two readings.
func (c commitStats) sub(o commitStats) commitStats {
	d := commitStats{commits: c.commits - o.commits, commitSecs: c.commitSecs - o.commitSecs,
		records: c.records - o.records, bounds: c.bounds, fromMetrics: c.fromMetrics && o.fromMetrics}
	for i, n := range c.cumulative {
		if i < len(o.cumulative) && len(o.cumulative) == len(c.cumulative) {
			n -= o.cumulative[i]
		}
		d.cumulative = append(d.cumulative, n)
	}
	return d
}

// quantileMs is the upper bound, in ms, of the histogram bucket holding the
// q-quantile of commit times; -1 when unknown or above the last bound.
func (c commitStats) quantileMs(q float64) float64 {
	for i, n := range c.cumulative {
		if float64(n) >= q*c.commits && c.commits > 0 {
			return c.bounds[i] * 1e3
		}
	}
	return -1
}

// fileSize is the size of the spool's file.
func (s *testSpool) fileSize() int64 {
	fi, err := os.Stat(s.Path())
	if err != nil {
		return 0
	}
	return fi.Size()
}
