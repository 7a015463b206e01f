// Package cluster is the hub side of replication: the ReplicationService that
// edge nodes forward to, per-site sessions and fencing, durable checkpoints,
// and the registry of sites.
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
package cluster
