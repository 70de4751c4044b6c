#include "actors/vector_catalog.h"

#include <cmath>

#include "postdevai/hybrid_memory.h"
#include "postdevai/log.h"
#include "storage/persistent_store.h"

namespace postdevai::actors {

namespace {

std::uint64_t KeyHash(std::string_view key) {
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64
  for (unsigned char c : key) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h & ((std::uint64_t{1} << (64 - kChunkBits)) - 1);
}

}  // namespace

std::uint64_t VectorCatalog::IdOf(std::string_view key, std::uint32_t chunk) {
  return (KeyHash(key) << kChunkBits) | chunk;
}

Result<std::unique_ptr<VectorCatalog>> VectorCatalog::Create(const VectorsConfig& config) {
  std::unique_ptr<VectorCatalog> c(new VectorCatalog());
  auto index = VectorIndex::Create(VectorIndexOptions::FromConfig(config));
  if (!index.ok()) return index.status();
  c->index_ = std::move(*index);
  return c;
}

Status VectorCatalog::Check(std::string_view model, std::size_t dimension, std::string_view key,
                            std::string_view value) {
  auto f = records::DecodeFileVectors(key, value);
  if (!f.ok()) return Status::InvalidArgument(f.status().message());
  if (f->model != model || f->dimension != dimension) {
    return Status::InvalidArgument("vectors of model '" + f->model + "' (dimension " + std::to_string(f->dimension) +
                                   ") for " + f->path + ": this node's index holds model '" + std::string(model) +
                                   "' (dimension " + std::to_string(dimension) + ")");
  }
  const std::string expected_key =
      f->owner == records::FileVectors::kSession ? records::SessionVectorsKey(f->session) : CodeIdForPath(f->path);
  if (expected_key != key || (f->owner == records::FileVectors::kSession ? f->session.empty() : f->path.empty())) {
    return Status::InvalidArgument("vectors record for " + (f->path.empty() ? "session " + f->session : f->path) +
                                   " stored under the wrong key " + std::string(key));
  }
  if (f->chunks() >= (std::size_t{1} << kChunkBits)) {
    return Status::TooLarge("vectors for " + f->path + ": " + std::to_string(f->chunks()) + " chunks (limit " +
                            std::to_string(1u << kChunkBits) + ")");
  }
  for (std::size_t i = 0; i < f->values.size(); ++i) {
    if (!std::isfinite(f->values[i])) {
      return Status::InvalidArgument("vectors for " + f->path + ": chunk " + std::to_string(i / f->dimension) +
                                     " has a NaN or infinite component");
    }
  }
  return Status::Ok();
}

Status VectorCatalog::Apply(std::string_view key, const std::string* value) {
  const std::string k(key);
  if (value == nullptr) {
    auto owner = owner_of_key_.find(k);
    if (owner == owner_of_key_.end()) return Status::Ok();
    RemoveOwner(owner->second);
    key_of_prefix_.erase(KeyHash(key));
    owner_of_key_.erase(owner);
    return Status::Ok();
  }
  auto f = records::DecodeFileVectors(key, *value);
  if (!f.ok()) return f.status();
  const std::uint64_t prefix = KeyHash(key);
  auto holder = key_of_prefix_.find(prefix);
  if (holder != key_of_prefix_.end() && holder->second != k) {
    return Status::Corruption("vectors of " + f->path + " collide with those of key " + holder->second +
                              " (64-bit id prefix); the file is not indexed");
  }
  const bool session = f->owner == records::FileVectors::kSession;
  std::vector<VectorEntry> entries(f->chunks());
  for (std::uint32_t c = 0; c < entries.size(); ++c) {
    entries[c].id = IdOf(key, c);
    entries[c].values = std::span<const float>(f->values.data() + std::size_t{c} * f->dimension, f->dimension);
    entries[c].attributes = session ? VectorAttributes{VectorOwnerKind::kHistoryMessage, {}, {}, f->session}
                                    : VectorAttributes{VectorOwnerKind::kCodeChunk, f->path, f->language, {}};
  }
  // Check every entry before touching the index: all or nothing.
  for (const auto& e : entries) {
    for (float x : e.values) {
      if (!std::isfinite(x)) return Status::InvalidArgument("vectors record " + k + ": non-finite component");
    }
  }
  const Owner owner{session, session ? f->session : f->path};
  auto previous = owner_of_key_.find(k);
  if (session) {
    if (f->model != index_->model() || f->dimension != index_->dimension()) {
      return Status::InvalidArgument("vectors record " + k + ": model or dimension differs from the index");
    }
    if (previous != owner_of_key_.end()) RemoveOwner(previous->second);
    for (const auto& e : entries) PDAI_RETURN_IF_ERROR(index_->Add(f->model, e));
  } else {
    // A previous record under this key may have named another path (never with
    // CodeIdForPath keys, but a replaced record must not leave vectors behind).
    if (previous != owner_of_key_.end() && !(previous->second == owner)) RemoveOwner(previous->second);
    PDAI_RETURN_IF_ERROR(index_->ReplaceFile(f->model, f->path, entries));
  }
  key_of_prefix_[prefix] = k;
  owner_of_key_[k] = owner;
  return Status::Ok();
}

Status VectorCatalog::Rebuild(const storage::PersistentStore& store) {
  std::size_t failed = 0;
  Status first_error;
  Status scan = store.ForEach(DataKind::kVectors, [&](const storage::StoredRecord& r) {
    std::string value(r.value);
    Status s = Apply(r.key, &value);
    if (!s.ok() && failed++ == 0) first_error = s;
    return true;
  });
  if (failed > 0) {
    LogWarning("vectors", std::to_string(failed) + " vectors records could not be indexed; first: " +
                              first_error.ToString());
  }
  return scan;
}

void VectorCatalog::RemoveOwner(const Owner& owner) {
  if (owner.session) {
    index_->RemoveSession(owner.name);
  } else {
    index_->RemoveFile(owner.name);
  }
}

std::optional<std::string> VectorCatalog::KeyOf(std::uint64_t id) const {
  auto it = key_of_prefix_.find(id >> kChunkBits);
  if (it == key_of_prefix_.end()) return std::nullopt;
  return it->second;
}

}  // namespace postdevai::actors
