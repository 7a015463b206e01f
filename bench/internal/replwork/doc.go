// Package replwork holds what the replication benchmarks (bench/replbench
// and bench/kafkabench) share, so that both drain the same backlog and
// describe it alike: the telemetry workload, the edge stream and the
// filling of an edge spool with it, and the settings and progress lines
// around them.
//
// # Basics
//
// Workload generates the records (the same bytes on every call with the
// same arguments); Backlog.Describe and Backlog.Fill record what the
// settings lines print about them and fill an edge spool template, which
// each run copies with CopyTree.
package replwork
