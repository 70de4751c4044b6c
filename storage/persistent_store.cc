#include "storage/persistent_store.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <unordered_set>

#include <sys/resource.h>
#include <sys/statvfs.h>

#include <leveldb/cache.h>
#include <leveldb/db.h>
#include <leveldb/env.h>
#include <leveldb/filter_policy.h>
#include <leveldb/iterator.h>
#include <leveldb/options.h>
#include <leveldb/write_batch.h>
#include <zstd.h>

#include "records/coding.h"
#include "storage/crc32c.h"
#include "storage/leveldb_env.h"

namespace postdevai::storage {

namespace {

constexpr std::uint8_t kDictionaryRecordVersion = 1;
// Longer records are cut to this for training: zstd dictionaries capture what
// recurs across records, which shows in any stretch of a record.
constexpr std::size_t kMaxTrainingSampleBytes = 64u << 10;

using records::DecodeFixed32;
using records::DecodeFixed64;
using records::PutFixed32;
using records::PutFixed64;

// Checkpoint record: fixed64 LSN, fixed32 CRC32C of those 8 bytes.
std::string EncodeCheckpointRecord(std::uint64_t lsn) {
  std::string out;
  PutFixed64(&out, lsn);
  PutFixed32(&out, crc32c::Value(out));
  return out;
}

Result<std::uint64_t> DecodeCheckpointRecord(std::string_view record) {
  if (record.size() != 12 || crc32c::Value(record.data(), 8) != DecodeFixed32(record.data() + 8)) {
    return Status::Corruption("checkpoint record (" + std::to_string(record.size()) +
                              " bytes) fails its checksum; the checkpoint LSN is unknown");
  }
  return DecodeFixed64(record.data());
}

// Dictionary record: u8 version, u8 kind index, fixed32 samples, fixed64
// sample bytes, fixed64 records of the kind at training, fixed32 CRC32C of
// the dictionary, then the dictionary.
constexpr std::size_t kDictionaryRecordHeader = 1 + 1 + 4 + 8 + 8 + 4;

std::string EncodeDictionaryRecord(const DictionaryInfo& info, std::string_view dict) {
  std::string out;
  out.push_back(static_cast<char>(kDictionaryRecordVersion));
  out.push_back(static_cast<char>(KindIndex(info.kind)));
  PutFixed32(&out, static_cast<std::uint32_t>(info.samples));
  PutFixed64(&out, info.sample_bytes);
  PutFixed64(&out, info.kind_records);
  PutFixed32(&out, crc32c::Value(dict));
  out.append(dict);
  return out;
}

// Fills *info (but id) and *dict; false when the record is not sound.
bool DecodeDictionaryRecord(std::string_view record, DictionaryInfo* info, std::string_view* dict) {
  if (record.size() <= kDictionaryRecordHeader || static_cast<std::uint8_t>(record[0]) != kDictionaryRecordVersion ||
      static_cast<std::uint8_t>(record[1]) >= kKindCount) {
    return false;
  }
  *dict = record.substr(kDictionaryRecordHeader);
  if (crc32c::Value(*dict) != DecodeFixed32(record.data() + 22)) return false;
  info->kind = kAllKinds[static_cast<std::uint8_t>(record[1])];
  info->samples = DecodeFixed32(record.data() + 2);
  info->sample_bytes = DecodeFixed64(record.data() + 6);
  info->kind_records = DecodeFixed64(record.data() + 14);
  info->bytes = dict->size();
  return true;
}

// "code key \"src/a.cc#3\"": printable, bounded, for error messages.
std::string DescribeKey(Kind kind, std::string_view key) {
  std::string out(DataKindName(kind));
  out += " key \"";
  constexpr std::size_t kShown = 80;
  for (std::size_t i = 0; i < key.size() && i < kShown; ++i) {
    auto c = static_cast<unsigned char>(key[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  if (key.size() > kShown) out += "...";
  out += '"';
  return out;
}

// A stable 64-bit hash (FNV-1a, then a splitmix finalizer) for choosing
// training samples evenly and reproducibly across the key space.
std::uint64_t SampleHash(std::string_view key) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : key) h = (h ^ c) * 1099511628211ull;
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

leveldb::Slice ToSlice(std::string_view s) { return leveldb::Slice(s.data(), s.size()); }

}  // namespace

// --- StoreWriteBatch ---

void StoreWriteBatch::Put(Kind kind, std::string_view key, std::string_view value, std::uint64_t lsn) {
  Add(false, false, kind, key, value, lsn);
}

void StoreWriteBatch::PutEncoded(Kind kind, std::string_view key, std::string_view encoded, std::uint64_t lsn) {
  Add(false, true, kind, key, encoded, lsn);
}

void StoreWriteBatch::Delete(Kind kind, std::string_view key, std::uint64_t lsn) {
  Add(true, false, kind, key, {}, lsn);
}

void StoreWriteBatch::Add(bool is_delete, bool encoded, Kind kind, std::string_view key, std::string_view value,
                          std::uint64_t lsn) {
  ops_.push_back(Op{is_delete, encoded, kind, key.size(), bytes_.size(), value.size(), lsn});
  bytes_.append(key);
  bytes_.append(value);
}

// --- open / close ---

PersistentStore::PersistentStore(PersistentStoreOptions options)
    : options_(std::move(options)), codec_(options_.max_value_bytes) {}

PersistentStore::~PersistentStore() {
  std::unique_lock lock(db_mu_);
  db_.reset();  // before the Env, cache and filter policy it uses
}

int LevelDbMaxOpenFiles(std::uint64_t soft_limit) {
  constexpr std::uint64_t kLevelDbMin = 74;  // LevelDB clips max_open_files to 74 .. 50000
  constexpr std::uint64_t kLevelDbMax = 50000;
  const std::uint64_t half = soft_limit == RLIM_INFINITY ? kLevelDbMax : soft_limit / 2;
  return static_cast<int>(std::clamp(half, kLevelDbMin, kLevelDbMax));
}

std::uint64_t RaiseDescriptorLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
  if (limit.rlim_cur >= limit.rlim_max) return limit.rlim_cur;
  const rlim_t before = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  return ::setrlimit(RLIMIT_NOFILE, &limit) == 0 ? limit.rlim_cur : before;
}

Result<std::unique_ptr<PersistentStore>> PersistentStore::Open(const PersistentStoreOptions& options) {
  if (options.path.empty()) return Status::InvalidArgument("persistent store: path is empty");
  if (options.file_system == nullptr) return Status::InvalidArgument("persistent store: no file system");
  if (options.write_buffer_size < (64u << 10)) {
    return Status::InvalidArgument("persistent store: write_buffer_size below 64 KiB");
  }
  if (options.dictionary_bytes < 1024 || options.dictionary_bytes > (4u << 20)) {
    return Status::InvalidArgument("persistent store: dictionary_bytes must be within 1 KiB .. 4 MiB");
  }
  if (options.max_value_bytes == 0 || options.max_value_bytes > (1u << 30)) {
    return Status::InvalidArgument("persistent store: max_value_bytes must be within 1 .. 1 GiB");
  }
  for (Kind kind : kAllKinds) {
    int level = options.kinds[KindIndex(kind)].level;
    if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel()) {
      return Status::InvalidArgument("persistent store: zstd level " + std::to_string(level) + " for " +
                                     std::string(DataKindName(kind)) + " is outside " +
                                     std::to_string(ZSTD_minCLevel()) + " .. " + std::to_string(ZSTD_maxCLevel()));
    }
  }
  if (options.max_open_files < 0) {
    return Status::InvalidArgument("persistent store: max_open_files " + std::to_string(options.max_open_files) +
                                   " is negative");
  }
  PDAI_RETURN_IF_ERROR(options.file_system->CreateDirs(options.path));

