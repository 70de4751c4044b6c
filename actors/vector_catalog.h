// The vectors partition's search side: the VectorIndex (quantized copies of
// every stored vector, both tiers) plus the bookkeeping that maps the index's
// 64-bit ids back to stored records. CAF-free; owned by the vectors partition
// actor (single-threaded by contract, like the index).
//
// A code file's embeddings are one record in the vectors kind, under the same
// key as the file's code record; a session's message embeddings one record
// under SessionVectorsKey(session) (actors/records.h, FileVectors). Vector c
// of the record under key K has the id (hash(K) << 20) | c.
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
class PersistentStore;
}

namespace postdevai::actors {

inline constexpr int kChunkBits = 20;  // chunks per file: at most 2^20

class VectorCatalog {
 public:
  static Result<std::unique_ptr<VectorCatalog>> Create(const VectorsConfig& config);

  // Validates a vectors record before it is logged: it decodes, its model and
  // dimension are the index's, its path is the one its key belongs to, and
  // every component is finite. kInvalidArgument naming the problem.
  static Status Check(std::string_view model, std::size_t dimension, std::string_view key, std::string_view value);

  // A logged write of the vectors kind: replaces the file's vectors (value) or
  // removes them (erase).
  Status Apply(std::string_view key, const std::string* value);

  // Rebuilds from every vectors record in the store (start-up, restart).
  Status Rebuild(const storage::PersistentStore& store);

  // The key of the record holding the vector `id`, if any.
  std::optional<std::string> KeyOf(std::uint64_t id) const;
  static std::uint64_t IdOf(std::string_view key, std::uint32_t chunk);

  VectorIndex& index() { return *index_; }
  const VectorIndex& index() const { return *index_; }

 private:
  VectorCatalog() = default;
  std::unique_ptr<VectorIndex> index_;
  std::unordered_map<std::uint64_t, std::string> key_of_prefix_;  // id >> kChunkBits → key
  // What a key's vectors belong to: a code file (its path) or a session.
  struct Owner {
    bool session = false;
    std::string name;
    bool operator==(const Owner&) const = default;
  };
  void RemoveOwner(const Owner& owner);
  std::unordered_map<std::string, Owner> owner_of_key_;
};

}  // namespace postdevai::actors
