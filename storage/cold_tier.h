// The cold tier's restart, and the WAL payload its writes are logged in: the
// storage half of what the actor engine runs (actors/engine.cc,
// journal_actor.cc, store_actor.cc, sync_timer_actor.cc).
//
// The write path, as the actors drive it:
//   encode     The writer's side (the controller's pool of encoders, never
//              the journal's thread) compresses each value once, as the store
//              will keep it, and encodes the write (EncodeLoggedWrite) into
//              the payload of one WAL record of type kWalRecordMutations.
//   log        The journal appends the payload and acknowledges it once
//              Wal::AppendBatch returns: the record is fdatasync'ed.
//   apply      The store then applies acknowledged writes to the
//              PersistentStore (AddLoggedWrite: the compressed bytes as they
//              are, stamped with the LSN), unsynced, in LSN order. It may lag
//              behind the acknowledgement, and keeps a write that failed to
//              apply (disk full, EIO) to retry it.
//   checkpoint PersistentStore::Checkpoint(lsn) at what the store has applied
//              makes all of it durable in LevelDB; only then does
//              Wal::ReleaseThrough(lsn) archive or delete the WAL segments
//              wholly before it.
//   restart    RecoverColdTier applies every WAL record after the store's
//              checkpoint to the store again, in LSN order, through the same
//              AddLoggedWrite: replay moves bytes, it compresses nothing.
//
// Crash model. An acknowledged write survives kill -9 and power loss: it is in
// a synced WAL record, and the WAL is released only up to a synced store
// checkpoint. Whether or not the store had applied it before the crash, replay
// applies it again; replaying twice changes nothing (Put and Delete are plain
// overwrites applied in LSN order, see persistent_store.h). A write the
// journal failed is never applied: the store only applies acknowledged
// writes, and the WAL abandons a failed write's records durably before the
// error is reported, so replay never finds them -- except after kClosed, whose
// outcome is unknown (wal.h, "Durability contract"): such a write may be
// replayed.
//
// Thread-safety: the functions here keep no state (ReplayApplier, below,
// says its own); RecoverColdTier must finish before anything else uses the
// store or the WAL it returns.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "storage/persistent_store.h"
#include "storage/wal.h"

namespace postdevai::storage {

// Where and how the cold tier keeps its files (what a config implies:
// actors::DurableStoreOptionsFromConfig). The file system is passed separately.
struct DurableStoreOptions {
  std::string wal_dir;
  std::uint64_t wal_segment_size = 64ull << 20;
  bool wal_archive = true;
  std::string wal_archive_dir;             // default: <wal_dir>-archive
  PersistentStoreOptions store;
};

// What RecoverColdTier found and did.
struct DurableStoreRecovery {
  std::uint64_t checkpoint_lsn = 0;  // the store's checkpoint: replay started after it
  WalRecoveryReport wal;             // what the WAL held and replayed
  double seconds = 0;
};

// One change in a write: a put (value set) or a delete. Views: the bytes
// belong to the caller (for DecodeMutations, to the payload decoded).
struct Mutation {
  Kind kind = Kind::kMetadata;
  std::string_view key;
  std::string_view value;
  bool is_delete = false;
  // value is PersistentStore::EncodeUnstamped's output (compressed as the
  // store keeps it), not the raw bytes.
  bool encoded = false;
};

// WAL record type of an encoded mutation list.
inline constexpr std::uint8_t kWalRecordMutations = 1;
// WAL record type of a new compression dictionary
// (PersistentStore::SetDictionaryLog), logged before any value uses it:
// replay imports it (PersistentStore::ImportDictionary) first.
inline constexpr std::uint8_t kWalRecordDictionary = 2;

// The time a write was logged. The journal stamps the first mutation list of
// every group-commit batch with the wall clock (microseconds since the Unix
// epoch) at which it logs the batch: a 'T' entry and a fixed64 leading the
// payload, which DecodeMutations skips. The records after it, up to the next
// stamp, were logged then too. A restore to a point in time stops at the
// first stamp past its target.
inline constexpr std::size_t kTimeStampBytes = 9;
void StampLoggedTime(std::string* payload, std::uint64_t micros);
// The stamp leading a mutation list; nullopt when it has none.
std::optional<std::uint64_t> LoggedTime(std::string_view payload);

// The WAL payload of a mutation list, and back. Per mutation: 'P' (put of raw
// bytes), 'E' (put of an encoded value) or 'D' (delete), the kind as one
// byte, the key as varint length + bytes, and for a put the value likewise.
// Decode fails with kCorruption on a malformed payload.
std::string EncodeMutations(const std::vector<Mutation>& mutations);
Status DecodeMutations(std::string_view payload, std::vector<Mutation>* out);

// The WAL payload of a write whose raw values are encoded (compressed) for
// `store` first, each once: the store applies them as they are. Errors of
// PersistentStore::EncodeUnstamped (kTooLarge naming the key).
Result<std::string> EncodeLoggedWrite(const PersistentStore& store, const std::vector<Mutation>& mutations);

// Applies replayed WAL records to a store, in LSN order, in batches: what a
// restart (RecoverColdTier) and a restore (RestoreBackup) replay through.
// Each full batch is written to the store on a thread of the applier's own
// while the caller reads, checks and decodes the records of the next, so a
// replay takes about as long as the slower of the two, not their sum. At most
// one batch waits while another is written, which bounds the memory held.
//
// A dictionary record waits until every batch before it is written, then is
// imported (the values after it may need it).
//
// Errors: Add fails with kCorruption for a record of another type or a
// malformed payload, naming its LSN, and returns the first error of a store
// write as soon as it is known; after an error nothing more is written, and
// the store may hold part of the replay (replaying again is harmless, see
// persistent_store.h). Not thread-safe: one caller. The destructor waits for
// a write under way and drops what was not written.
class ReplayApplier {
 public:
  explicit ReplayApplier(PersistentStore& store);
  ~ReplayApplier();
  ReplayApplier(const ReplayApplier&) = delete;
  ReplayApplier& operator=(const ReplayApplier&) = delete;