  PersistentStoreOptions resolved = options;
  const int share = LevelDbMaxOpenFiles(RaiseDescriptorLimit());
  resolved.max_open_files = options.max_open_files == 0 ? share : std::min(options.max_open_files, share);
  std::unique_ptr<PersistentStore> store(new PersistentStore(std::move(resolved)));
  store->env_ = NewLevelDbEnv(options.file_system);
  if (options.cache_size_mb > 0) store->block_cache_.reset(leveldb::NewLRUCache(options.cache_size_mb << 20));
  // Most reads of the cold tier are for keys it may not hold (RAM misses of
  // new keys); a Bloom filter answers those without touching a data block.
  store->filter_policy_.reset(leveldb::NewBloomFilterPolicy(10));
  {
    std::unique_lock lock(store->db_mu_);
    PDAI_RETURN_IF_ERROR(store->OpenDbLocked());
    PDAI_RETURN_IF_ERROR(store->LoadMetadataLocked());
  }
  PDAI_RETURN_IF_ERROR(store->LoadIdentity());
  store->InitTrainingCounters();
  return store;
}

namespace {
constexpr std::string_view kStoreIdProperty = "store_id";
constexpr std::string_view kEpochProperty = "epoch";
constexpr std::string_view kEpochStartProperty = "epoch_start_lsn";
}  // namespace

std::uint64_t StoreIdentity::Fingerprint() const {
  std::uint64_t h = id ^ (epoch * 0x9E3779B97F4A7C15ull);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h == 0 ? 1 : h;
}

std::string StoreIdentity::ToString() const {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%016llx/epoch %llu", static_cast<unsigned long long>(id),
                static_cast<unsigned long long>(epoch));
  return buf;
}

Status PersistentStore::LoadIdentity() {
  StoreIdentity identity;
  auto id = GetProperty(kStoreIdProperty);
  auto epoch = GetProperty(kEpochProperty);
  if (id.ok() && epoch.ok()) {
    identity.id = std::strtoull(id->c_str(), nullptr, 16);
    identity.epoch = std::strtoull(epoch->c_str(), nullptr, 10);
    if (auto start = GetProperty(kEpochStartProperty); start.ok()) {
      identity.epoch_start_lsn = std::strtoull(start->c_str(), nullptr, 10);
    }
    if (identity.id == 0 || identity.epoch == 0) {
      return Status::Corruption("persistent store at " + options_.path + ": its identity (" + *id + ", epoch " +
                                *epoch + ") is not sound");
    }
  } else if (id.status().IsNotFound()) {
    // A new store (or one from before stores had ids): its id is made once.
    std::random_device random;
    while (identity.id == 0) identity.id = (std::uint64_t{random()} << 32) ^ random() ^ options_.file_system->WallClockMicros();
    identity.epoch = 1;
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(identity.id));
    PDAI_RETURN_IF_ERROR(SetProperty(kEpochProperty, "1"));
    PDAI_RETURN_IF_ERROR(SetProperty(kStoreIdProperty, hex));  // last: an id always has its epoch
  } else {
    return (id.ok() ? epoch.status() : id.status()).WithContext("reading the identity of the store at " + options_.path);
  }
  std::lock_guard lock(identity_mu_);
  identity_ = identity;
  return Status::Ok();
}

StoreIdentity PersistentStore::identity() const {
  std::lock_guard lock(identity_mu_);
  return identity_;
}

