// Every typed actor interface of the engine, one comment per handler (the
// VAST layout: one header, one alias per actor). Hosts that embed the engine
// as actors include this header (through include/postdevai/actor_api.h).
//
// Who talks to whom:
//   host ── controller ──▶ journal (WAL, group commit) ──▶ controller fans the
//   logged write out, in LSN order, to the store (unsynced) and the partition
//   of its kind (write-through), then acknowledges the host.
//   Reads: controller ──▶ partition; on a miss ──▶ store; access events go to
//   the supervisor (promotion, tiering) and the prefetcher (co-access).
//   The sync timer checkpoints the store and releases the journal behind it.
#pragma once

#include "actors/messages.h"

namespace postdevai::actors {

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
    // Whether key is resident, without touching statistics or recency.
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
    // The opened partition, from the detached opener.
    caf::reacts_to<attach_atom, partition_ptr>,
    // Test hook: fail on purpose (the supervisor restarts the partition).
    caf::reacts_to<crash_atom>>;

// The write-ahead log. Detached: it fsyncs.
using journal_actor = caf::typed_actor<
    // Logs the batch; replies its LSN once it is durable. Writes queued while
    // a sync is in flight share the next one (group commit).
    caf::replies_to<write_atom, write_batch>::with<std::uint64_t>,
    // Internal: logs everything queued so far (sent to itself).
    caf::reacts_to<flush_atom>,
    // Archives or deletes WAL segments wholly at or below the LSN; replies it.
    caf::replies_to<release_atom, std::uint64_t>::with<std::uint64_t>,
    caf::replies_to<stats_atom>::with<sync_report>>;

// The persistent store: LevelDB + zstd. Detached: blocking I/O.
using store_actor = caf::typed_actor<
    // Applies logged writes, unsynced, in LSN order; afterwards tells the
    // controller the applied LSN (persisted_atom).
    caf::reacts_to<apply_atom, std::vector<logged_write>>,
    // Internal: applies everything queued so far in one LevelDB batch.
    caf::reacts_to<flush_atom>,
    // The value of (kind, key); error kNotFound or kCorruption (this key only).
    caf::replies_to<read_atom, std::uint8_t, std::string>::with<versioned_value>,
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

// The front door: every host request goes through it.
using controller_actor = caf::typed_actor<
    // Durable write: replies the LSN once logged (and visible to reads).
    caf::replies_to<write_atom, write_batch>::with<std::uint64_t>,
    // Reads (kind, key) from RAM, else from the store.
    caf::replies_to<read_atom, std::uint8_t, std::string>::with<read_result>,
    // `memory stats`.
    caf::replies_to<stats_atom>::with<memory_report>,
    // `memory breakdown`: the store's side (the RAM side is in stats).
    caf::replies_to<breakdown_atom>::with<std::vector<store_kind_report>>,
    // `memory evict --cold --older-than S`: evicts clean entries unused for S
    // seconds from every partition; replies how many.
    caf::replies_to<evict_atom, std::uint64_t>::with<std::uint64_t>,
    // The same per partition, with bytes; with dry_run (true) nothing is
    // evicted and the reply says what would be.
    caf::replies_to<evict_atom, std::uint64_t, bool>::with<std::vector<eviction_result>>,
    // `memory sync --force`: checkpoint now; replies the checkpoint LSN.
    caf::replies_to<sync_atom>::with<std::uint64_t>,
    // Appends a message to a session's context (history kind) durably; replies
    // the LSN and the session's message count. Appends to one session are
    // applied one after another, so concurrent appends never lose a message.
    caf::replies_to<append_atom, std::string, std::string>::with<std::uint64_t, std::uint64_t>,
    // SearchSimilar: the nearest stored vectors to the query, both tiers.
    caf::replies_to<search_atom, search_request>::with<std::vector<search_hit>>,
    // `memory compact`: replies bytes on disk afterwards.
    caf::replies_to<compact_atom>::with<std::uint64_t>,
    // From the store: it has applied everything up to the LSN.
    caf::reacts_to<persisted_atom, std::uint64_t>,
    // From the supervisor: the partition of a kind has a new actor. The reply
    // comes after every write routed to the old actor was sent to the store.
    caf::replies_to<route_atom, std::uint8_t, partition_actor>::with<bool>,
    // From the supervisor: load (kind, key) from the store into RAM, unless a
    // write to it overtakes the read.
    caf::reacts_to<promote_atom, std::uint8_t, std::string>,
    // Test hook: crash the partition of a kind on purpose.
    caf::replies_to<crash_atom, std::uint8_t>::with<bool>>;

// Promotion policy, tiering passes and partition restarts.
using supervisor_actor = caf::typed_actor<
    // A read of (kind, key) was served from the given tier.
    caf::reacts_to<access_atom, std::uint8_t, std::string, tier>,
    // The prefetcher predicts a read of (kind, key): warm it.
    caf::reacts_to<prefetch_atom, std::uint8_t, std::string>,
    // Periodic tiering pass: demote what is older than hot_retention_hours.
    caf::reacts_to<tick_atom>,
    // Promotions done and partition restarts so far.
    caf::replies_to<stats_atom>::with<std::uint64_t, std::uint64_t>,
    // Test hook: crash the partition of a kind; replies whether one exists.
    caf::replies_to<crash_atom, std::uint8_t>::with<bool>,
    // Where to send promote_atom and route_atom: the controller (set once).
    caf::reacts_to<route_atom, caf::actor>,
    // The current partition actors, by kind (they change on restarts).
    caf::replies_to<route_atom>::with<std::vector<caf::actor>>>;

// Learns which items are read together and warms the likely next ones.
using prefetcher_actor = caf::typed_actor<
    // A read of (kind, key) by a reader (the stream whose order it learns).
    caf::reacts_to<access_atom, std::uint8_t, std::string, std::string>,
    // Prefetches issued and prefetched items read afterwards (hits).
    caf::replies_to<stats_atom>::with<std::uint64_t, std::uint64_t>>;

// Checkpoints every sync_interval_minutes and on demand.
using sync_timer_actor = caf::typed_actor<
    caf::reacts_to<tick_atom>,
    // Checkpoint now; replies the checkpoint LSN.
    caf::replies_to<sync_atom>::with<std::uint64_t>,
    caf::replies_to<stats_atom>::with<sync_report>>;

// Registers every message type with CAF (serialization for remote actors).
void AddMessageTypes(caf::actor_system_config& cfg);

}  // namespace postdevai::actors

