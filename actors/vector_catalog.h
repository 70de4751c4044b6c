// The vectors partition's search side: the VectorIndex (quantized copies of
// every stored vector, both tiers) plus the bookkeeping that maps the index's
// 64-bit ids back to stored records. CAF-free; owned by the vectors partition
// actor (single-threaded by contract, like the index).
//
// A code file's embeddings are one record in the vectors kind, under the same
// key as the file's code record; a session's message embeddings one record
// under SessionVectorsKey(session) (actors/records.h, FileVectors). Vector c
// of the record under key K has the id (prefix(K) << 20) | c, where the
// catalog gives each key its own prefix when the key is first indexed (a
// counter, saved in the snapshot): ids never collide, whatever the keys.
// (Hashes of keys did: a crafted key could take another file's ids.)
//
// Restart without a rebuild: SaveSnapshot writes the whole catalog (the index
// with its graph and quantized copies, the key maps, and per key the LSN of
// the record the index reflects) to one file beside the RAM-Lake partition
// files; Restore loads it and reconciles it with the store — the source of
// truth — by comparing each record's LSN (a header scan, no value decoding):
// only records written, replaced or removed since are applied again. A
// missing, corrupt (checksum, format), foreign (another store) or stale
// (other index options) file falls back to Rebuild, with a log line saying
// why. What Restore applies (re-applied records, or the whole rebuilt index)
// is left unlinked from the graph (VectorIndex::DeferLinking): searchable at
// once, by a scan of those vectors beside the walk, and linked by the owner
// (LinkUnlinked) while it serves.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "records/stored_values.h"
#include "postdevai/config.h"
#include "simd/vector_index.h"

namespace postdevai::storage {
class FileSystem;
class PersistentStore;
namespace ramlake {
struct WatermarkProof;
}
}

namespace postdevai::actors {

inline constexpr int kChunkBits = 20;  // chunks per file: at most 2^20
// The snapshot's file name, in the RAM-Lake directory (and in backups).
inline constexpr std::string_view kVectorIndexSnapshotName = "vectors.index";

class VectorCatalog {
 public:
  static Result<std::unique_ptr<VectorCatalog>> Create(const VectorsConfig& config);

  // Validates a vectors record before it is logged: it decodes, its model and
  // dimension are the index's, its path is the one its key belongs to, and
  // every component is finite. kInvalidArgument naming the problem.
  static Status Check(std::string_view model, std::size_t dimension, std::string_view key, std::string_view value);

  // A logged write of the vectors kind: replaces the file's vectors (value) or
  // removes them (erase). `lsn` is the write's (0: not known to the caller;
  // the next Restore then re-applies the key from the store, to be sure).
  Status Apply(std::string_view key, const std::string* value, std::uint64_t lsn = 0);

  // Rebuilds from every vectors record in the store (start-up, restart).
  Status Rebuild(const storage::PersistentStore& store);

