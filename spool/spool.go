package spool

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// FileName is the spool's file inside its directory.
const FileName = "spool.db"

// Spool is a durable, partitioned log in one bbolt file. It is safe for
// concurrent use. All writes go through one committer goroutine, which
// groups them into one bbolt transaction and one fsync per commit.
type Spool struct {
	db    *bolt.DB
	path  string
	opts  Options
	epoch string
	m     *metrics

	// ensureMu serialises EnsureStream. mu guards streams (the map and each
	// stream's cfg) and is never held across a bbolt call: the committer takes
	// it inside its write transaction, so holding it while waiting for bbolt's
	// writer lock would deadlock. Order: ensureMu, then bbolt, then mu.
	ensureMu sync.Mutex
	mu       sync.RWMutex
	streams  map[string]*stream

	q         queue
	lastGroup int                           // requests in the last group commit; committer only
	notify    atomic.Pointer[chan struct{}] // closed after each commit that wrote data
	quit      chan struct{}                 // closed by Close
	done      chan struct{}                 // closed when the committer has exited
	closed    atomic.Bool
}

type stream struct {
	cfg   StreamConfig
	parts []*partition
	ratio float64 // stored bytes per raw byte of recent batches; committer only
}

// observeRatio folds one batch's compression into the stream's estimate.
func (st *stream) observeRatio(stored int, raw int64) {
	if raw <= 0 {
		return
	}
	r := min(float64(stored)/float64(raw), 1)
	if st.ratio == 0 {
		st.ratio = r
		return
	}
	st.ratio = 0.8*st.ratio + 0.2*r
}

// partition holds a partition's metadata as of the last commit. The
// committer writes it after each commit; readers load it without locks.
type partition struct {
	next  atomic.Uint64
	start atomic.Uint64
	bytes atomic.Int64
}

// load reads start before next: store writes them the other way round, so
// a reader never sees a start past the next it read.
func (p *partition) load() partMeta {
	start := p.start.Load()
	return partMeta{start: start, next: p.next.Load(), bytes: p.bytes.Load()}
}

func (p *partition) store(m partMeta) {
	p.start.Store(m.start)
	p.bytes.Store(m.bytes)
	p.next.Store(m.next)
}

// Open opens the spool in dir, creating dir and an empty spool (with a new
// epoch) if there is none. It reads metadata only, not the data. Close it
// when done.
func Open(dir string, opts Options) (*Spool, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s, err := openFile(filepath.Join(dir, FileName), opts, false)
	if err != nil {
		return nil, err
	}
	if s.m, err = newMetrics(s, opts.Registerer); err != nil {
		s.db.Close()
		return nil, err
	}
	ch := make(chan struct{})
	s.notify.Store(&ch)
	s.q.init()
	go s.run()
	return s, nil
}

// openFile opens the bbolt file and loads its metadata. Read-only, it takes
// a shared lock (so it fails while a node has the spool open) and never
// writes: a file without spool metadata is an error, not a new spool.
func openFile(path string, opts Options, readOnly bool) (*Spool, error) {
	if readOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
	}
	db, err := openBolt(path, opts, readOnly)
	if err != nil {
		return nil, openError(path, err)
	}
	s := &Spool{db: db, path: path, opts: opts, streams: map[string]*stream{}, quit: make(chan struct{}), done: make(chan struct{})}
	if err := s.load(readOnly); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func openBolt(path string, opts Options, readOnly bool) (db *bolt.DB, err error) {
	if err := preflight(path); err != nil {
		return nil, err
	}
	defer guard(&err)()
	return bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.OpenTimeout, FreelistType: bolt.FreelistMapType, ReadOnly: readOnly})
}

