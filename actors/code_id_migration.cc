#include "actors/code_id_migration.h"

#include <cstdio>
#include <string>
#include <vector>

#include "postdevai/hybrid_memory.h"
#include "postdevai/log.h"
#include "records/stored_values.h"
#include "storage/persistent_store.h"

namespace postdevai::actors {

namespace {

// The store property that says which ids code records use.
constexpr std::string_view kCodeIdsProperty = "code_ids";
constexpr std::string_view kCurrentCodeIds = "sha256-128";
// Bytes of values one atomic batch moves at most (memory while moving).
constexpr std::size_t kBatchBytes = 32u << 20;

bool LooksLikeLegacyId(std::string_view key) {
  return key.size() == 16 && key.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// The path a code or code-vectors record holds; empty when it holds none.
std::string PathInRecord(DataKind kind, std::string_view key, std::string_view value) {
  if (kind == DataKind::kCode) {
    auto parts = records::DecodeCode(key, value);
    return parts.ok() ? parts->path : std::string();
  }
  auto vectors = records::DecodeFileVectors(key, value);
  if (!vectors.ok() || vectors->owner != records::FileVectors::kCodeFile) return {};
  return vectors->path;
}

}  // namespace

std::string LegacyCodeIdForPath(std::string_view path) {
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64
  for (unsigned char c : path) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

Result<std::size_t> MoveLegacyCodeIds(storage::PersistentStore& store, const MovedKeyObserver& observe) {
  auto marker = store.GetProperty(kCodeIdsProperty);
  if (marker.ok() && *marker == kCurrentCodeIds) return std::size_t{0};
  if (!marker.ok() && !marker.status().IsNotFound()) return marker.status();

  std::size_t moved = 0;
  for (DataKind kind : {DataKind::kCode, DataKind::kVectors}) {
    // Keys first, then the moves: the store is not written while it is iterated.
    std::vector<std::string> candidates;
    PDAI_RETURN_IF_ERROR(store.ForEachHeader(kind, [&](const storage::StoredRecord& r) {
      if (LooksLikeLegacyId(r.key)) candidates.emplace_back(r.key);
      return true;
    }));
    storage::StoreWriteBatch batch;
    std::size_t batch_bytes = 0;
    std::vector<std::pair<std::string, std::string>> batch_keys;  // old, new
    std::vector<std::uint64_t> batch_lsns;
    auto flush = [&]() -> Status {
      if (batch.empty()) return Status::Ok();
      PDAI_RETURN_IF_ERROR(store.Write(batch));
      for (std::size_t i = 0; i < batch_keys.size(); ++i) {
        observe(kind, batch_keys[i].first, batch_lsns[i], /*erased=*/true);
        observe(kind, batch_keys[i].second, batch_lsns[i], /*erased=*/false);
      }
      moved += batch_keys.size();
      batch.Clear();
      batch_keys.clear();
      batch_lsns.clear();
      batch_bytes = 0;
      return Status::Ok();
    };
    for (const std::string& old_id : candidates) {
      auto record = store.GetWithLsn(kind, old_id);
      if (!record.ok()) return record.status().WithContext("moving " + old_id + " to its new code id");
      const std::string path = PathInRecord(kind, old_id, record->value);
      if (path.empty() || LegacyCodeIdForPath(path) != old_id) continue;
      std::string new_id = CodeIdForPath(path);
      batch.Put(kind, new_id, record->value, record->lsn);
      batch.Delete(kind, old_id, record->lsn);
      batch_bytes += record->value.size();
      batch_keys.emplace_back(old_id, std::move(new_id));
      batch_lsns.push_back(record->lsn);
      if (batch_bytes >= kBatchBytes) PDAI_RETURN_IF_ERROR(flush());
    }
    PDAI_RETURN_IF_ERROR(flush());
  }
  if (moved > 0) {
    // The moves durable before the marker: a crash between them re-runs the
    // move over what is left, never replays old writes over the marker.
    PDAI_RETURN_IF_ERROR(store.Checkpoint(store.LastAppliedLsn()).WithContext("checkpointing the moved code ids"));
    LogInfo("store", "moved " + std::to_string(moved) +
                         " code and vectors records from 64-bit FNV ids to SHA-256 ids (CodeIdForPath)");
  }
  PDAI_RETURN_IF_ERROR(store.SetProperty(kCodeIdsProperty, kCurrentCodeIds));
  return moved;
}

}  // namespace postdevai::actors
