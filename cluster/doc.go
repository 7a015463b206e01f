// Package cluster is the hub side of replication: the ReplicationService that
// edge nodes forward to, per-site sessions and fencing, durable checkpoints,
// and the registry of sites. What a session stores goes to a sink: the hub's
// own spool (the default; what this page describes first) or Kafka
// (Options.Kafka; see "Kafka" below).
//
// # Exactly once
//
// For every batch a site sends, the hub verifies the batch's CRC, trims the
// records its checkpoint already holds, and commits the rest together with
// the new checkpoint (site, epoch, stream, partition) → next offset in one
// spool transaction; only then does it ack. A replayed or overlapping batch
// is trimmed; a batch that starts above the checkpoint (a hole) ends the
// session with FAILED_PRECONDITION and the edge resumes from the checkpoint.
//
// # Fencing
//
// Every session of a site takes the next generation number, stored durably
// under the site's session key. Each batch's transaction expects that key to
// still hold its session's generation, so a session that a newer one has
// replaced can no longer commit anything, even a transaction already queued;
// it ends with ABORTED.
//
// # Where edge records go
//
// An edge stream S of site X is stored in the hub stream named by
// Options.StreamName (default "{stream}": the same name for every site). Each
// record keeps its key, value, time and headers, and gains the header
// "tributary.site" = X; its hub partition is the spool's hash of X, a zero byte and the
// key, so one device's records stay in one hub partition, in the order the
// edge stored them, and sites spread over the partitions.
//
// # Kafka
//
// With Options.Kafka each edge stream goes to a topic (Options.StreamName),
// each record with its key, value and time, its own headers and the headers
// tributary.site, .epoch, .stream, .partition and .offset (where the edge
// stored it). A session has a transactional producer with the id
// TransactionalIDPrefix+site. Opening the session commits the site record to
// the compacted checkpoint topic in a transaction of its own; that
// producer's InitProducerID bumps the id's epoch, so Kafka aborts any
// transaction an older producer of the site (on any hub) left open and
// refuses that producer from then on: its session ends ABORTED. Only then
// are the site's checkpoints read, at read_committed. Batches go in
// transactions: records, then the checkpoints, flush, commit, then ack.
// Any failure ends the session (UNAVAILABLE, or ABORTED when fenced): the
// edge still holds the records and reconnects, and the next session learns
// what committed from the checkpoint topic. That covers an EndTxn whose
// outcome is unknown, too: fencing settles it, re-reading reports it. A
// record larger than KafkaOptions.MaxRecordBytes is not produced: the
// records before it commit, and the session ends INVALID_ARGUMENT with an
// error naming it, as when Kafka refuses a batch as too large.
//
// # Caveats
//
// A Kafka hub keeps no state on disk: ListSites reports the sites the
// checkpoint topic holds, with heads and lag only for the sites this hub
// serves. A session whose transactions cannot finish within
// KafkaOptions.Timeout ends, and the edge retries with backoff; while Kafka
// is away the hub acks nothing and holds per site at most Pipeline writes
// and PipelineBytes of records.
package cluster