Result<StoreIdentity> PersistentStore::StartNewEpoch(std::uint64_t first_lsn) {
  StoreIdentity next = identity();
  ++next.epoch;
  next.epoch_start_lsn = first_lsn;
  // The start first: an epoch is never read with an older one's start.
  PDAI_RETURN_IF_ERROR(SetProperty(kEpochStartProperty, std::to_string(first_lsn)));
  PDAI_RETURN_IF_ERROR(SetProperty(kEpochProperty, std::to_string(next.epoch)));
  std::lock_guard lock(identity_mu_);
  identity_ = next;
  return next;
}

Status PersistentStore::AdoptIdentity(const StoreIdentity& adopted) {
  const StoreIdentity mine = identity();
  if (adopted.id != mine.id && LastAppliedLsn() > 0) {
    return Status::InvalidArgument("the store at " + options_.path + " (" + mine.ToString() +
                                   ") holds writes of another store than " + adopted.ToString());
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(adopted.id));
  PDAI_RETURN_IF_ERROR(SetProperty(kEpochStartProperty, std::to_string(adopted.epoch_start_lsn)));
  PDAI_RETURN_IF_ERROR(SetProperty(kEpochProperty, std::to_string(adopted.epoch)));
  PDAI_RETURN_IF_ERROR(SetProperty(kStoreIdProperty, hex));
  std::lock_guard lock(identity_mu_);
  identity_ = adopted;
  return Status::Ok();
}

Status PersistentStore::OpenDbLocked() {
  leveldb::Options o;
  o.create_if_missing = true;
  o.env = env_.get();
  o.block_cache = block_cache_.get();
  o.filter_policy = filter_policy_.get();
  o.write_buffer_size = options_.write_buffer_size;
  o.max_open_files = options_.max_open_files;
  // Values arrive compressed by ValueCodec; snappy would only burn CPU.
  o.compression = leveldb::kNoCompression;
  // A torn tail of LevelDB's own log is an unsynced write lost in a crash,
  // not damage: let recovery drop it (our WAL replays the rest).
  o.paranoid_checks = false;
  leveldb::DB* db = nullptr;
  Status s = FromLevelDbStatus(leveldb::DB::Open(o, options_.path, &db));
  if (!s.ok()) return s.WithContext("opening persistent store at " + options_.path);
  db_.reset(db);
  close_reason_ = Status::Ok();
  return Status::Ok();
}

Status PersistentStore::LoadMetadataLocked() {
  leveldb::ReadOptions ro;
  ro.verify_checksums = true;
  std::string record;
  leveldb::Status ls = db_->Get(ro, ToSlice(CheckpointLsnKey()), &record);
  std::uint64_t checkpoint = 0;
  if (ls.ok()) {
    auto lsn = DecodeCheckpointRecord(record);
    if (!lsn.ok()) return lsn.status().WithContext("opening persistent store at " + options_.path);
    checkpoint = *lsn;
  } else if (!ls.IsNotFound()) {
    return FromLevelDbStatus(ls).WithContext("reading the checkpoint LSN of " + options_.path);
  }
  checkpoint_lsn_.store(checkpoint, std::memory_order_release);
  std::uint64_t applied = last_applied_lsn_.load(std::memory_order_acquire);
  last_applied_lsn_.store(std::max(applied, checkpoint), std::memory_order_release);

  // Dictionaries, oldest first (big-endian ids). A damaged one is skipped:
  // only the values written with it become unreadable (each reports
  // kCorruption), and its id is never handed out again.
  std::vector<DictionaryInfo> infos;
  std::uint32_t max_id = 0;
  std::array<std::uint32_t, kKindCount> current{};
  std::array<std::uint64_t, kKindCount> records_at_training{};
  KeyRange range = DictionaryRange();
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(ro));
  for (it->Seek(ToSlice(range.begin)); it->Valid() && it->key().compare(ToSlice(range.end)) < 0; it->Next()) {
    auto id = DictionaryIdFromKey(std::string_view(it->key().data(), it->key().size()));
    if (!id) continue;
    max_id = std::max(max_id, *id);
    DictionaryInfo info;
    std::string_view dict;
    if (!DecodeDictionaryRecord(std::string_view(it->value().data(), it->value().size()), &info, &dict)) continue;
    info.id = *id;
    if (!codec_.AddDictionary(info.id, dict).ok()) continue;
    current[KindIndex(info.kind)] = info.id;
    records_at_training[KindIndex(info.kind)] = info.kind_records;
    infos.push_back(info);
  }
  if (!it->status().ok()) {
    return FromLevelDbStatus(it->status()).WithContext("reading the compression dictionaries of " + options_.path);
  }
  std::lock_guard lock(dictionaries_mu_);
  dictionaries_ = std::move(infos);
  next_dictionary_id_ = std::max(next_dictionary_id_, max_id + 1);
  for (Kind kind : kAllKinds) {
    current_dictionary_[KindIndex(kind)].store(current[KindIndex(kind)]);
    records_at_training_[KindIndex(kind)].store(records_at_training[KindIndex(kind)]);
  }
  return Status::Ok();
}

Status PersistentStore::Reopen() {
  std::lock_guard lock(write_mu_);
  return ReopenLocked();
}

