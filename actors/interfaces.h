// The internal typed actor interfaces of the engine, one comment per handler
// (the VAST layout: one header, one alias per actor). The public protocol,
// engine_actor, is include/postdevai/engine_protocol.h; nothing here is ever
// published or handed to a host. Only actors/*.cc and the node's programs
// include this header.
//
// Who talks to whom:
//   host ── controller ──▶ journal (WAL, group commit) ──▶ controller fans the
//   logged write out, in LSN order, to the store (unsynced) and the partition
//   of its kind (write-through), then acknowledges the host.
//   Reads: controller ──▶ partition; on a miss ──▶ store, and the controller
//   promotes what is read from disk often; access events go to the
//   prefetcher (co-access), which asks the controller to warm likely reads.
//   The supervisor restarts crashed partitions and runs the tiering pass.
//   The sync timer checkpoints the store and releases the journal behind it.
#pragma once

#include "actors/messages.h"

namespace postdevai::actors {

// The public protocol, engine_actor, is in postdevai/engine_protocol.h.

// ---------------------------------------------------------------------------
// Internal interfaces: between the engine's own actors, inside one process.
// None of these handles is ever published or handed to a host.

// One RAM-Lake partition (vectors, code, history or metadata). Scheduled; its
// file is re-attached by a detached opener, so it never blocks on I/O.
using partition_actor = caf::typed_actor<
    // Write-through of logged writes of this partition's kind, in LSN order.
    caf::reacts_to<apply_atom, std::vector<logged_write>>,
    // The value and LSN of key; error kNotFound on a miss (or while attaching).
    caf::replies_to<read_atom, std::string>::with<versioned_value>,
    // Loads a value read from the store (promotion, prefetch); an older LSN
    // than the resident one is ignored.
    caf::reacts_to<promote_atom, std::string, versioned_value>,
    // Whether key is resident, without touching statistics or recency. The
    // reply comes after every message sent before it by the same sender: the
    // controller acknowledges a vectors write once it is indexed this way.
    caf::replies_to<access_atom, std::string>::with<bool>,
    // The store holds every write up to this LSN: those entries are clean.
    caf::reacts_to<persisted_atom, std::uint64_t>,
    // Evicts clean entries last used before the cutoff (actor-clock
    // microseconds since the clock's epoch), or with dry_run only counts them;
    // replies entries and bytes.
    caf::replies_to<evict_atom, std::uint64_t, bool>::with<std::uint64_t, std::uint64_t>,
    caf::replies_to<stats_atom>::with<partition_report>,
    // Vectors partition: the nearest stored vectors to the query, searched over
    // both tiers (full-precision vectors from RAM, or read from the store).
    caf::replies_to<search_atom, search_request>::with<std::vector<search_hit>>,
    // (The code and history partitions answer the same message with the
    // lexical (BM25) search of the request's text over every stored code
    // file, or session message, hot or cold: one hit per file, k deep.)
    // Code partition: the vector hits and the lexical hits fused (hybrid
    // mode; simd/lexical_index.h, FuseHybrid), with the vector hits' lines.
    caf::replies_to<search_atom, search_request, std::vector<search_hit>, std::vector<search_hit>>::with<
        std::vector<search_hit>>,
    // The opened partition, from the detached opener.
    caf::reacts_to<attach_atom, partition_ptr>,
    // Vectors partition, to itself: time to consider a snapshot of the index.
    caf::reacts_to<tick_atom>>;

// Compresses a write's values once, as the store keeps them, and encodes
// its WAL payload (storage::EncodeLoggedWrite). Scheduled (CPU work, no
// I/O); the controller spreads writes over one per core, off the journal's
// thread.
using encoder_actor = caf::typed_actor<caf::replies_to<encode_atom, write_batch>::with<std::string>>;

// The write-ahead log. Detached: it fsyncs.
using journal_actor = caf::typed_actor<
    // Logs a write's WAL payload (encoder_actor's); replies its LSN once it
    // is durable. Writes queued while a sync is in flight share the next one
    // (group commit). The byte names the kinds of a relaxed write (bit k:
    // kind k), 0 for a durable one: a relaxed write is acknowledged once
    // buffered and synced within [wal] relaxed_sync_ms.
    caf::replies_to<write_atom, std::string, std::uint8_t>::with<std::uint64_t>,
    // Internal: logs everything queued so far (sent to itself).
    caf::reacts_to<flush_atom>,
    // Internal: the relaxed window is over; sync (sent to itself).
    caf::reacts_to<tick_atom>,
    // Makes every logged write durable; replies the durable LSN.
    caf::replies_to<sync_atom>::with<std::uint64_t>,
    caf::replies_to<stats_atom>::with<sync_report>,
    // A replica: logs its primary's records with their own LSNs and types,
    // as they are (no time stamp added), with one sync; replies the last
    // LSN. kCorruption, logging nothing, when the first is not the LSN this
    // log continues with (the replica would not be a prefix).
    caf::replies_to<replicate_atom, std::vector<logged_payload>>::with<std::uint64_t>>;

// The persistent store: LevelDB + zstd. Detached: blocking I/O.
using store_actor = caf::typed_actor<
    // Applies logged writes (their compressed values as they are), unsynced,
    // in LSN order; afterwards tells the controller the applied LSN
    // (persisted_atom).
    caf::reacts_to<apply_atom, std::vector<logged_payload>>,
    // From the journal: the WAL is durable up to the LSN, so relaxed writes
    // up to it may be applied (LevelDB never holds what the WAL could lose).
    caf::reacts_to<persisted_atom, std::uint64_t>,
    // Internal: retry applying after a failure (sent to itself, backing off).
    caf::reacts_to<tick_atom>,
    // Internal: applies everything queued so far in one LevelDB batch.
    caf::reacts_to<flush_atom>,
    // The value of (kind, key); error kNotFound or kCorruption (this key only).
    caf::replies_to<read_atom, DataKind, std::string>::with<versioned_value>,
    // Makes everything applied durable in LevelDB and records the LSN; replies it.
    caf::replies_to<checkpoint_atom>::with<std::uint64_t>,
    // Compacts LevelDB; replies the approximate bytes on disk afterwards.
    caf::replies_to<compact_atom>::with<std::uint64_t>,
    // Entries and bytes per kind.
    caf::replies_to<breakdown_atom>::with<std::vector<store_kind_report>>,
    // Applies everything queued (every apply sent before this request);
    // replies the applied LSN, or the error that stops the store.
    caf::replies_to<sync_atom>::with<std::uint64_t>,
    // The applied and checkpoint LSNs (durable_lsn unused).
    caf::replies_to<stats_atom>::with<sync_report>,
    // Where to send persisted_atom: the controller (set once at start).
    caf::reacts_to<route_atom, caf::actor>>;

// The memory controller: the public protocol, plus what the engine's own
// actors tell it.
using controller_actor = engine_actor::extend<
    // From the store: it has applied everything up to the LSN.
    caf::reacts_to<persisted_atom, std::uint64_t>,
    // From the supervisor: the partition of a kind has a new actor. The reply
    // comes after every write routed to the old actor was sent to the store,
    // and names the LSN of the last of them (0: none).
    caf::replies_to<route_atom, DataKind, partition_actor>::with<std::uint64_t>,
    // From the prefetcher: load (kind, key) from the store into RAM, unless
    // it is resident already or a write to it overtakes the read.
    caf::reacts_to<prefetch_atom, DataKind, std::string>,
    // A replica: its primary's records (logged as they are, see journal)
    // and the writes among them with their values decoded; fanned out to
    // the store and the partitions as the primary's writes were. Replies
    // the last LSN once every write is visible to reads and searches.
    caf::replies_to<replicate_atom, std::vector<logged_payload>, std::vector<logged_write>>::with<std::uint64_t>,
    // Why writes are refused (a replica, a fenced former primary); empty:
    // writes are taken.
    caf::reacts_to<role_atom, std::string>>;

// Partition restarts and the periodic tiering pass.
using supervisor_actor = caf::typed_actor<
    // Periodic tiering pass: demote what is older than hot_retention_hours.
    caf::reacts_to<tick_atom>,
    // Partition restarts so far.
    caf::replies_to<stats_atom>::with<std::uint64_t>,
    // Where to send route_atom: the controller (set once).
    caf::reacts_to<route_atom, caf::actor>,
    // The current partition actors, by kind (they change on restarts).
    caf::replies_to<route_atom>::with<std::vector<caf::actor>>>;

// Learns which items are read together and warms the likely next ones.
using prefetcher_actor = caf::typed_actor<
    // A read of (kind, key) by a reader (the stream whose order it learns).
    caf::reacts_to<access_atom, DataKind, std::string, std::string>,
    // Learns the reads the read views served (HotReads), on its own timer.
    caf::reacts_to<tick_atom>,
    // Where to send prefetch_atom: the controller (set once).
    caf::reacts_to<route_atom, caf::actor>,
    // Prefetches issued and prefetched items read afterwards (hits).
    caf::replies_to<stats_atom>::with<std::uint64_t, std::uint64_t>>;

// Backups and the WAL archive ([backup]): makes backups on demand and on
// its schedule, archives the WAL segments a checkpoint released, prunes old
// backups and the archive. Detached: blocking I/O (a segment copied to
// another file system takes this thread, not the journal's).
using backup_actor = caf::typed_actor<
    // A backup now, then pruning; replies what it made.
    caf::replies_to<backup_atom>::with<backup_report>,
    // After a checkpoint at the LSN: archives (or deletes) the WAL segments
    // wholly at or below it, then prunes the archive; replies the LSN.
    caf::replies_to<release_atom, std::uint64_t>::with<std::uint64_t>,
    // Its schedule: a backup when one is due, and archive pruning.
    caf::reacts_to<tick_atom>,
    // The archive's and the backups' figures (the backup_* and archive_*
    // fields of sync_report only).
    caf::replies_to<stats_atom>::with<sync_report>>;

// Checkpoints every sync_interval_minutes and on demand.
using sync_timer_actor = caf::typed_actor<
    caf::reacts_to<tick_atom>,
    // Checkpoint now; replies the checkpoint LSN.
    caf::replies_to<sync_atom>::with<std::uint64_t>,
    caf::replies_to<stats_atom>::with<sync_report>>;

// Registers the message types of the engine's actor systems: the public
// protocol's only (AddPublicMessageTypes), so that an internal message a peer
// sends cannot even be decoded.
void AddMessageTypes(caf::actor_system_config& cfg);

}  // namespace postdevai::actors

