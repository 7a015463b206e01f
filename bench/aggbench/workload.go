package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/tributary-io/tributary/spool"
)

// The workload: voltage readings from energy meters. Each of the devices
// reports every readEvery, its phase spread over the period, with up to
// jitter of disorder in event time; the key is the device id and the value
// a JSON document of about 150 bytes, e.g.
//
//	{"site":"plant-06","device":"meter-00042","metric":"voltage","value":229.14,"unit":"V","quality":"good","seq":42,"ts":"2026-11-29T10:00:00.42Z"}
const (
	streamName = "telemetry"
	readEvery  = 10 * time.Second
	jitter     = 2 * time.Second
	fillBatch  = 2000
)

var baseTime = time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)

func makeRecord(rng *rand.Rand, i, devices int, volts []float64) spool.Record {
	d := i % devices
	round := i / devices
	t := baseTime.Add(time.Duration(round)*readEvery + time.Duration(d)*readEvery/time.Duration(devices))
	t = t.Add(time.Duration(rng.Int64N(int64(jitter))) - jitter/2)
	volts[d] += rng.NormFloat64() * 0.4
	v := fmt.Appendf(nil, `{"site":"plant-%02d","device":"meter-%05d","metric":"voltage","value":%.2f,"unit":"V","quality":"good","seq":%d,"ts":"%s"}`,
		d%20, d, volts[d], round, t.Format("2006-01-02T15:04:05.000Z07:00"))
	return spool.Record{Key: fmt.Appendf(nil, "meter-%05d", d), Value: v, Time: t}
}

// fill makes a spool in dir holding the workload in one partition (a
// pipeline step runs per partition).
func fill(dir string, c config) (*spool.Spool, error) {
	s, err := spool.Open(dir, spool.Options{})
	if err != nil {
		return nil, err
	}
	if err := s.EnsureStream(spool.StreamConfig{Name: streamName, Partitions: 1, MaxBytes: 64 << 30}); err != nil {
		s.Close() //nolint:errcheck // the error that matters is EnsureStream's
		return nil, err
	}
	rng := rand.New(rand.NewPCG(2026, 1129))
	volts := make([]float64, c.devices)
	for i := range volts {
		volts[i] = 225 + rng.Float64()*10
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := 0; i < c.records; i += fillBatch {
		recs := make([]spool.Record, 0, fillBatch)
		for j := i; j < min(i+fillBatch, c.records); j++ {
			recs = append(recs, makeRecord(rng, j, c.devices, volts))
		}
		wg.Add(1)
		err := s.AppendAsync(context.Background(), streamName, recs, func(r spool.Result) {
			defer wg.Done()
			if r.Err != nil {
				mu.Lock()
				firstErr = r.Err
				mu.Unlock()
			}
		})
		if err != nil {
			wg.Done()
			firstErr = err
			break
		}
	}
	wg.Wait()
	if firstErr != nil {
		s.Close() //nolint:errcheck // the error that matters is the append's
		return nil, fmt.Errorf("fill the spool: %w", firstErr)
	}
	return s, nil
}