Status PersistentStore::ReopenLocked() {
  if (db_ && write_failed_ && write_failure_.IsNoSpace()) {
    // Closing now would end reads too, and a reopen on a full disk fails.
    struct statvfs vfs {};
    if (::statvfs(options_.path.c_str(), &vfs) == 0) {
      const std::uint64_t free = std::uint64_t(vfs.f_bavail) * vfs.f_frsize;
      if (free < ReopenRoomBytes()) {
        return Status::NoSpace("persistent store at " + options_.path + ": the disk is still full (" +
                               std::to_string(free >> 20) + " MiB free, " + std::to_string(ReopenRoomBytes() >> 20) +
                               " MiB needed to resume writing after: " + write_failure_.message() + ")");
      }
    }
  }
  std::unique_lock lock(db_mu_);
  db_.reset();
  Status s = OpenDbLocked();
  if (s.ok()) s = LoadMetadataLocked();
  if (!s.ok()) {
    db_.reset();
    close_reason_ = s;
    return s.WithContext("reopening persistent store");
  }
  write_failed_ = false;
  write_failure_ = Status::Ok();
  return Status::Ok();
}

// --- writes ---

Status PersistentStore::ApplyLocked(leveldb::WriteBatch* batch, bool sync, std::string_view what) {
  // db_ only changes under write_mu_, which the caller holds.
  if (write_failed_ || !db_) PDAI_RETURN_IF_ERROR(ReopenLocked());
  std::shared_lock lock(db_mu_);
  leveldb::WriteOptions wo;
  wo.sync = sync;
  Status s = FromLevelDbStatus(db_->Write(wo, batch));
  if (!s.ok()) {
    // The log may now end in a torn record; anything appended after it could
    // be dropped by recovery. Reopen before the next write (see header).
    write_failed_ = true;
    write_failure_ = s;
    return s.WithContext(std::string(what) + " in persistent store at " + options_.path);
  }
  return Status::Ok();
}

EncodeOptions PersistentStore::EncodeOptionsFor(Kind kind) const {
  const auto& k = options_.kinds[KindIndex(kind)];
  EncodeOptions e;
  e.compress = options_.compression;
  e.level = k.level;
  e.dictionary_id = (options_.compression && k.use_dictionary)
                        ? current_dictionary_[KindIndex(kind)].load(std::memory_order_acquire)
                        : 0;
  return e;
}

Result<std::string> PersistentStore::EncodeValue(Kind kind, std::string_view key, std::string_view value,
                                                 std::uint64_t lsn) const {
  auto encoded = codec_.Encode(value, lsn, EncodeOptionsFor(kind));
  if (!encoded.ok()) return encoded.status().WithContext("writing " + DescribeKey(kind, key));
  return encoded;
}

Result<std::string> PersistentStore::EncodeUnstamped(Kind kind, std::string_view key, std::string_view raw) const {
  return EncodeValue(kind, key, raw, /*lsn=*/0);
}

void PersistentStore::NoteApplied(std::uint64_t lsn) {
  std::uint64_t seen = last_applied_lsn_.load(std::memory_order_relaxed);
  while (lsn > seen && !last_applied_lsn_.compare_exchange_weak(seen, lsn, std::memory_order_acq_rel)) {
  }
}

Status PersistentStore::Put(Kind kind, std::string_view key, std::string_view value, std::uint64_t lsn) {
  StoreWriteBatch batch;
  batch.Put(kind, key, value, lsn);
  return Write(batch);
}

Status PersistentStore::Delete(Kind kind, std::string_view key, std::uint64_t lsn) {
  StoreWriteBatch batch;
  batch.Delete(kind, key, lsn);
  return Write(batch);
}

Status PersistentStore::Write(const StoreWriteBatch& batch) {
  if (batch.empty()) return Status::Ok();
  // Compress outside every lock: it is the expensive part of a write.
  leveldb::WriteBatch wb;
  std::array<std::uint64_t, kKindCount> records{}, raw_bytes{};
  std::uint64_t max_lsn = 0;
  std::uint64_t stored = 0;
  std::string stamped;  // reused: a batch of replay holds thousands of values
  for (const auto& op : batch.ops_) {
    const std::string_view user_key = batch.KeyOf(op), value = batch.ValueOf(op);
    std::string key = EncodeKey(op.kind, user_key);
    max_lsn = std::max(max_lsn, op.lsn);
    if (op.is_delete) {
      wb.Delete(key);
      continue;
    }
    std::uint64_t raw_length = value.size();
    if (op.encoded) {
      // Compressed by the writer: only the LSN changes.
      Status s = codec_.RestampInto(value, op.lsn, &stamped, &raw_length);
      if (!s.ok()) return s.WithContext("writing " + DescribeKey(op.kind, user_key));
    } else {
      auto encoded = EncodeValue(op.kind, user_key, value, op.lsn);
      if (!encoded.ok()) return encoded.status();
      stamped = std::move(*encoded);
    }
    wb.Put(key, stamped);
    records[KindIndex(op.kind)] += 1;
    raw_bytes[KindIndex(op.kind)] += raw_length;
    stored += stamped.size();
  }
  {
    std::lock_guard lock(write_mu_);
    PDAI_RETURN_IF_ERROR(ApplyLocked(&wb, /*sync=*/false, "writing " + std::to_string(batch.size()) + " records"));
  }
  NoteApplied(max_lsn);
  std::uint64_t raw = 0;
  for (auto b : raw_bytes) raw += b;
  raw_bytes_written_.fetch_add(raw, std::memory_order_relaxed);
  stored_bytes_written_.fetch_add(stored, std::memory_order_relaxed);
  AfterWrite(records, raw_bytes);
  return Status::Ok();
}

std::uint64_t PersistentStore::ApproximateDiskBytes() const {
  std::shared_lock lock(db_mu_);
  if (!db_) return 0;
  const std::string begin(1, '\0');
  const std::string end = KeyPastEverything();
  leveldb::Range r(ToSlice(begin), ToSlice(end));
  std::uint64_t size = 0;
  db_->GetApproximateSizes(&r, 1, &size);
  return size;
}

// --- reads ---