// The internal messages' type IDs follow the public protocol's block.
CAF_BEGIN_TYPE_ID_BLOCK(postdevai_internal, caf::id_block::postdevai::end)
  CAF_ADD_TYPE_ID(postdevai_internal, (postdevai::records::logged_write))
  CAF_ADD_TYPE_ID(postdevai_internal, (std::vector<postdevai::records::logged_write>))
  CAF_ADD_TYPE_ID(postdevai_internal, (postdevai::records::versioned_value))
  CAF_ADD_TYPE_ID(postdevai_internal, (postdevai::records::logged_payload))
  CAF_ADD_TYPE_ID(postdevai_internal, (std::vector<postdevai::records::logged_payload>))
  CAF_ADD_TYPE_ID(postdevai_internal, (postdevai::actors::partition_ptr))
  CAF_ADD_TYPE_ID(postdevai_internal, (std::vector<std::string>))
  CAF_ADD_TYPE_ID(postdevai_internal, (postdevai::actors::facade_call_ptr))
  CAF_ADD_TYPE_ID(postdevai_internal, (postdevai::actors::partition_actor))
  CAF_ADD_TYPE_ID(postdevai_internal, (postdevai::actors::controller_actor))
  CAF_ADD_TYPE_ID(postdevai_internal, (postdevai::actors::encoder_actor))
CAF_END_TYPE_ID_BLOCK(postdevai_internal)