// openError explains a failure to open the bbolt file and what to do. An
// operating-system error (permission, missing directory) is passed on as
// is; anything bbolt says about the file's content means damage.
func openError(path string, err error) error {
	var pathErr *fs.PathError
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("spool %s is in use by another process (its lock is held); stop that process or use another data_dir: %w", path, err)
	case errors.As(err, &pathErr), errors.Is(err, fs.ErrPermission), errors.As(err, new(syscall.Errno)):
		// The operating system's refusal (permission, memory for the
		// map, a lock): the file may be fine.
		return fmt.Errorf("spool: open %s: %w", path, err)
	}
	return fmt.Errorf("%w: %s is not a readable spool file (%w); run `tributary spool check --dir %s` for a report, and move the directory aside to start a new spool (it gets a new epoch, so a hub will not confuse its offsets with the old ones)",
		ErrCorrupt, path, err, filepath.Dir(path))
}

// Path is the spool's file.
func (s *Spool) Path() string { return s.path }

// Epoch is the random id made when this spool file was created. A spool that
// is rebuilt gets a new one, so offsets from different epochs never mix.
func (s *Spool) Epoch() string { return s.epoch }

// load creates the top buckets of a new file, or checks an existing one, and
// reads every stream's metadata.
func (s *Spool) load(readOnly bool) error {
	run := s.update
	if readOnly {
		run = s.view
	}
	err := run(func(tx *bolt.Tx) error {
		if err := s.initFile(tx); err != nil {
			return err
		}
		return tx.Bucket(bucketStreams).ForEach(func(k, v []byte) error {
			return s.loadStream(tx, k, v)
		})
	})
	if err != nil {
		return fmt.Errorf("spool %s: %w", s.path, err)
	}
	return s.checkMapBudget(nil)
}

func (s *Spool) initFile(tx *bolt.Tx) error {
	if err := checkFileSize(s.path, tx); err != nil {
		return err
	}
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		if k, _ := tx.Cursor().First(); k != nil {
			return fmt.Errorf("%w: the file holds bucket %q but no spool metadata: it is not a Tributary spool", ErrCorrupt, k)
		}
		if !tx.Writable() {
			return fmt.Errorf("%w: the file holds no spool metadata: it is not a Tributary spool", ErrCorrupt)
		}
		return s.createFile(tx)
	}
	if f := meta.Get(keyFormat); string(f) != formatVersion {
		return fmt.Errorf("%w: spool format %q, this version reads %q", ErrCorrupt, f, formatVersion)
	}
	epoch := meta.Get(keyEpoch)
	if len(epoch) != 16 {
		return fmt.Errorf("%w: epoch has %d bytes, want 16", ErrCorrupt, len(epoch))
	}
	s.epoch = hex.EncodeToString(epoch)
	for _, b := range [][]byte{bucketStreams, bucketData, bucketCursors, bucketState} {
		if tx.Bucket(b) == nil {
			return fmt.Errorf("%w: bucket %q is missing", ErrCorrupt, b)
		}
	}
	return nil
}

// checkFileSize refuses a file shorter than bbolt's metadata says it is:
// reading a page past its end would be a memory fault, not an error.
func checkFileSize(path string, tx *bolt.Tx) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Size() < tx.Size() {
		return fmt.Errorf("%w: the file is truncated: %d bytes, but its metadata says %d", ErrCorrupt, fi.Size(), tx.Size())
	}
	return nil
}

func (s *Spool) createFile(tx *bolt.Tx) error {
	epoch := make([]byte, 16)
	if _, err := rand.Read(epoch); err != nil {
		return err
	}
	meta, err := tx.CreateBucket(bucketMeta)
	if err != nil {
		return err
	}
	if err := meta.Put(keyFormat, []byte(formatVersion)); err != nil {
		return err
	}
	if err := meta.Put(keyEpoch, epoch); err != nil {
		return err
	}
	for _, b := range [][]byte{bucketStreams, bucketData, bucketCursors, bucketState} {
		if _, err := tx.CreateBucket(b); err != nil {
			return err
		}
	}
	s.epoch = hex.EncodeToString(epoch)
	return nil
}