namespace {
Status ClosedStatus(const std::string& path, const Status& reason) {
  return Status::Closed("persistent store at " + path + " is closed after a failed reopen (" + reason.ToString() +
                        "); the next write or Reopen() tries again");
}
}  // namespace

Result<std::string> PersistentStore::ReadEncoded(Kind kind, std::string_view key) const {
  std::string encoded;
  std::shared_lock lock(db_mu_);
  if (!db_) return ClosedStatus(options_.path, close_reason_);
  leveldb::ReadOptions ro;
  ro.verify_checksums = true;
  leveldb::Status s = db_->Get(ro, ToSlice(EncodeKey(kind, key)), &encoded);
  if (s.IsNotFound()) return Status::NotFound(DescribeKey(kind, key) + " is not in the persistent store");
  if (!s.ok()) return FromLevelDbStatus(s).WithContext("reading " + DescribeKey(kind, key));
  return encoded;
}

Status PersistentStore::SetProperty(std::string_view name, std::string_view value) {
  std::lock_guard lock(write_mu_);
  if (write_failed_ || !db_) PDAI_RETURN_IF_ERROR(ReopenLocked());
  leveldb::WriteBatch wb;
  wb.Put(ToSlice(PropertyKey(name)), ToSlice(value));
  return ApplyLocked(&wb, /*sync=*/true, "recording the store property " + std::string(name));
}

Result<std::string> PersistentStore::GetProperty(std::string_view name) const {
  std::string value;
  std::shared_lock lock(db_mu_);
  if (!db_) return ClosedStatus(options_.path, close_reason_);
  leveldb::ReadOptions ro;
  ro.verify_checksums = true;
  leveldb::Status s = db_->Get(ro, ToSlice(PropertyKey(name)), &value);
  if (s.IsNotFound()) return Status::NotFound("store property " + std::string(name) + " is not set");
  if (!s.ok()) return FromLevelDbStatus(s).WithContext("reading the store property " + std::string(name));
  return value;
}

Result<std::string> PersistentStore::Get(Kind kind, std::string_view key) const {
  auto encoded = ReadEncoded(kind, key);
  if (!encoded.ok()) return encoded.status();
  auto raw = codec_.Decode(*encoded);
  if (!raw.ok()) return raw.status().WithContext("reading " + DescribeKey(kind, key));
  return raw;
}

Result<StoredValue> PersistentStore::GetWithLsn(Kind kind, std::string_view key) const {
  auto encoded = ReadEncoded(kind, key);
  if (!encoded.ok()) return encoded.status();
  ValueHeader header;
  auto raw = codec_.Decode(*encoded, &header);
  if (!raw.ok()) return raw.status().WithContext("reading " + DescribeKey(kind, key));
  return StoredValue{std::move(*raw), header.lsn};
}

Result<std::uint64_t> PersistentStore::GetLsn(Kind kind, std::string_view key) const {
  auto encoded = ReadEncoded(kind, key);
  if (!encoded.ok()) return encoded.status();
  auto lsn = LsnOf(*encoded);
  if (!lsn.ok()) return lsn.status().WithContext("reading the LSN of " + DescribeKey(kind, key));
  return lsn;
}

Status PersistentStore::ScanEncoded(Kind kind, const EncodedVisitor& visit) const {
  std::shared_lock lock(db_mu_);
  if (!db_) return ClosedStatus(options_.path, close_reason_);
  leveldb::ReadOptions ro;
  ro.verify_checksums = true;
  ro.fill_cache = false;  // a full scan would evict the blocks point reads need
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(ro));
  KeyRange range = KindRange(kind);
  for (it->Seek(ToSlice(range.begin)); it->Valid(); it->Next()) {
    leveldb::Slice k = it->key();
    if (k.compare(ToSlice(range.end)) >= 0) break;
    if (!visit(std::string_view(k.data() + 1, k.size() - 1), std::string_view(it->value().data(), it->value().size()))) {
      return Status::Ok();
    }
  }
  if (!it->status().ok()) {
    return FromLevelDbStatus(it->status()).WithContext("scanning " + std::string(DataKindName(kind)) + " records");
  }
  return Status::Ok();
}

Status PersistentStore::Scan(Kind kind, bool decode, const RecordVisitor& visit) const {
  std::uint64_t corrupt = 0;
  Status first_corrupt;
  std::string decoded;
  Status s = ScanEncoded(kind, [&](std::string_view user_key, std::string_view encoded) {
    StoredRecord record;
    record.key = user_key;
    record.stored_bytes = static_cast<std::uint32_t>(encoded.size());
    ValueHeader header;
    Status bad;
    if (decode) {
      auto raw = codec_.Decode(encoded, &header);
      if (raw.ok()) {
        decoded = std::move(*raw);
        record.value = decoded;
      } else {
        bad = raw.status();
      }
    } else {
      auto parsed = ParseValueHeader(encoded);
      if (parsed.ok()) header = *parsed; else bad = parsed.status();
    }
    if (!bad.ok()) {
      if (corrupt++ == 0) first_corrupt = bad.WithContext(DescribeKey(kind, user_key));
      return true;
    }
    record.lsn = header.lsn;
    record.raw_bytes = header.raw_length;
    record.dictionary_id = header.dictionary_id;
    return visit(record);
  });
  if (!s.ok()) return s;
  if (corrupt > 0) {
    return Status::Corruption(std::to_string(corrupt) + " " + std::string(DataKindName(kind)) +
                              " record(s) failed to decode; first: " + first_corrupt.message());
  }
  return Status::Ok();
}

Status PersistentStore::ForEach(Kind kind, const RecordVisitor& visit) const { return Scan(kind, true, visit); }

