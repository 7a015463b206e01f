// Package aggregator runs local pipelines on an edge node: each reads a
// stream of the spool, passes its records through ordered steps (filter,
// map, deadband, downsample, window) and appends what comes out to another
// stream.
//
// # Basics
//
// A pipeline runs one instance of each step per partition of its input
// stream, in a goroutine of its own, reading with a protecting cursor named
// "agg/<pipeline>". Its output is a function of that partition's records in
// offset order alone: grouping by anything other than the key (a window's
// group_by of value fields) groups within a partition.
//
// Event time drives every step. The watermark of a partition is the largest
// event time seen in it minus the pipeline's AllowedLateness; it never goes
// back, and the steps are advanced right after each record that moves it
// (not per chunk read), so a restart or an offline recomputation gives the
// same output. Open windows and buckets close only when a later record moves
// the watermark: an idle input emits nothing more.
//
// Exactly once: a partition's output records, its input cursor and every
// step's state (chunked across state keys under "agg/<pipeline>/<partition>",
// with a small manifest) are committed in one spool transaction, at most
// every CommitInterval (or CommitRecords input records, or MaxCommitBytes of
// output), and once the input is idle. After a crash the states are restored
// and reading resumes at the cursor: nothing is emitted twice or lost.
//
// # Expressions
//
// Filters and maps are expr-lang/expr expressions, compiled once in New.
// Their environment is:
//
//	key      string             the record's key
//	time     time.Time          its event time
//	headers  map[string]string  its headers
//	value    map[string]any     its JSON object (empty if the value is not one)
//	<field>  any                every top-level field of the JSON object
//
// A field named key, time, headers or value is hidden by the name above;
// reach it as value.time or value["key"]. A missing field is nil. JSON
// numbers are float64. Two functions are added: merge(a, b, ...) returns the
// union of maps (later ones win) and omit(m, "k", ...) a copy without keys.
// A filter must give a bool; a map must give a map, which becomes the new
// JSON value (key, time and headers are kept). NaN and ±Inf in a map's
// result are written as null, since JSON has neither.
//
// A record an expression fails on at run time (nil > 3, a filter that does
// not give a bool, a map that does not give a map) is dropped and counted in
// tributary_aggregator_expression_errors_total; write v != nil && v > 3, or
// (v ?? 0) > 3, where a field may be missing.
//
// # Steps
//
// deadband: per key and watched field, the record is emitted when a field
// moved by more than Absolute, or more than Relative × |last emitted value|
// (a zero threshold is off; with both off any change counts), or when
// Heartbeat of event time passed since the key's last emission (checked on
// the key's next record, and when the watermark passes it, which emits the
// latest record held back). The first record of a key is emitted. A field a
// record lacks is not compared; a non-number (string, bool, null) moves when
// it changes; NaN equals only NaN (a change to or from it emits once).
//
// downsample: per key per Interval bucket (aligned to the Unix epoch):
// first emits a bucket's first record at once; last and mean emit when the
// bucket closes (a record of a later bucket arrives for the key, or the
// watermark passes the bucket's end). mean averages the listed fields over
// the bucket's records that hold a finite number there; the other fields,
// the key, the time and the headers are the bucket's last record's. A record
// for an earlier bucket than the key's latest, or for one already emitted,
// is late: dropped and counted.
//
// window: event-time windows of Size every Slide, with aggregates per group
// (see WindowConfig); built by newWindow.
//
// # Caveats
//
//   - The whole state of a partition's steps is rewritten at each commit
//     when it changed: large windows cost write bandwidth.
//   - Output of one commit must fit the spool's MaxBatchBytes.
//   - Changing a pipeline's steps discards its stored state (with a warning)
//     and continues from the cursor; renaming it starts it over.
//   - Event times outside the years 1678–2262 are not supported.
package aggregator
