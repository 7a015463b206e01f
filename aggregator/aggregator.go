package aggregator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-io/tributary/spool"
)

// Options configure an Aggregator. The zero value of every field but Spool
// means its default.
type Options struct {
	// Spool holds the input and output streams, the cursors and the state.
	// Required; it must outlive the Aggregator.
	Spool *spool.Spool
	// Pipelines to run; their streams must exist in Spool when Run starts.
	Pipelines []PipelineConfig
	// Registerer receives the metrics; nil registers none.
	Registerer prometheus.Registerer
	// Logger receives gap and error reports; nil discards them.
	Logger *slog.Logger
	// CommitInterval is the longest a partition's processed input waits to
	// be committed (and the shortest time between its commits, unless
	// CommitRecords or MaxCommitBytes is reached first). Default 1s; 1ms to 1m.
	CommitInterval time.Duration
	// CommitRecords commits after this many input records. Default 50000.
	CommitRecords int
	// MaxCommitBytes commits once the output waiting reaches this size
	// (records as the spool sizes them). It must stay under the spool's
	// MaxBatchBytes, which bounds one commit. Default 1MiB.
	MaxCommitBytes int
	// Now is the clock for the lag metric; nil is time.Now.
	Now func() time.Time
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o Options) withDefaults() (Options, error) {
	if o.Spool == nil {
		return o, errors.New("aggregator: Options.Spool is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.CommitInterval == 0 {
		o.CommitInterval = time.Second
	}
	if o.CommitInterval < time.Millisecond || o.CommitInterval > time.Minute {
		return o, fmt.Errorf("aggregator: CommitInterval must be between 1ms and 1m, got %v", o.CommitInterval)
	}
	if o.CommitRecords == 0 {
		o.CommitRecords = 50_000
	}
	if o.CommitRecords < 1 {
		return o, fmt.Errorf("aggregator: CommitRecords must be ≥ 1, got %d", o.CommitRecords)
	}
	if o.MaxCommitBytes == 0 {
		o.MaxCommitBytes = 1 << 20
	}
	if o.MaxCommitBytes < 1 {
		return o, fmt.Errorf("aggregator: MaxCommitBytes must be ≥ 1, got %d", o.MaxCommitBytes)
	}
	return o, nil
}

// Aggregator runs pipelines over a spool.
type Aggregator struct {
	opts      Options
	sp        *spool.Spool
	pipelines []*pipeline
	metrics   *metrics

	mu      sync.Mutex
	closed  bool
	running bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// New validates the options and compiles every pipeline: a bad step or
// expression is a *ConfigError naming the pipeline, the step and the
// position. Nothing runs until Run.
func New(opts Options) (*Aggregator, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	a := &Aggregator{opts: opts, sp: opts.Spool, metrics: newMetrics()}
	seen := map[string]bool{}
	for _, pc := range opts.Pipelines {
		if seen[pc.Name] {
			return nil, &ConfigError{Pipeline: pc.Name, Step: -1, Err: errors.New("another pipeline has this name")}
		}
		seen[pc.Name] = true
		pl, err := compile(pc)
		if err != nil {
			return nil, err
		}
		a.pipelines = append(a.pipelines, pl)
	}
	return a, nil
}

// Run processes every pipeline's partitions until ctx ends or Close, then
// commits what was processed and returns nil. It fails at once if a
// pipeline names a stream the spool lacks.
func (a *Aggregator) Run(ctx context.Context) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return ErrClosed
	}
	if a.running {
		a.mu.Unlock()
		return errors.New("aggregator: Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	a.running, a.cancel, a.done = true, cancel, make(chan struct{})
	a.mu.Unlock()
	defer close(a.done)
	defer cancel()

	runners, err := a.runners()
	if err != nil {
		return err
	}
	if a.opts.Registerer != nil {
		for _, c := range a.metrics.collectors {
			if err := a.opts.Registerer.Register(c); err != nil {
				return fmt.Errorf("aggregator metrics: %w", err)
			}
		}
		defer func() {
			for _, c := range a.metrics.collectors {
				a.opts.Registerer.Unregister(c)
			}
		}()
	}
	var wg sync.WaitGroup
	for _, r := range runners {
		wg.Go(func() { r.run(ctx) })
	}
	wg.Wait()
	return nil
}

// Init sets the cursor of every pipeline's input partition that has none,
// at the oldest record held, so that retention keeps the input from then
// on. Run does it too; a node calls Init before it starts taking records
// in, so that none is deleted before the pipeline sees it.
func (a *Aggregator) Init() error {
	for _, pl := range a.pipelines {
		_, cfg, err := a.streams(pl)
		if err != nil {
			return err
		}
		for p := range cfg.Partitions {
			if _, ok, err := a.sp.Cursor("agg/"+pl.cfg.Name, pl.cfg.From, p); err != nil {
				return err
			} else if !ok {
				if _, err := a.protect(pl, p); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// protect sets a new pipeline's cursor on one partition at the oldest
// record held, and returns that offset.
func (a *Aggregator) protect(pl *pipeline, p int) (uint64, error) {
	start, _, err := a.sp.Offsets(pl.cfg.From, p)
	if err != nil {
		return 0, err
	}
	t := new(spool.Txn).SetCursor("agg/"+pl.cfg.Name, pl.cfg.From, p, start, true)
	_, err = a.sp.Commit(context.Background(), t)
	return start, err
}

// streams returns the configs of a pipeline's input stream, checking that
// both its streams exist.
func (a *Aggregator) streams(pl *pipeline) (ok bool, from spool.StreamConfig, err error) {
	var okTo bool
	for _, s := range a.sp.Streams() {
		switch s.Name {
		case pl.cfg.From:
			from, ok = s, true
		case pl.cfg.To:
			okTo = true
		}
	}
	if !ok || !okTo {
		return false, from, fmt.Errorf("pipeline %q: stream %q or %q is not in the spool", pl.cfg.Name, pl.cfg.From, pl.cfg.To)
	}
	return true, from, nil
}

// runners makes one runner per pipeline and input partition.
func (a *Aggregator) runners() ([]*runner, error) {
	var all []*runner
	for _, pl := range a.pipelines {
		_, from, err := a.streams(pl)
		if err != nil {
			return nil, err
		}
		var rs []*runner
		for p := range from.Partitions {
			rs = append(rs, &runner{a: a, pl: pl, part: p, keys: newStateKeys(pl.cfg.Name, p),
				log: a.opts.Logger.With("pipeline", pl.cfg.Name)})
		}
		pm := a.metrics.pipeline(a, pl, rs)
		for _, r := range rs {
			r.m = pm
		}
		all = append(all, rs...)
	}
	return all, nil
}

// Close stops Run, waiting for it to commit what it processed. It does not
// close the spool.
func (a *Aggregator) Close() error {
	a.mu.Lock()
	a.closed = true
	cancel, done := a.cancel, a.done
	a.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	return nil
}
