// Package spool is Tributary's durable log: named streams of partitions of
// records, in one bbolt file, compressed, checksummed, and safe across power
// loss. The edge node appends everything it ingests here and forwards from
// here; the hub stores what it receives here (in its embedded mode).
//
// # Basics
//
// A stream has a fixed number of partitions; a record goes to the partition
// its key hashes to (Partition: Kafka's murmur2 placement, fixed for good).
// Within a partition every record gets the next offset: a uint64 from 0,
// with no holes. A record dropped by retention before it was read is not a
// hole: a Gap stands in its place, and readers meet it in order.
//
// Writes are grouped. Append, Commit and their Async forms queue a Txn; one
// committer goroutine takes everything queued (after a short linger, bounded
// by MaxBatchBytes), encodes one batch per partition, writes it all in one
// bbolt transaction, fsyncs once, and only then completes every waiter. A
// returned offset, or a nil Result.Err, means the records are on disk: a
// power cut afterwards loses nothing. A Txn can also move named cursors and
// store small state values in the same transaction, guarded by ExpectState
// preconditions: the layers above build exactly-once on that.
//
// A batch is stored as AppendBatch encodes it (see batch.go for the byte
// layout): compressed once, at commit, then read and replicated as is. Every
// read checks the batch's CRC32C.
//
// Retention deletes a partition's oldest batches when they are older than
// the stream's MaxAge or the stream is over its MaxBytes, but never one that
// a protecting cursor has not passed; when that leaves a full stream, its
// policy decides: Block fails new commits with ErrFull, DropOldest drops the
// oldest batches anyway and records a Gap.
//
// Open reads only metadata (one small bbolt transaction), never the data, so
// it takes the same time for an empty spool and a full one. The file has an
// epoch, a random id made when it is created: a rebuilt spool gets a new one,
// so nobody mistakes its offsets for the old ones.
//
// # Caveats
//
//   - One process at a time: bbolt locks the file; a second Open waits
//     OpenTimeout and fails with an error that says the spool is in use.
//   - Completion callbacks run on the committer goroutine and must not block.
//   - The byte budget is checked against an estimate of the compressed size,
//     so a stream may pass MaxBytes by a fraction of one commit.
//   - On 32-bit platforms bbolt can map at most 2 GiB, so the streams'
//     MaxBytes must add up to at most 1.5 GiB; Open and EnsureStream say so.
//   - Damage never panics: a bad batch gives a *CorruptError naming stream,
//     partition and offset, and the rest stays readable; a damaged bbolt page
//     gives ErrCorrupt. CheckDir reports every damaged range.
//   - A commit that fails (disk full, I/O error) fails every Txn in its group;
//     none was acknowledged. If it failed after its data reached the file (a
//     failed final fsync), the records stay and keep their offsets: a retry
//     stores a duplicate, never a loss and never two records on one offset.
//   - Read and Iterate see a commit's records only once it is fsynced, not
//     when bbolt first shows it. Its cursors, state, gaps and retention
//     deletions are visible to Cursor, State and Read a moment earlier (bbolt
//     shows a commit between writing its meta page and syncing it); a power
//     cut in that moment undoes them.
//   - A record time outside 1678–2261 is refused (ErrInvalid) when queued.
package spool
