package spool

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options tune a spool. The zero value of every field means its default.
type Options struct {
	// Linger is how long the committer waits, after the oldest pending
	// commit arrived, for more to join the same fsync. Requests that queued
	// while the previous fsync ran have waited already and go at once.
	// Default 2ms; at most 1s.
	Linger time.Duration
	// MaxBatchBytes bounds one group commit: the uncompressed bytes of the
	// records it writes (a single request may not exceed it: ErrTooLarge).
	// Default 4MiB; from 64KiB to 32MiB.
	MaxBatchBytes int
	// MaxPendingBytes bounds the bytes waiting for the committer; past it,
	// CommitAsync and Commit wait for room (or for their context). Default
	// 4×MaxBatchBytes; at least MaxBatchBytes.
	MaxPendingBytes int
	// RetentionInterval is how often age retention runs. Default 1m.
	RetentionInterval time.Duration
	// OpenTimeout is how long Open waits for another process's lock on the
	// file. Default 1s.
	OpenTimeout time.Duration
	// Registerer receives the spool's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Logger receives retention and corruption reports; nil discards them.
	Logger *slog.Logger
	// Now is the clock for record times and age retention; nil is time.Now.
	Now func() time.Time
}

// maxBatchBytes caps MaxBatchBytes at half the codec's section limit: a
// commit's records are counted as recordSize estimates them, and the
// framing of tiny records can take up to 1.6× that.
const maxBatchBytes = MaxBatchRecordsBytes / 2

const (
	defaultLinger        = 2 * time.Millisecond
	defaultMaxBatchBytes = 4 << 20
	defaultRetention     = time.Minute
	defaultOpenTimeout   = time.Second
)

func (o Options) withDefaults() (Options, error) {
	if o.Linger == 0 {
		o.Linger = defaultLinger
	}
	if o.MaxBatchBytes == 0 {
		o.MaxBatchBytes = defaultMaxBatchBytes
	}
	if o.MaxPendingBytes == 0 {
		o.MaxPendingBytes = 4 * o.MaxBatchBytes
	}
	if o.RetentionInterval == 0 {
		o.RetentionInterval = defaultRetention
	}
	if o.OpenTimeout == 0 {
		o.OpenTimeout = defaultOpenTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	switch {
	case o.Linger < 0 || o.Linger > time.Second:
		return o, fmt.Errorf("%w: Linger must be between 0 and 1s, got %v", ErrInvalid, o.Linger)
	case o.MaxBatchBytes < 64<<10 || o.MaxBatchBytes > maxBatchBytes:
		return o, fmt.Errorf("%w: MaxBatchBytes must be between 64KiB and 32MiB, got %d", ErrInvalid, o.MaxBatchBytes)
	case o.MaxPendingBytes < o.MaxBatchBytes:
		return o, fmt.Errorf("%w: MaxPendingBytes must be at least MaxBatchBytes (%d), got %d", ErrInvalid, o.MaxBatchBytes, o.MaxPendingBytes)
	case o.RetentionInterval < 0:
		return o, fmt.Errorf("%w: RetentionInterval must not be negative", ErrInvalid)
	}
	return o, nil
}

// FullPolicy says what a stream does when its byte budget is full and
// retention cannot free consumed data.
type FullPolicy string

const (
	// Block refuses new records with ErrFull; nothing stored is lost.
	Block FullPolicy = "block"
	// DropOldest deletes the oldest batches, even ones no protecting cursor
	// has passed, and records each unconsumed range dropped as a Gap.
	DropOldest FullPolicy = "drop_oldest"
)

// StreamConfig describes a stream. Name and Partitions are fixed at
// creation; the rest can change with a later EnsureStream.
type StreamConfig struct {
	// Name: 1 to 128 of a-z, A-Z, 0-9, '.', '_', '-'.
	Name string `json:"name"`
	// Partitions: 1 to 1024.
	Partitions int `json:"partitions"`
	// MaxBytes is the stream's disk budget: the stored (compressed) bytes of
	// all its partitions. Required (> 0).
	MaxBytes int64 `json:"max_bytes"`
	// MaxAge deletes batches whose newest record is older, once every
	// protecting cursor has passed them. 0 keeps them until MaxBytes.
	MaxAge time.Duration `json:"max_age"`
	// Full is the policy when MaxBytes is reached. Default Block.
	Full FullPolicy `json:"full"`
	// Priority orders replication when a backlog drains: higher first.
	Priority int `json:"priority"`
	// Uncompressed stores batches without compression (CodecNone). By
	// default they are compressed with zstd.
	Uncompressed bool `json:"uncompressed"`
}

// codec is the codec the stream's batches are written with.
func (c StreamConfig) codec() Codec {
	if c.Uncompressed {
		return CodecNone
	}
	return CodecZstd
}

const (
	maxPartitions = 1024
	maxStreamName = 128
)

func (c StreamConfig) withDefaults() StreamConfig {
	if c.Full == "" {
		c.Full = Block
	}
	return c
}

func (c StreamConfig) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: stream %q: %s", ErrInvalid, c.Name, fmt.Sprintf(format, args...))
	}
	switch {
	case !validName(c.Name):
		return bad("name must be 1 to %d of a-z, A-Z, 0-9, '.', '_', '-'", maxStreamName)
	case c.Partitions < 1 || c.Partitions > maxPartitions:
		return bad("partitions must be between 1 and %d, got %d", maxPartitions, c.Partitions)
	case c.MaxBytes <= 0:
		return bad("max_bytes must be positive, got %d", c.MaxBytes)
	case c.MaxAge < 0:
		return bad("max_age must not be negative, got %v", c.MaxAge)
	case c.Full != Block && c.Full != DropOldest:
		return bad("full policy must be %q or %q, got %q", Block, DropOldest, c.Full)
	}
	return nil
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > maxStreamName {
		return false
	}
	for _, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}
