// The durable write path of the cold tier without actors: the write-ahead log
// in front of the persistent store, with crash recovery and checkpoints.
//
//   Write  → WAL record (group-committed fdatasync) → applied to the store,
//            unsynced, in LSN order → acknowledged.
//   Open   → open LevelDB, read its checkpoint LSN, replay the WAL after it.
//   Checkpoint → the store makes everything applied durable and records the
//            LSN; WAL segments wholly before it are archived or deleted.
//
// An acknowledged write survives kill -9 and power loss: it is in a synced WAL
// record, and the WAL is only released up to a synced store checkpoint.
// Replaying twice changes nothing (the store applies records in LSN order and
// Put/Delete are plain overwrites).
//
// If applying to the store fails (disk full, EIO), the writers of that batch
// get the error — their records are durable in the WAL, so the outcome is
// "may have happened" — and the next write first reopens the store and
// replays the WAL after its checkpoint before it goes on.
//
// Thread-safety: all methods may be called concurrently; concurrent writers
// share WAL syncs.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "storage/persistent_store.h"
#include "storage/wal.h"

namespace postdevai::storage {

struct DurableStoreOptions {
  FileSystem* fs = FileSystem::Default();  // used by both the WAL and the store
  std::string wal_dir;
  std::uint64_t wal_segment_size = 64ull << 20;
  bool wal_archive = true;
  std::string wal_archive_dir;             // default: <wal_dir>-archive
  PersistentStoreOptions store;            // store.file_system is overridden by fs
};

struct DurableStoreRecovery {
  std::uint64_t checkpoint_lsn = 0;  // where replay started
  WalRecoveryReport wal;             // what the WAL held and replayed
  double seconds = 0;
};

// One change in a write: a put (value set) or a delete.
struct Mutation {
  Kind kind = Kind::kMetadata;
  std::string_view key;
  std::string_view value;
  bool is_delete = false;
};

class DurableStore {
 public:
  static Result<std::unique_ptr<DurableStore>> Open(const DurableStoreOptions& options,
                                                    DurableStoreRecovery* recovery = nullptr);
  ~DurableStore();

  // Applies the mutations atomically (one WAL record) and returns its LSN once
  // it is durable and visible to Get. kTooLarge/kInvalidArgument for bad input
  // before anything is logged; I/O errors name the failing path.
  Result<std::uint64_t> Write(const std::vector<Mutation>& mutations);
  Result<std::uint64_t> Put(Kind kind, std::string_view key, std::string_view value) {
    return Write({Mutation{kind, key, value, false}});
  }
  Result<std::uint64_t> Delete(Kind kind, std::string_view key) { return Write({Mutation{kind, key, {}, true}}); }

  Result<std::string> Get(Kind kind, std::string_view key) const { return store_->Get(kind, key); }

  // Checkpoints the store through everything applied so far and releases the
  // WAL segments before it. Returns the checkpoint LSN.
  Result<std::uint64_t> Checkpoint();

  PersistentStore& store() { return *store_; }
  Wal& wal() { return *wal_; }

  DurableStore(const DurableStore&) = delete;
  DurableStore& operator=(const DurableStore&) = delete;

 private:
  DurableStore() = default;
  // Applies WAL records to the store (the WAL's apply hook and replay).
  Status Apply(const std::vector<WalRecord>& records);
  Status RecoverStoreLocked();

  DurableStoreOptions options_;
  std::unique_ptr<PersistentStore> store_;
  std::unique_ptr<Wal> wal_;
  std::atomic<bool> store_behind_{false};  // an apply failed: replay before the next
};

// Restart of the cold tier: opens the WAL in wal_options.dir (LSNs continue
// after the store's checkpoint) and applies every record after
// store.CheckpointLsn() to the store, in batches, in LSN order. Shared by
// DurableStore::Open and the actor engine.
Result<std::unique_ptr<Wal>> RecoverColdTier(PersistentStore& store, WalOptions wal_options,
                                             DurableStoreRecovery* report);

// Applies logged mutation records to the store as one batch, in LSN order.
Status ApplyWalRecords(PersistentStore& store, const std::vector<WalRecord>& records);

// WAL record type of an encoded mutation list.
inline constexpr std::uint8_t kWalRecordMutations = 1;

// The WAL payload of a mutation list, and back. Decode fails with kCorruption
// on a malformed payload.
std::string EncodeMutations(const std::vector<Mutation>& mutations);
Status DecodeMutations(std::string_view payload, std::vector<Mutation>* out);

}  // namespace postdevai::storage