Status PersistentStore::ForEachHeader(Kind kind, const RecordVisitor& visit) const {
  return Scan(kind, false, visit);
}

Result<KindStats> PersistentStore::Stats(Kind kind) const {
  KindStats stats;
  Status s = Scan(kind, false, [&stats](const StoredRecord& r) {
    stats.entries += 1;
    stats.key_bytes += r.key.size();
    stats.raw_bytes += r.raw_bytes;
    stats.stored_bytes += r.stored_bytes;
    if (r.dictionary_id != 0) stats.entries_with_dictionary += 1;
    return true;
  });
  // Damaged records are not counted; they do not make the statistics of the
  // rest unavailable.
  if (!s.ok() && !s.IsCorruption()) return s;
  {
    std::shared_lock lock(db_mu_);
    if (!db_) return ClosedStatus(options_.path, close_reason_);
    KeyRange range = KindRange(kind);
    leveldb::Range r(ToSlice(range.begin), ToSlice(range.end));
    std::uint64_t size = 0;
    db_->GetApproximateSizes(&r, 1, &size);
    stats.approximate_disk_bytes = size;
  }
  stats.dictionary_id = current_dictionary_[KindIndex(kind)].load(std::memory_order_acquire);
  return stats;
}

// --- dictionaries ---

bool PersistentStore::UsesDictionary(Kind kind) const {
  return options_.compression && options_.kinds[KindIndex(kind)].use_dictionary;
}

void PersistentStore::InitTrainingCounters() {
  if (options_.dictionary_training_records == 0) return;
  for (Kind kind : kAllKinds) {
    // Kinds that already have a dictionary count from zero: knowing how many
    // records were written since it was trained would take a full scan.
    if (!UsesDictionary(kind) || current_dictionary_[KindIndex(kind)].load() != 0) continue;
    std::uint64_t records = 0, bytes = 0;
    // Bounded: stops as soon as the thresholds are reached.
    (void)ForEachHeader(kind, [&](const StoredRecord& r) {
      records += 1;
      bytes += r.raw_bytes;
      return records < options_.dictionary_training_records || bytes < options_.dictionary_training_bytes;
    });
    records_since_training_[KindIndex(kind)].store(records);
    bytes_since_training_[KindIndex(kind)].store(bytes);
  }
}

void PersistentStore::AfterWrite(const std::array<std::uint64_t, kKindCount>& records,
                                 const std::array<std::uint64_t, kKindCount>& raw_bytes) {
  if (options_.dictionary_training_records == 0 || !auto_training_.load(std::memory_order_relaxed)) return;
  for (Kind kind : kAllKinds) {
    std::size_t i = KindIndex(kind);
    if (records[i] == 0 || !UsesDictionary(kind)) continue;
    const std::uint64_t n = records_since_training_[i].fetch_add(records[i]) + records[i];
    writes_since_open_[i].fetch_add(records[i]);
    const std::uint64_t b = bytes_since_training_[i].fetch_add(raw_bytes[i]) + raw_bytes[i];
    const double factor = std::ldexp(1.0, static_cast<int>(std::min<std::uint32_t>(training_backoff_[i].load(), 30)));
    const std::uint32_t current = current_dictionary_[i].load(std::memory_order_acquire);
    bool due;
    if (current == 0) {
      due = static_cast<double>(n) >= static_cast<double>(options_.dictionary_training_records) * factor &&
            static_cast<double>(b) >= static_cast<double>(options_.dictionary_training_bytes) * factor;
    } else {
      const double growth = options_.dictionary_retrain_growth;
      due = growth > 1.0 &&
            static_cast<double>(n) >=
                std::max(static_cast<double>(options_.dictionary_training_records),
                         (growth - 1.0) * static_cast<double>(std::max(records_at_training_[i].load(),
                                                                      writes_at_training_[i].load()))) *
                    factor;
    }
    if (!due) continue;
    // Another thread already training will install a dictionary; don't queue.
    std::unique_lock training(training_mu_, std::try_to_lock);
    if (!training.owns_lock() || current_dictionary_[i].load(std::memory_order_acquire) != current) continue;
    auto trained = TrainDictionaryLocked(kind);
    // The write itself succeeded; a failed training only postpones the next
    // attempt (twice the records), so a kind that cannot be trained does not
    // pay a scan on every write.
    if (!trained.ok()) training_backoff_[i].fetch_add(1);
  }
}

Result<DictionaryInfo> PersistentStore::TrainDictionary(Kind kind) {
  std::lock_guard training(training_mu_);
  return TrainDictionaryLocked(kind);
}