  // What Restore did, for logs and tests.
  struct RestoreReport {
    bool rebuilt = false;    // the snapshot could not be used: rebuilt from the store
    std::string why;         // rebuilt: the reason (missing, checksum, ...)
    std::size_t reapplied = 0;  // loaded: records written or replaced since the snapshot, applied again
    std::size_t removed = 0;    // loaded: records removed since the snapshot
    // loaded: what changed was read from the start-up's WAL replay (the
    // watermark proof), not from a scan of every vectors record's header.
    bool by_watermark = false;
  };
  // Opens the catalog from the snapshot at `path` and reconciles it with
  // `store`, or rebuilds (see the top of this file). Call on a new catalog.
  // `proof` (start-up, after the WAL replay; may be null): when the
  // snapshot reflects the store through an LSN within [the checkpoint, the
  // log's end], the keys the replay changed after that LSN are all that can
  // differ, and only they are read; otherwise every record's header is.
  // Errors: the store's (reading it), or Rebuild's; a bad snapshot is not an
  // error. Blocking (file and LevelDB reads).
  Result<RestoreReport> Restore(storage::FileSystem* fs, const std::string& path,
                                const storage::PersistentStore& store, std::uint64_t store_identity,
                                const storage::ramlake::WatermarkProof* proof = nullptr);
  // Writes the snapshot to `path` (created 0600 through a temporary file,
  // synced, then renamed over the old one: a crash leaves the old or the new
  // file, never a torn one; the checksum catches anything else). The store
  // identity is what Restore checks it against. `through_lsn`: the catalog
  // reflects every vectors write of the store up to this LSN and none after
  // it (0: not known; Restore then reads every record's header). Blocking
  // (file writes).
  Status SaveSnapshot(storage::FileSystem* fs, const std::string& path, std::uint64_t store_identity,
                      std::uint64_t through_lsn = 0) const;
  // SaveSnapshot in two steps, so that the copy is taken where the catalog
  // lives and the file written elsewhere: the snapshot's bytes (CPU only),
  // then writing them as SaveSnapshot does (blocking file I/O).
  std::string EncodeSnapshot(std::uint64_t store_identity, std::uint64_t through_lsn = 0) const;
  static Status WriteSnapshot(storage::FileSystem* fs, const std::string& path, const std::string& bytes);
  // Installs at `to` the snapshot at `from` (one a backup carried), written
  // for store identity `from_identity`, for the store restored from that
  // backup (`to_identity`), so that its first start loads the index instead
  // of rebuilding it. Sound because the snapshot reflects no write after the
  // backup's LSN `through_lsn` -- the restored store's history up to there
  // is the backup's -- and Restore reconciles it with the store key by key.
  // kCorruption (naming the problem) for a file that is no sound snapshot,
  // was written for another identity or reflects a write after through_lsn;
  // the file system's errors. Blocking (file I/O).
  static Status AdoptSnapshot(storage::FileSystem* fs, const std::string& from, std::uint64_t from_identity,
                              std::uint64_t through_lsn, const std::string& to, std::uint64_t to_identity);
  // The LSN of the newest write the catalog reflects (0 when empty).
  std::uint64_t NewestLsn() const;
  // Vectors Apply has put into the index since the catalog was made: what a
  // Restore from an older snapshot would have to put in again (graph inserts
  // are the cost of a restart after a crash).
  std::uint64_t vectors_indexed() const { return vectors_indexed_; }

  // The key of the record holding the vector `id`, if any.
  std::optional<std::string> KeyOf(std::uint64_t id) const;
  // The chunk (position within its record) of the vector `id`.
  static std::uint32_t ChunkOf(std::uint64_t id) {
    return static_cast<std::uint32_t>(id & ((std::uint64_t{1} << kChunkBits) - 1));
  }

  VectorIndex& index() { return *index_; }
  const VectorIndex& index() const { return *index_; }

 private:
  VectorCatalog() = default;
  std::unique_ptr<VectorIndex> index_;
  // Each indexed key's id prefix (id >> kChunkBits) and back; prefixes are
  // never reused within a catalog (0 is never given out).
  std::unordered_map<std::uint64_t, std::string> key_of_prefix_;
  std::unordered_map<std::string, std::uint64_t> prefix_of_key_;
  std::uint64_t next_prefix_ = 1;
  std::uint64_t vectors_indexed_ = 0;
  std::uint64_t PrefixFor(const std::string& key);  // the key's prefix, given out on first use
  void ForgetPrefix(const std::string& key);
  // What a key's vectors belong to: a code file (its path) or a session.
  struct Owner {
    bool session = false;
    std::string name;
    bool operator==(const Owner&) const = default;
  };
  void RemoveOwner(const Owner& owner);
  std::unordered_map<std::string, Owner> owner_of_key_;
  // The LSN of the record each indexed key reflects (0: unknown).
  std::unordered_map<std::string, std::uint64_t> lsn_of_key_;
  // Restore's two halves: parse a snapshot into this (empty) catalog (and
  // the LSN it reflects the store through, 0 if unknown), then apply what
  // the store changed since.
  Status LoadSnapshot(std::string_view file, std::uint64_t store_identity, std::uint64_t* through_lsn);
  Status Reconcile(const storage::PersistentStore& store, std::uint64_t through_lsn,
                   const storage::ramlake::WatermarkProof* proof, RestoreReport* report);
  // Re-reads `key` from the store and applies it (or its removal).
  Status Refresh(const storage::PersistentStore& store, const std::string& key, RestoreReport* report);
};

}  // namespace postdevai::actors
