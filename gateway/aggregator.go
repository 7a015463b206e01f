package gateway

import (
	"context"
	"errors"

	"github.com/tributary-io/tributary/aggregator"
	"github.com/tributary-io/tributary/spool"
)

// startAggregator runs the config's pipelines, if any. Their cursors are
// set before it returns, so that what ingest takes in next is kept for
// them.
func (n *Node) startAggregator(sp *spool.Spool) (*aggregator.Aggregator, error) {
	if len(n.cfg.Pipelines) == 0 {
		return nil, nil
	}
	opts := aggregator.Options{
		Spool: sp,
		// One commit's output must fit the spool's commit bound, with room
		// for the records of the last batch read.
		MaxCommitBytes: min(1<<20, int(n.cfg.Spool.MaxBatchBytes)/4),
		Registerer:     n.reg,
		Logger:         n.log.With("component", "aggregator"),
	}
	for _, p := range n.cfg.Pipelines {
		opts.Pipelines = append(opts.Pipelines, p.Aggregator())
	}
	a, err := aggregator.New(opts)
	if err != nil {
		return nil, err
	}
	if err := a.Init(); err != nil {
		return nil, err
	}
	n.aggDone = make(chan error, 1)
	go func() { n.aggDone <- a.Run(context.Background()) }()
	return a, nil
}

// stopAggregator stops the pipelines after they commit what they
// processed.
func (n *Node) stopAggregator() error {
	if n.agg == nil {
		return nil
	}
	_ = n.agg.Close()
	if err := <-n.aggDone; err != nil && !errors.Is(err, aggregator.ErrClosed) {
		return err
	}
	return nil
}