CAF_BEGIN_TYPE_ID_BLOCK(postdevai, caf::first_custom_type_id)
  CAF_ADD_TYPE_ID(postdevai, (postdevai::actors::mutation))
  CAF_ADD_TYPE_ID(postdevai, (std::vector<postdevai::actors::mutation>))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::actors::write_batch))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::actors::logged_write))
  CAF_ADD_TYPE_ID(postdevai, (std::vector<postdevai::actors::logged_write>))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::actors::versioned_value))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::actors::read_result))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::actors::tier))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::actors::partition_report))
  CAF_ADD_TYPE_ID(postdevai, (std::vector<postdevai::actors::partition_report>))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::actors::eviction_result))
  CAF_ADD_TYPE_ID(postdevai, (std::vector<postdevai::actors::eviction_result>))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::actors::store_kind_report))
  CAF_ADD_TYPE_ID(postdevai, (std::vector<postdevai::actors::store_kind_report>))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::actors::sync_report))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::actors::memory_report))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::actors::latency_histogram))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::actors::partition_ptr))
  CAF_ADD_TYPE_ID(postdevai, (std::vector<std::string>))
  CAF_ADD_TYPE_ID(postdevai, (std::vector<float>))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::actors::facade_call_ptr))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::actors::search_request))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::actors::search_hit))
  CAF_ADD_TYPE_ID(postdevai, (std::vector<postdevai::actors::search_hit>))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::actors::partition_actor))
  CAF_ADD_TYPE_ID(postdevai, (postdevai::actors::controller_actor))
CAF_END_TYPE_ID_BLOCK(postdevai)