Result<DictionaryInfo> PersistentStore::TrainDictionaryLocked(Kind kind) {
  const std::string kind_name(DataKindName(kind));
  if (!options_.compression) {
    return Status::InvalidArgument("cannot train a dictionary for " + kind_name + ": compression is off");
  }
  if (!options_.kinds[KindIndex(kind)].use_dictionary) {
    return Status::InvalidArgument("cannot train a dictionary for " + kind_name + ": its dictionary is disabled");
  }
  // Pass 1: how much is there, to sample an even fraction of the whole kind
  // (a prefix of the key space would over-represent whatever sorts first).
  std::uint64_t total_raw = 0, total_records = 0;
  Status s = ForEachHeader(kind, [&](const StoredRecord& r) {
    total_raw += r.raw_bytes;
    total_records += 1;
    return true;
  });
  if (!s.ok() && !s.IsCorruption()) return s;
  if (total_records == 0) {
    return Status::InvalidArgument("cannot train a dictionary for " + kind_name + ": no records stored");
  }
  double fraction = std::min(1.0, static_cast<double>(options_.dictionary_sample_bytes) /
                                      static_cast<double>(std::max<std::uint64_t>(total_raw, 1)));
  const double scaled = fraction * 0x1p64;  // fraction of the hash space
  const std::uint64_t limit = scaled >= 0x1p64 ? UINT64_MAX : static_cast<std::uint64_t>(scaled);
  // Pass 2: decode only the chosen records (damaged ones are left out).
  std::vector<std::string> samples;
  std::uint64_t sample_bytes = 0;
  s = ScanEncoded(kind, [&](std::string_view key, std::string_view encoded) {
    if (fraction < 1.0 && SampleHash(key) > limit) return true;
    auto raw = codec_.Decode(encoded);
    if (!raw.ok() || raw->empty()) return true;
    if (raw->size() > kMaxTrainingSampleBytes) raw->resize(kMaxTrainingSampleBytes);
    sample_bytes += raw->size();
    samples.push_back(std::move(*raw));
    return sample_bytes < options_.dictionary_sample_bytes + kMaxTrainingSampleBytes;
  });
  if (!s.ok()) return s;
  auto dict = storage::TrainDictionary(samples, options_.dictionary_bytes, options_.kinds[KindIndex(kind)].level);
  if (!dict.ok()) return dict.status().WithContext("training a dictionary for " + kind_name);

  DictionaryInfo info;
  info.kind = kind;
  info.bytes = dict->size();
  info.samples = samples.size();
  info.sample_bytes = sample_bytes;
  info.kind_records = total_records;
  {
    // Ids are never reused, even when the write below fails: a failed write
    // may still have reached the disk.
    std::lock_guard lock(dictionaries_mu_);
    info.id = next_dictionary_id_++;
  }
  const std::string record = EncodeDictionaryRecord(info, *dict);
  if (dictionary_log_) {
    std::string payload;
    records::PutFixed32(&payload, info.id);
    payload += record;
    PDAI_RETURN_IF_ERROR(dictionary_log_(payload).WithContext("logging dictionary " + std::to_string(info.id)));
  }
  leveldb::WriteBatch wb;
  wb.Put(ToSlice(DictionaryKey(info.id)), ToSlice(record));
  {
    // Synced: a value written with this dictionary may reach the disk in any
    // later LevelDB write; the dictionary must already be there.
    std::lock_guard lock(write_mu_);
    PDAI_RETURN_IF_ERROR(ApplyLocked(&wb, /*sync=*/true, "writing dictionary " + std::to_string(info.id)));
  }
  PDAI_RETURN_IF_ERROR(codec_.AddDictionary(info.id, *dict));
  {
    std::lock_guard lock(dictionaries_mu_);
    dictionaries_.push_back(info);
  }
  current_dictionary_[KindIndex(kind)].store(info.id, std::memory_order_release);
  records_at_training_[KindIndex(kind)].store(total_records);
  writes_at_training_[KindIndex(kind)].store(writes_since_open_[KindIndex(kind)].load());
  records_since_training_[KindIndex(kind)].store(0);
  bytes_since_training_[KindIndex(kind)].store(0);
  training_backoff_[KindIndex(kind)].store(0);
  return info;
}