  // Adds the record (copying what it needs from `payload`).
  Status Add(std::uint8_t type, std::string_view payload, std::uint64_t lsn);
  // Writes what was added and not yet written, and waits for it.
  Status Finish();

 private:
  Status HandOver();  // the batch being filled to the writer thread
  Status Drain();     // waits until the writer thread is idle
  void WriteLoop();

  PersistentStore& store_;
  StoreWriteBatch filling_;
  std::mutex mu_;
  std::condition_variable changed_;
  StoreWriteBatch handed_;  // guarded by mu_: waiting for the writer thread
  bool writing_ = false;    // guarded by mu_
  bool closing_ = false;    // guarded by mu_
  Status error_;            // guarded by mu_: the first write error
  std::thread writer_;
};

// Adds the mutations of one WAL payload, written at `lsn`, to `batch`: what
// the store actor applies and what replay applies, one path for both.
// kCorruption (naming the LSN) for a malformed payload.
Status AddLoggedWrite(std::string_view payload, std::uint64_t lsn, StoreWriteBatch* batch);

// Restart of the cold tier over an open store: opens the WAL in
// wal_options.dir with LSNs continuing after the store's checkpoint
// (min_next_lsn is raised to store.CheckpointLsn() + 1), and applies every
// intact record after store.CheckpointLsn() to the store, in LSN order, in
// batches. Returns the WAL, open for appends. Fails with the WAL's recovery
// errors (kCorruption when acknowledged records are damaged), kCorruption for
// a record of another type or a malformed payload (naming its LSN), or the
// store's write error; the store may then hold part of the replay, which the
// next attempt applies again. `report` must not be null. `observer`, when
// given, is told of every mutation replayed (see ReplayObserver).
//
// Told of one mutation RecoverColdTier replays, with the LSN of its WAL
// record, in LSN order: for whoever must know which keys changed after the
// checkpoint (the RAM-Lake's warm re-attach, actors/engine.cc). The views
// live for the call only.
using ReplayObserver = std::function<void(std::uint64_t lsn, const Mutation& mutation)>;
Result<std::unique_ptr<Wal>> RecoverColdTier(PersistentStore& store, WalOptions wal_options,
                                             DurableStoreRecovery* report, const ReplayObserver& observer = {});

}  // namespace postdevai::storage