func (s *Spool) loadStream(tx *bolt.Tx, name, v []byte) error {
	var cfg StreamConfig
	if err := json.Unmarshal(v, &cfg); err != nil {
		return fmt.Errorf("%w: stream %q config: %w", ErrCorrupt, name, err)
	}
	if err := cfg.validate(); err != nil {
		return fmt.Errorf("%w: stream %q config: %w", ErrCorrupt, name, err)
	}
	if cfg.Name != string(name) {
		return fmt.Errorf("%w: stream %q config names stream %q", ErrCorrupt, name, cfg.Name)
	}
	st := &stream{cfg: cfg, parts: make([]*partition, cfg.Partitions)}
	for p := range st.parts {
		pb, err := partBucket(tx, cfg.Name, p)
		if err != nil {
			return err
		}
		m, err := readPartMeta(pb)
		if err != nil {
			return &CorruptError{Stream: cfg.Name, Partition: p, Err: err}
		}
		st.parts[p] = &partition{}
		st.parts[p].store(m)
	}
	s.streams[cfg.Name] = st
	return nil
}

// EnsureStream creates the stream if it does not exist, or updates the
// settings that may change (MaxBytes, MaxAge, Full, Priority, Uncompressed).
// Changing the partition count of an existing stream is refused: it would
// move keys between partitions.
func (s *Spool) EnsureStream(cfg StreamConfig) error {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return err
	}
	if s.closed.Load() {
		return ErrClosed
	}
	s.ensureMu.Lock()
	defer s.ensureMu.Unlock()
	s.mu.RLock()
	old := s.streams[cfg.Name]
	var oldCfg StreamConfig
	if old != nil {
		oldCfg = old.cfg
	}
	budgetErr := s.checkMapBudget(&cfg)
	s.mu.RUnlock()
	switch {
	case old != nil && oldCfg.Partitions != cfg.Partitions:
		return fmt.Errorf("%w: stream %q has %d partitions; the count cannot change (it would move keys between partitions); create a new stream instead",
			ErrInvalid, cfg.Name, oldCfg.Partitions)
	case old != nil && oldCfg == cfg:
		return nil
	case budgetErr != nil:
		return budgetErr
	}
	if err := s.update(func(tx *bolt.Tx) error { return putStream(tx, cfg) }); err != nil {
		return fmt.Errorf("spool: save stream %q: %w", cfg.Name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old != nil {
		old.cfg = cfg
		return nil
	}
	st := &stream{cfg: cfg, parts: make([]*partition, cfg.Partitions)}
	for p := range st.parts {
		st.parts[p] = &partition{}
	}
	s.streams[cfg.Name] = st
	return nil
}

func putStream(tx *bolt.Tx, cfg StreamConfig) error {
	v, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	if err := tx.Bucket(bucketStreams).Put([]byte(cfg.Name), v); err != nil {
		return err
	}
	sb, err := tx.Bucket(bucketData).CreateBucketIfNotExists([]byte(cfg.Name))
	if err != nil {
		return err
	}
	for p := range cfg.Partitions {
		if err := createPartition(sb, p); err != nil {
			return err
		}
	}
	return nil
}

// Streams returns the configs of every stream, in no particular order.
func (s *Spool) Streams() []StreamConfig {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]StreamConfig, 0, len(s.streams))
	for _, st := range s.streams {
		out = append(out, st.cfg)
	}
	return out
}

// stream returns a stream by name, or ErrUnknownStream.
func (s *Spool) stream(name string) (*stream, StreamConfig, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := s.streams[name]
	if st == nil {
		return nil, StreamConfig{}, fmt.Errorf("%w: %q", ErrUnknownStream, name)
	}
	return st, st.cfg, nil
}

// part returns one partition's live metadata holder, checking the range.
func (s *Spool) part(name string, p int) (*partition, error) {
	st, cfg, err := s.stream(name)
	if err != nil {
		return nil, err
	}
	if p < 0 || p >= cfg.Partitions {
		return nil, fmt.Errorf("%w: stream %q has partitions 0 to %d, got %d", ErrInvalid, name, cfg.Partitions-1, p)
	}
	return st.parts[p], nil
}

// Close stops accepting commits, lets the committer write what is already
// queued, and closes the file. It is safe to call more than once.
func (s *Spool) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		<-s.done
		return nil
	}
	s.q.close()
	close(s.quit)
	<-s.done
	s.m.unregister()
	return s.db.Close()
}
