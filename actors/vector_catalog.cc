#include "actors/vector_catalog.h"

#include <cmath>
#include <unordered_set>

#include "postdevai/hybrid_memory.h"
#include "postdevai/log.h"
#include "records/coding.h"
#include "storage/crc32c.h"
#include "storage/file_system.h"
#include "storage/persistent_store.h"
#include "storage/ramlake/ramlake_partition.h"

namespace postdevai::actors {

std::uint64_t VectorCatalog::PrefixFor(const std::string& key) {
  auto known = prefix_of_key_.find(key);
  if (known != prefix_of_key_.end()) return known->second;
  const std::uint64_t prefix = next_prefix_++;
  prefix_of_key_.emplace(key, prefix);
  key_of_prefix_.emplace(prefix, key);
  return prefix;
}

void VectorCatalog::ForgetPrefix(const std::string& key) {
  auto known = prefix_of_key_.find(key);
  if (known == prefix_of_key_.end()) return;
  key_of_prefix_.erase(known->second);
  prefix_of_key_.erase(known);
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
  const std::string owner = f->path.empty() ? "session " + f->session : f->path;
  for (std::size_t c = 0; c < f->chunks(); ++c) {
    PDAI_RETURN_IF_ERROR(CheckVectorValues(
        std::span<const float>(f->values.data() + c * f->dimension, f->dimension),
        "vectors for " + owner + ", chunk " + std::to_string(c)));
  }
  return Status::Ok();
}

Status VectorCatalog::Apply(std::string_view key, const std::string* value, std::uint64_t lsn) {
  const std::string k(key);
  if (value == nullptr) {
    lsn_of_key_.erase(k);
    auto owner = owner_of_key_.find(k);
    if (owner == owner_of_key_.end()) return Status::Ok();
    RemoveOwner(owner->second);
    ForgetPrefix(k);
    owner_of_key_.erase(owner);
    return Status::Ok();
  }
  auto f = records::DecodeFileVectors(key, *value);
  if (!f.ok()) return f.status();
  const bool session = f->owner == records::FileVectors::kSession;
  // Checked before a prefix is given out, so that a refused record leaves none behind.
  if (f->chunks() >= (std::size_t{1} << kChunkBits)) {
    return Status::TooLarge("vectors record " + k + ": " + std::to_string(f->chunks()) + " chunks");
  }
  for (std::size_t c = 0; c < f->chunks(); ++c) {
    PDAI_RETURN_IF_ERROR(CheckVectorValues(
        std::span<const float>(f->values.data() + c * f->dimension, f->dimension),
        "vectors record " + k + ", chunk " + std::to_string(c)));
  }
  if (session && (f->model != index_->model() || f->dimension != index_->dimension())) {
    return Status::InvalidArgument("vectors record " + k + ": model or dimension differs from the index");
  }
  const std::uint64_t prefix = PrefixFor(k);
  std::vector<VectorEntry> entries(f->chunks());
  for (std::uint32_t c = 0; c < entries.size(); ++c) {
    entries[c].id = (prefix << kChunkBits) | c;
    entries[c].values = std::span<const float>(f->values.data() + std::size_t{c} * f->dimension, f->dimension);
    entries[c].attributes = session ? VectorAttributes{VectorOwnerKind::kHistoryMessage, {}, {}, f->session}
                                    : VectorAttributes{VectorOwnerKind::kCodeChunk, f->path, f->language, {}};
  }
  const Owner owner{session, session ? f->session : f->path};
  auto previous = owner_of_key_.find(k);
  if (session) {
    if (previous != owner_of_key_.end()) RemoveOwner(previous->second);
    for (const auto& e : entries) PDAI_RETURN_IF_ERROR(index_->Add(f->model, e));
  } else {
    // A previous record under this key may have named another path (never with
    // CodeIdForPath keys, but a replaced record must not leave vectors behind).
    if (previous != owner_of_key_.end() && !(previous->second == owner)) RemoveOwner(previous->second);
    PDAI_RETURN_IF_ERROR(index_->ReplaceFile(f->model, f->path, entries));
  }
  owner_of_key_[k] = owner;
  lsn_of_key_[k] = lsn;
  vectors_indexed_ += entries.size();
  return Status::Ok();
}

Status VectorCatalog::Rebuild(const storage::PersistentStore& store) {
  std::size_t failed = 0;
  Status first_error;
  Status scan = store.ForEach(DataKind::kVectors, [&](const storage::StoredRecord& r) {
    std::string value(r.value);
    Status s = Apply(r.key, &value, r.lsn);
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

// ------------------------------------------------------------------ snapshots
//
// File: magic "PDAIVCS3", fixed32 CRC32C of the body, then the body: fixed64
// store identity, fixed64 the newest record LSN the snapshot reflects (for
// diagnostics), fixed64 the LSN it reflects the store through (0: unknown;
// absent in "PDAIVCS2" files, which are still read), fixed64 the next id
// prefix, fixed64 key count and per key:
// key, owner flag (fixed32: 1 session), owner name, fixed64 LSN, fixed64 id
// prefix; then the index snapshot
// (VectorIndex::Serialize) to the end. The index comes last so that it is
// written straight into the body and read in place (it is most of the bytes).

namespace {
constexpr std::string_view kSnapshotMagic = "PDAIVCS3";  // 1: ids were hashes of keys
constexpr std::string_view kSnapshotMagicWithoutThroughLsn = "PDAIVCS2";

// A snapshot file's body, once its magic and checksum are proven.
Result<std::string_view> SnapshotBody(std::string_view file) {
  if (!file.starts_with(kSnapshotMagic) && !file.starts_with(kSnapshotMagicWithoutThroughLsn)) {
    return Status::Corruption("not a vector index snapshot (magic)");
  }
  file.remove_prefix(kSnapshotMagic.size());
  std::uint32_t crc = 0;
  if (!records::GetFixed32(&file, &crc)) return Status::Corruption("truncated");
  if (storage::crc32c::Value(file) != crc) return Status::Corruption("checksum mismatch");
  return file;
}
}  // namespace

std::uint64_t VectorCatalog::NewestLsn() const {
  std::uint64_t newest = 0;
  for (const auto& [key, lsn] : lsn_of_key_) newest = std::max(newest, lsn);
  return newest;
}

Status VectorCatalog::SaveSnapshot(storage::FileSystem* fs, const std::string& path, std::uint64_t store_identity,
                                   std::uint64_t through_lsn) const {
  return WriteSnapshot(fs, path, EncodeSnapshot(store_identity, through_lsn));
}

std::string VectorCatalog::EncodeSnapshot(std::uint64_t store_identity, std::uint64_t through_lsn) const {
  std::string body;
  records::PutFixed64(&body, store_identity);
  records::PutFixed64(&body, NewestLsn());
  records::PutFixed64(&body, through_lsn);
  records::PutFixed64(&body, next_prefix_);
  records::PutFixed64(&body, owner_of_key_.size());
  for (const auto& [key, owner] : owner_of_key_) {
    records::PutLengthPrefixed(&body, key);
    records::PutFixed32(&body, owner.session ? 1 : 0);
    records::PutLengthPrefixed(&body, owner.name);
    auto lsn = lsn_of_key_.find(key);
    records::PutFixed64(&body, lsn == lsn_of_key_.end() ? 0 : lsn->second);
    auto prefix = prefix_of_key_.find(key);
    records::PutFixed64(&body, prefix == prefix_of_key_.end() ? 0 : prefix->second);
  }
  index_->Serialize(&body);
  std::string snapshot(kSnapshotMagic);
  records::PutFixed32(&snapshot, storage::crc32c::Value(body));
  snapshot += body;
  return snapshot;
}

Status VectorCatalog::WriteSnapshot(storage::FileSystem* fs, const std::string& path, const std::string& bytes) {
  const std::string temporary = path + ".tmp";
  auto file = fs->NewWritableFile(temporary);
  if (!file.ok()) return file.status().WithContext("vector index snapshot");
  Status s = (*file)->Append(bytes);
  if (s.ok()) s = (*file)->Sync();
  if (s.ok()) s = (*file)->Close();
  if (s.ok()) s = fs->RenameFile(temporary, path);
  if (!s.ok()) {
    (void)fs->RemoveFile(temporary);
    return s.WithContext("writing the vector index snapshot " + path);
  }
  const auto slash = path.find_last_of('/');
  if (slash != std::string::npos) (void)fs->SyncDir(path.substr(0, slash));
  return Status::Ok();
}

Status VectorCatalog::AdoptSnapshot(storage::FileSystem* fs, const std::string& from, std::uint64_t from_identity,
                                    std::uint64_t through_lsn, const std::string& to, std::uint64_t to_identity) {
  auto corrupt = [&](const std::string& what) { return Status::Corruption("vector index snapshot " + from + ": " + what); };
  auto file = storage::ReadFileToString(fs, from);
  if (!file.ok()) return file.status().WithContext("reading the vector index snapshot " + from);
  auto sound = SnapshotBody(*file);
  if (!sound.ok()) return corrupt(sound.status().message());
  std::string body(*sound);
  std::string_view header(body);
  std::uint64_t identity = 0, newest = 0;
  if (!records::GetFixed64(&header, &identity) || !records::GetFixed64(&header, &newest)) {
    return corrupt("truncated header");
  }
  if (identity != from_identity) return corrupt("written for another store than the backup's");
  if (newest > through_lsn) {
    return corrupt("reflects LSN " + std::to_string(newest) + ", after the backup's " + std::to_string(through_lsn));
  }
  // The identity is the body's first 8 bytes (EncodeSnapshot). The LSN the
  // snapshot reflects the store through stays true of the restored store,
  // whose history up to the backup's LSN is the backed-up one's.
  std::string stamp;
  records::PutFixed64(&stamp, to_identity);
  body.replace(0, stamp.size(), stamp);
  std::string snapshot(file->substr(0, kSnapshotMagic.size()));  // the format it was written in
  records::PutFixed32(&snapshot, storage::crc32c::Value(body));
  snapshot += body;
  return WriteSnapshot(fs, to, snapshot);
}

Status VectorCatalog::LoadSnapshot(std::string_view whole, std::uint64_t store_identity, std::uint64_t* through_lsn) {
  auto corrupt = [](const std::string& what) { return Status::Corruption(what); };
  auto body = SnapshotBody(whole);
  if (!body.ok()) return body.status();
  std::string_view file = *body;
  std::uint64_t identity = 0, newest = 0, keys = 0;
  *through_lsn = 0;
  if (!records::GetFixed64(&file, &identity) || !records::GetFixed64(&file, &newest) ||
      (whole.starts_with(kSnapshotMagic) && !records::GetFixed64(&file, through_lsn))) {
    return corrupt("truncated header");
  }
  // 0 is "unknown" (a file system without birth times): the LSN check against
  // the store still applies to every key.
  if (identity != store_identity && identity != 0 && store_identity != 0) {
    return corrupt("written for another store");
  }
  if (!records::GetFixed64(&file, &next_prefix_) || !records::GetFixed64(&file, &keys)) {
    return corrupt("truncated key table");
  }
  for (std::uint64_t i = 0; i < keys; ++i) {
    std::string key, name;
    std::uint32_t session = 0;
    std::uint64_t lsn = 0, prefix = 0;
    if (!records::GetLengthPrefixed(&file, &key) || !records::GetFixed32(&file, &session) ||
        !records::GetLengthPrefixed(&file, &name) || !records::GetFixed64(&file, &lsn) ||
        !records::GetFixed64(&file, &prefix)) {
      return corrupt("truncated key table");
    }
    if (prefix >= next_prefix_ || !key_of_prefix_.emplace(prefix, key).second) {
      return corrupt("key table: id prefix " + std::to_string(prefix) + " of " + key + " reused or out of range");
    }
    prefix_of_key_[key] = prefix;
    owner_of_key_[key] = Owner{session != 0, std::move(name)};
    lsn_of_key_[std::move(key)] = lsn;
  }
  return index_->Deserialize(file);
}

Status VectorCatalog::Refresh(const storage::PersistentStore& store, const std::string& key, RestoreReport* report) {
  auto value = store.GetWithLsn(DataKind::kVectors, key);
  if (!value.ok()) {
    if (!value.status().IsNotFound()) return value.status();
    if (owner_of_key_.count(key) || lsn_of_key_.count(key)) {
      PDAI_RETURN_IF_ERROR(Apply(key, nullptr));
      ++report->removed;
    }
    return Status::Ok();
  }
  Status s = Apply(key, &value->value, value->lsn);
  if (!s.ok()) LogWarning("vectors", "record " + key + " could not be indexed: " + s.ToString());
  ++report->reapplied;
  return Status::Ok();
}

Status VectorCatalog::Reconcile(const storage::PersistentStore& store, std::uint64_t through_lsn,
                                const storage::ramlake::WatermarkProof* proof, RestoreReport* report) {
  // The store is the snapshot's state at through_lsn plus the WAL replay's
  // changes: when through_lsn lies within what the replay covers
  // [checkpoint, end], a key changed after it is one the replay changed.
  if (proof != nullptr && proof->changed != nullptr && through_lsn != 0 && proof->checkpoint_lsn <= through_lsn &&
      through_lsn <= proof->end_lsn) {
    report->by_watermark = true;
    std::vector<std::string> changed;
    proof->changed->ForEach([&](std::string_view key, const storage::ramlake::ChangedKeys::Change& change) {
      if (change.lsn > through_lsn) changed.emplace_back(key);
    });
    for (const std::string& key : changed) PDAI_RETURN_IF_ERROR(Refresh(store, key, report));
    return Status::Ok();
  }
  std::unordered_set<std::string> present;
  std::vector<std::string> changed;
  PDAI_RETURN_IF_ERROR(store.ForEachHeader(DataKind::kVectors, [&](const storage::StoredRecord& r) {
    std::string key(r.key);
    auto known = lsn_of_key_.find(key);
    if (known == lsn_of_key_.end() || known->second != r.lsn || r.lsn == 0) changed.push_back(key);
    present.insert(std::move(key));
    return true;
  }));
  std::vector<std::string> gone;
  for (const auto& [key, owner] : owner_of_key_) {
    if (!present.count(key)) gone.push_back(key);
  }
  for (const std::string& key : gone) PDAI_RETURN_IF_ERROR(Apply(key, nullptr));
  report->removed = gone.size();
  for (const std::string& key : changed) PDAI_RETURN_IF_ERROR(Refresh(store, key, report));
  return Status::Ok();
}

Result<VectorCatalog::RestoreReport> VectorCatalog::Restore(storage::FileSystem* fs, const std::string& path,
                                                            const storage::PersistentStore& store,
                                                            std::uint64_t store_identity,
                                                            const storage::ramlake::WatermarkProof* proof) {
  RestoreReport report;
  // What the store changed since the snapshot (or the whole index, rebuilt)
  // goes in unlinked: searchable at once, linked by the owner afterwards.
  index_->DeferLinking(true);
  std::uint64_t through_lsn = 0;
  Status loaded = Status::NotFound("no snapshot");
  if (fs->FileExists(path)) {
    auto file = storage::ReadFileToString(fs, path);
    loaded = file.ok() ? LoadSnapshot(*file, store_identity, &through_lsn) : file.status();
  }
  if (loaded.ok()) {
    PDAI_RETURN_IF_ERROR(Reconcile(store, through_lsn, proof, &report));
    index_->DeferLinking(false);
    LogInfo("vectors", "vector index loaded from " + path + " (" + std::to_string(index_->size()) + " vectors; " +
                           std::to_string(report.reapplied) + " records re-applied, " +
                           std::to_string(report.removed) + " removed since the snapshot, found " +
                           (report.by_watermark ? "from the WAL replay" : "by a scan of the store") + "; " +
                           std::to_string(index_->unlinked()) + " vectors to link into the graph)");
    return report;
  }
  report.rebuilt = true;
  report.why = loaded.ToString();
  if (!loaded.IsNotFound()) {
    LogWarning("vectors", "vector index snapshot " + path + " unusable (" + report.why + "): rebuilding from the store");
  } else {
    LogInfo("vectors", "no vector index snapshot at " + path + ": building the index from the store");
  }
  // Start again from an empty catalog: a failed load may have filled part of it.
  auto index = VectorIndex::Create(index_->options());
  if (!index.ok()) return index.status();
  index_ = std::move(*index);
  key_of_prefix_.clear();
  prefix_of_key_.clear();
  next_prefix_ = 1;
  owner_of_key_.clear();
  lsn_of_key_.clear();
  index_->DeferLinking(true);
  PDAI_RETURN_IF_ERROR(Rebuild(store));
  index_->DeferLinking(false);
  return report;
}

std::optional<std::string> VectorCatalog::KeyOf(std::uint64_t id) const {
  auto it = key_of_prefix_.find(id >> kChunkBits);
  if (it == key_of_prefix_.end()) return std::nullopt;
  return it->second;
}

}  // namespace postdevai::actors