Status PersistentStore::ImportDictionary(std::string_view payload) {
  if (payload.size() < 4) return Status::Corruption("dictionary record of " + std::to_string(payload.size()) + " bytes");
  const std::uint32_t id = records::DecodeFixed32(payload.data());
  const std::string_view record = payload.substr(4);
  DictionaryInfo info;
  std::string_view dict;
  if (id == 0 || !DecodeDictionaryRecord(record, &info, &dict)) {
    return Status::Corruption("dictionary record " + std::to_string(id) + " does not decode");
  }
  info.id = id;
  std::lock_guard training(training_mu_);
  bool present = false;
  {
    std::lock_guard lock(dictionaries_mu_);
    for (const auto& d : dictionaries_) present = present || d.id == id;
  }
  if (present) {
    // The same id must be the same dictionary: values compressed with the
    // logged one would not decode with another.
    std::string stored;
    {
      std::shared_lock lock(db_mu_);
      if (!db_) return ClosedStatus(options_.path, close_reason_);
      leveldb::ReadOptions ro;
      ro.verify_checksums = true;
      leveldb::Status s = db_->Get(ro, ToSlice(DictionaryKey(id)), &stored);
      if (!s.ok()) return FromLevelDbStatus(s).WithContext("reading dictionary " + std::to_string(id));
    }
    if (stored != record) {
      return Status::Corruption("dictionary " + std::to_string(id) + " in the log differs from the store's own " +
                                "(the store trained one of its own under that id)");
    }
    return Status::Ok();
  }
  leveldb::WriteBatch wb;
  wb.Put(ToSlice(DictionaryKey(id)), ToSlice(record));
  {
    std::lock_guard lock(write_mu_);
    PDAI_RETURN_IF_ERROR(ApplyLocked(&wb, /*sync=*/true, "importing dictionary " + std::to_string(id)));
  }
  PDAI_RETURN_IF_ERROR(codec_.AddDictionary(id, dict));
  {
    std::lock_guard lock(dictionaries_mu_);
    dictionaries_.push_back(info);
    std::sort(dictionaries_.begin(), dictionaries_.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    next_dictionary_id_ = std::max(next_dictionary_id_, id + 1);
  }
  auto& current = current_dictionary_[KindIndex(info.kind)];
  if (current.load() < id) current.store(id, std::memory_order_release);
  return Status::Ok();
}

std::vector<DictionaryInfo> PersistentStore::Dictionaries() const {
  std::lock_guard lock(dictionaries_mu_);
  return dictionaries_;
}

// --- compaction and checkpoints ---

Status PersistentStore::Compact() {
  {
    std::lock_guard lock(write_mu_);
    if (write_failed_ || !db_) PDAI_RETURN_IF_ERROR(ReopenLocked());
  }
  {
    std::shared_lock lock(db_mu_);
    if (!db_) return ClosedStatus(options_.path, close_reason_);
    db_->CompactRange(nullptr, nullptr);
  }
  // CompactRange reports nothing; a failed compaction latches LevelDB's
  // background error, which the next write returns. Ask with an empty write.
  leveldb::WriteBatch probe;
  std::lock_guard lock(write_mu_);
  return ApplyLocked(&probe, /*sync=*/false, "compacting");
}

Status PersistentStore::Checkpoint(std::uint64_t lsn) {
  std::lock_guard lock(write_mu_);
  return CheckpointLocked(lsn);
}

namespace {
bool IsTableFile(std::string_view name) { return name.ends_with(".ldb") || name.ends_with(".sst"); }
}  // namespace

Result<std::uint64_t> PersistentStore::CheckpointInto(const std::string& dir) {
  FileSystem* fs = options_.file_system;
  std::lock_guard lock(write_mu_);
  const std::uint64_t lsn = std::max(LastAppliedLsn(), CheckpointLsn());
  PDAI_RETURN_IF_ERROR(CheckpointLocked(lsn));
  PDAI_RETURN_IF_ERROR(fs->CreateDirs(dir));
  if (fs->FileExists(JoinPath(dir, "CURRENT"))) {
    return Status::InvalidArgument("copying the store into " + dir + ": a store is there already");
  }
  std::unordered_set<std::string> taken;  // tables already in dir (a big store has tens of thousands)
  bool copy_tables = false;  // links fail across file systems: copy from then on
  auto take_tables = [&]() -> Status {
    auto names = fs->GetChildren(options_.path);
    if (!names.ok()) return names.status();
    for (const auto& name : *names) {
      if (!IsTableFile(name) || taken.count(name) > 0) continue;
      const std::string from = JoinPath(options_.path, name);
      const std::string to = JoinPath(dir, name);
      Status s = copy_tables ? CopyFile(fs, from, to) : fs->LinkFile(from, to);
      if (!s.ok() && !copy_tables && fs->FileExists(from)) {
        copy_tables = true;
        s = CopyFile(fs, from, to);
      }
      // A table a compaction removed meanwhile is not in the MANIFEST copied
      // after it (LevelDB removes a table only once a MANIFEST edit dropped it).
      if (s.IsNotFound() || !fs->FileExists(from)) {
        (void)fs->RemoveFile(to);
        continue;
      }
      PDAI_RETURN_IF_ERROR(s);
      taken.insert(name);
    }
    return Status::Ok();
  };
  PDAI_RETURN_IF_ERROR(take_tables());
  // CURRENT names the MANIFEST; no write of ours can happen (write_mu_), and
  // a compaction only appends to the MANIFEST: a prefix of it is a sound one.
  auto current = ReadFileToString(fs, JoinPath(options_.path, "CURRENT"));
  if (!current.ok()) return current.status().WithContext("copying the store");
  std::string manifest = *current;
  while (!manifest.empty() && (manifest.back() == '\n' || manifest.back() == '\r')) manifest.pop_back();
  PDAI_RETURN_IF_ERROR(CopyFile(fs, JoinPath(options_.path, manifest), JoinPath(dir, manifest)));
  auto names = fs->GetChildren(options_.path);
  if (!names.ok()) return names.status();
  for (const auto& name : *names) {
    if (!name.ends_with(".log")) continue;
    PDAI_RETURN_IF_ERROR(CopyFile(fs, JoinPath(options_.path, name), JoinPath(dir, name)));
  }
  PDAI_RETURN_IF_ERROR(take_tables());  // written by a compaction while the MANIFEST was copied
  PDAI_RETURN_IF_ERROR(WriteFileAtomically(fs, JoinPath(dir, "CURRENT"), *current));
  PDAI_RETURN_IF_ERROR(fs->SyncDir(dir));
  return lsn;
}

Status PersistentStore::CheckpointLocked(std::uint64_t lsn) {
  std::uint64_t current = CheckpointLsn();
  if (lsn < current) {
    return Status::InvalidArgument("checkpoint LSN " + std::to_string(lsn) + " is below the recorded checkpoint " +
                                   std::to_string(current));
  }
  if (write_failed_ || !db_) PDAI_RETURN_IF_ERROR(ReopenLocked());
  {
    std::shared_lock db_lock(db_mu_);
    // CompactRange over a range that holds no key still begins with a
    // memtable flush (DBImpl::CompactRange -> TEST_CompactMemTable, LevelDB
    // 1.23) and waits for it: the memtable becomes a synced level-0 table
    // recorded in a synced MANIFEST, and no log file holds anything written
    // before this point any more. It then finds no table overlapping the
    // range, so nothing else is compacted. A failed flush latches LevelDB's
    // background error, which the synced write below returns.
    std::string past = KeyPastEverything();
    leveldb::Slice end(past);
    db_->CompactRange(&end, &end);
  }
  leveldb::WriteBatch wb;
  wb.Put(ToSlice(CheckpointLsnKey()), ToSlice(EncodeCheckpointRecord(lsn)));
  PDAI_RETURN_IF_ERROR(ApplyLocked(&wb, /*sync=*/true, "recording checkpoint LSN " + std::to_string(lsn)));
  checkpoint_lsn_.store(lsn, std::memory_order_release);
  NoteApplied(lsn);
  return Status::Ok();
}

}  // namespace postdevai::storage
