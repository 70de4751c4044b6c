#include "actors/engine.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <chrono>
#include <thread>

#include "actors/code_id_migration.h"
#include "actors/errors.h"
#include "actors/hot_reads.h"
#include "actors/spawn.h"
#include "actors/vector_catalog.h"
#include "config/machine_probe.h"
#include "simd/lexical_index.h"
#include "postdevai/log.h"
#include "storage/backup.h"
#include "storage/persistent_store.h"
#include "storage/ramlake/ram_lake.h"
#include "storage/wal.h"

namespace postdevai::actors {

namespace {

storage::ramlake::RamLakeOptions RamLakeOptionsFromConfig(const HybridMemoryConfig& config, std::uint64_t persisted) {
  storage::ramlake::RamLakeOptions o;
  o.path = config.ramlake_path;
  o.total_bytes = config.RamLakeBytes();
  o.max_ram_entries = config.max_ram_entries;
  for (DataKind kind : kAllDataKinds) {
    const auto i = DataKindIndex(kind);
    o.share_percent[i] = config.partition(kind).share_percent;
    o.eviction[i] = config.partition(kind).eviction;
  }
  o.persisted_lsn = persisted;
  return o;
}

// What a partition's open needs besides its kind.
struct PartitionSetting {
  storage::FileSystem* fs = nullptr;
  std::shared_ptr<storage::PersistentStore> store;
  storage::ramlake::RamLakeOptions ram_options;
  VectorsConfig vectors;
  bool lexical_index = true;
  std::uint64_t store_identity = 0;
  std::chrono::seconds snapshot_interval{0};
};

// The vectors partition's index, into `opened`. It holds a quantized copy of
// every stored vector, hot or cold: loaded from its snapshot beside the
// partition files and reconciled with the store (the source of truth), or
// rebuilt from the store when there is no usable snapshot. Blocking (file
// and LevelDB reads).
Status OpenVectorIndex(const PartitionSetting& setting, const storage::ramlake::WatermarkProof* proof,
                       opened_partition* opened) {
  storage::FileSystem* fs = setting.fs;
  const storage::PersistentStore& store = *setting.store;
  const std::uint64_t store_identity = setting.store_identity;
  auto catalog = VectorCatalog::Create(setting.vectors);
  if (!catalog.ok()) return catalog.status().WithContext("creating the vector index");
  if (setting.ram_options.path.empty()) {
    PDAI_RETURN_IF_ERROR((*catalog)->Rebuild(store).WithContext("rebuilding the vector index"));
  } else {
    const std::string snapshot = setting.ram_options.path + "/" + std::string(kVectorIndexSnapshotName);
    // Nothing writes to the store while partitions open: the index
    // reflects it through its last LSN.
    opened->vectors_through_lsn = store.LastAppliedLsn();
    auto restored = (*catalog)->Restore(fs, snapshot, store, store_identity, proof);
    if (!restored.ok()) return restored.status().WithContext("opening the vector index");
    // Written by the partition actor once what Restore applied is linked
    // into the graph: not here, before the node serves (a gigabyte at 1M
    // vectors), so that the next open starts from it.
    opened->vectors_snapshot_due = restored->rebuilt || restored->reapplied > 0 || restored->removed > 0;
    opened->encode_vectors_snapshot = [store_identity, catalog = catalog->get()](std::uint64_t through_lsn) {
      return catalog->EncodeSnapshot(store_identity, through_lsn);
    };
    opened->write_vectors_snapshot = [fs, snapshot](const std::string& bytes) {
      return VectorCatalog::WriteSnapshot(fs, snapshot, bytes);
    };
    opened->vectors_snapshot_interval = setting.snapshot_interval;
  }
  opened->vectors = std::move(*catalog);
  return Status::Ok();
}

// The text index of a code or history partition, into `opened`: every
// stored code file or session message, hot or cold, built from the store (the
// source of truth) at every open: nothing to reconcile after a crash. A record
// that does not decode is left out, with a log line. (Keys come in order: a
// session's segments in turn, as the index needs them.) Blocking (LevelDB).
void BuildTextIndex(const storage::PersistentStore& store, DataKind kind, opened_partition* opened) {
  auto lexical = std::make_unique<LexicalIndex>();
  const auto started = std::chrono::steady_clock::now();
  std::uint64_t undecodable = 0;
  std::string first_problem;
  Status scanned = store.ForEach(kind, [&](const storage::StoredRecord& r) {
    Status indexed = lexical->Apply(kind, r.key, r.value);
    if (!indexed.ok() && undecodable++ == 0) first_problem = indexed.ToString();
    return true;
  });
  const std::string what(DataKindName(kind));
  if (!scanned.ok()) LogWarning(what, "some records are not searchable by text: " + scanned.ToString());
  if (undecodable > 0) {
    LogWarning(what, std::to_string(undecodable) + " stored records are not searchable by text; the first: " +
                         first_problem);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (lexical->files() > 0) {
    LogInfo(what, "text index of " + std::to_string(lexical->files()) +
                      (kind == DataKind::kCode ? " files (" : " messages (") + std::to_string(lexical->chunks()) +
                      " chunks, " + std::to_string(lexical->terms()) + " terms) built in " + std::to_string(seconds) +
                      " s");
  }
  opened->lexical = std::move(lexical);
}

// The indexes of one partition, into `opened`: the vector index, or a text
// index, or none. Blocking (file and LevelDB reads); may run beside the
// partition files' opens (it reads the store, which is thread-safe, and the
// vector index snapshot, not the partition files).
Status OpenIndexes(const PartitionSetting& setting, DataKind kind, const storage::ramlake::WatermarkProof* proof,
                   opened_partition* opened) {
  if (kind == DataKind::kVectors) {
    return OpenVectorIndex(setting, proof, opened);
  }
  if ((kind == DataKind::kCode || kind == DataKind::kHistory) && setting.lexical_index) {
    BuildTextIndex(*setting.store, kind, opened);
  }
  return Status::Ok();
}

// Opens (re-attaches) one partition file into `opened`: a record is kept only
// if it is what the store holds for its key, proven by the file's watermark
// and the keys the WAL replay changed (`proof`, at start-up) or else by one
// store lookup per record. Blocking (LevelDB reads).
Status OpenPartitionFile(const PartitionSetting& setting, DataKind kind, const storage::ramlake::WatermarkProof* proof,
                         storage::ramlake::OpenReport* report, opened_partition* opened) {
  storage::ramlake::OpenHooks hooks;
  hooks.store_lsn = [store = setting.store, kind](std::string_view key) -> std::optional<std::uint64_t> {
    auto lsn = store->GetLsn(kind, key);
    if (!lsn.ok()) return std::nullopt;
    return *lsn;
  };
  hooks.watermark = proof;
  hooks.store_identity = setting.store_identity;
  auto options = storage::ramlake::PartitionOptionsFor(setting.ram_options, kind);
  options.persisted_lsn = setting.store->LastAppliedLsn();
  auto partition = storage::ramlake::RamLakePartition::Open(setting.fs, options, hooks, report);
  if (!partition.ok()) {
    return partition.status().WithContext("opening the RAM-Lake partition " + std::string(DataKindName(kind)));
  }
  opened->lake = std::move(*partition);
  return Status::Ok();
}

// Opens partitions: their files one after another, in kind order (each
// file's size was planned against the others': files growing at once on a
// nearly full RAM disk would take each other's room), while every index is
// built on a thread of its own, so that a start waits for the slowest index
// (the vector index's load, a text index's build), not for the sum of all.
// The first error in kind order, files before indexes; `reports` and
// `proofs` by kind index (proofs may be null: key by key).
Result<std::vector<partition_ptr>> OpenPartitions(const PartitionSetting& setting, std::span<const DataKind> kinds,
                                                   const std::array<const storage::ramlake::WatermarkProof*, kKinds>& proofs,
                                                   std::array<storage::ramlake::OpenReport, kKinds>* reports) {
  std::vector<partition_ptr> opened(kinds.size());
  for (auto& partition : opened) partition = std::make_shared<opened_partition>();  // before the threads read them
  std::vector<Status> indexed(kinds.size());
  std::vector<std::thread> indexers;
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    indexers.emplace_back([&, i] {
      indexed[i] = OpenIndexes(setting, kinds[i], proofs[DataKindIndex(kinds[i])], opened[i].get());
    });
  }
  Status files;
  for (std::size_t i = 0; i < kinds.size() && files.ok(); ++i) {
    const auto k = DataKindIndex(kinds[i]);
    files = OpenPartitionFile(setting, kinds[i], proofs[k], reports != nullptr ? &(*reports)[k] : nullptr,
                              opened[i].get());
  }
  for (auto& indexer : indexers) indexer.join();
  PDAI_RETURN_IF_ERROR(files);
  for (const Status& s : indexed) PDAI_RETURN_IF_ERROR(s);
  return opened;
}

// Set on a former primary that a promoted replica replaced (Engine::Fence):
// why it refuses writes. Cleared when it is promoted again.
constexpr std::string_view kFencedProperty = "fenced_by";
// Set on a primary once a replica followed it ("1"): from then on it holds
// writes back for a moment at each start (rpc/replication.h).
constexpr std::string_view kFollowedProperty = "followed";
// Set on a promoted replica: the primary it left (Engine::Promote).
constexpr std::string_view kPromotedFromProperty = "promoted_from";

// The smallest RAM-Lake the partitions can be cut from (each partition needs
// a few segments), used as the pass-through when the RAM disk is full.
constexpr std::uint64_t kSmallestRamLakeBytes = std::uint64_t{1} << 20;

// What a RAM-Lake at `path` may take: what its file system has free plus what
// its own files already hold, less a tenth for others, in whole MiB.
std::uint64_t RamLakeRoom(const std::string& path) {
  auto facts = config::ProbePath(path);
  if (!facts.ok()) return 0;
  const std::uint64_t room = (facts->available_bytes + config::AllocatedBytesUnder(path)) / 10 * 9;
  return room >> 20 << 20;
}

}  // namespace

Result<std::vector<std::string>> InstallHotTierFromBackup(storage::FileSystem* fs, const HybridMemoryConfig& config,
                                                          const storage::BackupManifest& backup,
                                                          const storage::StoreIdentity& restored) {
  std::vector<std::string> installed;
  auto snapshot = storage::BackupHotTierFile(backup, kVectorIndexSnapshotName);
  if (!snapshot) return installed;
  PDAI_RETURN_IF_ERROR(storage::ramlake::CreatePrivateDirectory(fs, config.ramlake_path));
  const std::string to = config.ramlake_path + "/" + std::string(kVectorIndexSnapshotName);
  PDAI_RETURN_IF_ERROR(VectorCatalog::AdoptSnapshot(fs, *snapshot, backup.store.Fingerprint(), backup.lsn, to,
                                                    restored.Fingerprint()));
  installed.push_back(to);
  return installed;
}

storage::DurableStoreOptions DurableStoreOptionsFromConfig(const HybridMemoryConfig& config) {
  storage::DurableStoreOptions o;
  o.wal_dir = config.WalPath();
  o.wal_segment_size = config.WalSegmentBytes();
  o.wal_archive = config.wal.archive;
  o.wal_archive_dir = config.WalArchivePath();
  o.store.path = config.persistent_path + "/store";
  o.store.cache_size_mb = config.cache_size_mb;
  o.store.compression = config.compression == Compression::kZstd;
  for (DataKind kind : kAllDataKinds) {
    o.store.kinds[DataKindIndex(kind)].level = config.partition(kind).zstd_level;
  }
  return o;
}

void ConfigureActorSystem(caf::actor_system_config& cfg) {
  const auto cores = std::max(1u, std::thread::hardware_concurrency());
  cfg.set("scheduler.max-threads", static_cast<std::size_t>(cores));
  // One shared queue whose idle workers block on a condition variable and
  // are woken by new work. CAF 0.17's default (work stealing) makes idle
  // workers poll with sleeps: a 5 us sleep lasts 80-90 us on these machines
  // (timer slack), so the first message after a pause waited for it, and an
  // idle node burned ~10% of a core. Measured with postdevai-bench remote in
  // one run each: 1-client gRPC reads 2,456 -> 3,515/s (p50 357 -> 269 us),
  // 50 clients 10.3K -> 12.2K/s, in-process text search p50 797 -> 291 us.
  cfg.set("scheduler.policy", caf::atom("sharing"));
  AddMessageTypes(cfg);
}

Result<std::unique_ptr<Engine>> Engine::Start(caf::actor_system& sys, const HybridMemoryConfig& config,
                                              EngineReport* report, storage::FileSystem* fs) {
  EngineReport local;
  if (report == nullptr) report = &local;
  std::unique_ptr<Engine> engine(new Engine(sys));

  // The cold tier: LevelDB, then the WAL replayed after its checkpoint.
  auto options = DurableStoreOptionsFromConfig(config);
  options.store.file_system = fs;
  report->store_path = options.store.path;
  report->wal_path = options.wal_dir;
  report->ramlake_path = config.ramlake_path;
  auto opened = storage::PersistentStore::Open(options.store);
  if (!opened.ok()) return opened.status().WithContext("opening the persistent store");
  std::shared_ptr<storage::PersistentStore> store(std::move(*opened));
  storage::WalOptions wal_options;
  wal_options.dir = options.wal_dir;
  wal_options.fs = fs;
  wal_options.segment_size = options.wal_segment_size;
  wal_options.archive = options.wal_archive;
  wal_options.archive_dir = options.wal_archive_dir;
  // The WAL names its store: another store's segments are refused.
  wal_options.store_id = store->identity().id;
  wal_options.epoch = store->identity().epoch;
  // A replica follows its primary, unless it was promoted away from it (it
  // runs as a primary then, whatever its config says: rpc/replication.h).
  auto promoted_from = store->GetProperty(kPromotedFromProperty);
  const bool replica = config.replication.role == ReplicationRole::kReplica &&
                       !(promoted_from.ok() && *promoted_from == config.replication.primary);
  // What replicas are streamed from memory: only a node with a role keeps
  // anything (a replica too, for its promotion).
  auto replication_log = std::make_shared<storage::ReplicationLog>(
      config.replication.role == ReplicationRole::kNone ? 0 : std::uint64_t{config.replication.buffer_mb} << 20);
  wal_options.on_durable = [log = replication_log](const std::vector<storage::WalRecord>& records) {
    log->OnDurable(records);
  };
  // The keys the replay changes, by kind: what the RAM-Lake files may not
  // know of (see OpenPartition).
  std::array<storage::ramlake::ChangedKeys, kKinds> changed;
  store->set_auto_training(false);  // a dictionary trained now could not be logged
  auto wal = storage::RecoverColdTier(*store, wal_options, &report->cold,
                                      [&changed](std::uint64_t lsn, const storage::Mutation& m) {
                                        changed[DataKindIndex(m.kind)].Note(m.key, lsn, m.is_delete);
                                      });
  if (!wal.ok()) return wal.status();
  std::shared_ptr<storage::Wal> journal_wal(std::move(*wal));
  replication_log->StartAfter(journal_wal->durable_lsn());
  // A new compression dictionary goes into the WAL before any value uses
  // it, so a restore onto an older backup finds it (storage/backup.h).
  store->SetDictionaryLog([wal = std::weak_ptr<storage::Wal>(journal_wal)](std::string_view payload) -> Status {
    auto log = wal.lock();
    if (!log) return Status::Closed("the WAL is closed");
    auto lsn = log->Append(storage::kWalRecordDictionary, payload);
    return lsn.ok() ? Status::Ok() : lsn.status();
  });
  // Off during the replay (see there), and on a replica for good: its
  // dictionaries are its primary's, logged by the primary.
  store->set_auto_training(!replica);
  auto moved = MoveLegacyCodeIds(*store, [&changed](DataKind kind, std::string_view key, std::uint64_t lsn, bool erased) {
    changed[DataKindIndex(kind)].Note(key, lsn, erased);
  });
  if (!moved.ok()) return moved.status().WithContext("moving code records to their SHA-256 ids");

  // The hot tier: each partition file re-attached against the store.
  auto ram_options = RamLakeOptionsFromConfig(config, store->LastAppliedLsn());
  PDAI_RETURN_IF_ERROR(storage::ramlake::CreatePrivateDirectory(fs, config.ramlake_path));
  auto is_ram_disk = storage::ramlake::IsRamDisk(config.ramlake_path);
  if (is_ram_disk.ok() && !*is_ram_disk) {
    report->ramlake_warning = "ramlake_path " + config.ramlake_path +
                              " is not on a RAM disk: it works, but every page is written back to disk";
  }
  PartitionSetting setting;
  setting.fs = fs;
  setting.store = store;
  setting.vectors = config.vectors;
  setting.lexical_index = config.search.lexical_index;
  // Written with each RAM-Lake file's watermark and the vector index
  // snapshot: files of another store, or of this one before a restore (a new
  // epoch), are rebuilt.
  setting.store_identity = store->identity().Fingerprint();
  // The vector index is snapshotted as often as the store is checkpointed.
  setting.snapshot_interval = std::chrono::minutes(std::max(1u, config.sync_interval_minutes));
  // All files first, then the actors: a file that cannot be opened (a full
  // RAM disk, another process holding it) leaves no actor behind. Nothing
  // writes to the store meanwhile, as the watermark proof requires.
  std::array<partition_ptr, kKinds> opened_partitions;
  auto open_partitions = [&]() -> Status {
    opened_partitions = {};  // a failed attempt's files are unmapped and closed
    setting.ram_options = ram_options;
    std::array<storage::ramlake::WatermarkProof, kKinds> proofs;
    std::array<const storage::ramlake::WatermarkProof*, kKinds> proof_of_kind{};
    for (DataKind kind : kAllDataKinds) {
      const auto k = DataKindIndex(kind);
      proofs[k].checkpoint_lsn = report->cold.checkpoint_lsn;
      proofs[k].end_lsn = std::max(report->cold.checkpoint_lsn, report->cold.wal.last_lsn);
      proofs[k].changed = &changed[k];
      proof_of_kind[k] = &proofs[k];
      report->partitions[k] = {};
    }
    auto opened = OpenPartitions(setting, kAllDataKinds, proof_of_kind, &report->partitions);
    if (!opened.ok()) return opened.status();
    for (std::size_t i = 0; i < kKinds; ++i) opened_partitions[DataKindIndex(kAllDataKinds[i])] = (*opened)[i];
    return Status::Ok();
  };
  Status ram_lake = open_partitions();
  if (ram_lake.IsNoSpace()) {
    // The RAM-Lake is a cache: a RAM disk too full for it must not keep the
    // node down. First as large as the RAM disk allows, then, when not even
    // that fits, a minimal one on the data disk that passes reads and writes
    // through to the store. A warning says so; a restart with room restores
    // the configured size.
    const std::uint64_t wanted = ram_options.total_bytes;
    const std::uint64_t room = RamLakeRoom(config.ramlake_path);
    if (room >= kSmallestRamLakeBytes && room < wanted) {
      ram_options.total_bytes = room;
      ram_lake = open_partitions();
    }
    if (ram_lake.ok()) {
      report->ramlake_warning = "the RAM disk holding " + config.ramlake_path + " has room for " +
                                std::to_string(room >> 20) + " MiB only: the RAM-Lake runs at that size instead of " +
                                std::to_string(wanted >> 20) + " MiB until the node restarts with room";
    } else if (ram_lake.IsNoSpace()) {
      ram_options.path = config.persistent_path + "/ramlake-passthrough";
      ram_options.total_bytes = kSmallestRamLakeBytes;
      PDAI_RETURN_IF_ERROR(storage::ramlake::CreatePrivateDirectory(fs, ram_options.path));
      ram_lake = open_partitions();
      report->ramlake_warning = "the RAM disk holding " + config.ramlake_path +
                                " is full: running without a RAM-Lake (every read and write goes to the store, "
                                "through a " + std::to_string(kSmallestRamLakeBytes >> 10) + " KiB pass-through in " +
                                ram_options.path + ") until the node restarts with room";
    }
    if (ram_lake.ok()) {
      LogWarning("engine", report->ramlake_warning);
      report->ramlake_path = ram_options.path;
    }
  }
  if (!ram_lake.ok()) return ram_lake;
  for (auto& keys : changed) keys.Clear();
  // A partition restarted while the node runs has no fresh replay to prove
  // a watermark against: key by key.
  setting.ram_options = ram_options;
  PartitionOpener opener = [setting](DataKind kind) -> Result<partition_ptr> {
    const DataKind kinds[] = {kind};
    auto opened = OpenPartitions(setting, kinds, {}, nullptr);
    if (!opened.ok()) return opened.status();
    return opened->front();
  };
  // The actors.
  ControllerParts parts;
  parts.hot_reads = std::make_shared<HotReads>(config.tiering.prefetch);
  parts.store = SpawnStore(sys, store);
  for (DataKind kind : kAllDataKinds) {
    if (config.partition(kind).durability == Durability::kRelaxed) {
      parts.relaxed_kinds |= static_cast<std::uint8_t>(1u << DataKindIndex(kind));
    }
  }
  JournalOptions journal_options;
  journal_options.max_batch = config.wal.group_commit_max_batch;
  journal_options.relaxed_sync_window = std::chrono::milliseconds(config.wal.relaxed_sync_ms);
  journal_options.relaxed_kinds = parts.relaxed_kinds;
  journal_options.clock = fs;
  parts.journal = SpawnJournal(sys, journal_wal, journal_options, parts.store);
  parts.encoding_store = store;
  for (unsigned i = 0; i < std::max(1u, std::thread::hardware_concurrency()); ++i) {
    parts.encoders.push_back(SpawnEncoder(sys, store));
  }
  std::array<partition_actor, kKinds> partitions;
  for (std::size_t k = 0; k < kKinds; ++k) {
    partitions[k] = SpawnPartition(sys, static_cast<DataKind>(k), std::move(opened_partitions[k]), 0, parts.store,
                                   parts.hot_reads);
  }
  parts.partitions = partitions;
  SupervisorOptions supervisor_options;
  supervisor_options.pass_interval = std::chrono::seconds(std::max(1u, config.tiering.pass_interval_seconds));
  supervisor_options.hot_retention = std::chrono::hours(config.hot_retention_hours);
  parts.supervisor = SpawnSupervisor(sys, supervisor_options, partitions, opener, parts.store, parts.hot_reads);
  parts.prefetcher = SpawnPrefetcher(sys, config.tiering.prefetch, parts.hot_reads);
  engine->hot_reads_ = parts.hot_reads;
  BackupOptions backup_options;
  backup_options.root = config.BackupPath();
  backup_options.staging = options.store.path + ".backup-staging";  // the store's file system: links, not copies
  backup_options.interval = std::chrono::hours(config.backup.interval_hours);
  backup_options.keep = config.backup.keep;
  backup_options.prune_interval = std::chrono::minutes(std::max(1u, config.sync_interval_minutes));
  backup_options.fs = fs;
  backup_options.wal = journal_wal;
  // The vector index snapshot goes with every backup: a restore loads it
  // instead of rebuilding the index (storage/backup.h).
  if (!ram_options.path.empty()) {
    backup_options.hot_tier_files.push_back(ram_options.path + "/" + std::string(kVectorIndexSnapshotName));
  }
  parts.backup = SpawnBackup(sys, backup_options, store);
  parts.sync_timer = SpawnSyncTimer(sys, std::chrono::minutes(std::max(1u, config.sync_interval_minutes)),
                                    parts.store, parts.journal, parts.backup, parts.relaxed_kinds != 0);
  parts.max_value_bytes = options.store.max_value_bytes;
  parts.prefetch_enabled = config.tiering.prefetch;
  parts.promote_after_hits = std::max(1u, config.tiering.promote_after_hits);
  parts.vector_model = config.vectors.model;
  parts.vector_dimension = config.vectors.dimension;
  engine->supervisor_ = parts.supervisor;
  engine->actors_ = {caf::actor_cast<caf::actor>(parts.sync_timer), caf::actor_cast<caf::actor>(parts.prefetcher),
                     caf::actor_cast<caf::actor>(parts.supervisor), caf::actor_cast<caf::actor>(parts.journal),
                     caf::actor_cast<caf::actor>(parts.store), caf::actor_cast<caf::actor>(parts.backup)};
  for (const auto& encoder : parts.encoders) engine->actors_.push_back(caf::actor_cast<caf::actor>(encoder));
  engine->controller_ = SpawnController(sys, parts);
  ConnectController(parts, engine->controller_);
  engine->store_ = store;
  engine->wal_ = journal_wal;
  engine->replication_log_ = replication_log;
  engine->fs_ = fs;
  engine->wal_dir_ = wal_options.dir;
  engine->wal_archive_dir_ = wal_options.archive_dir;
  if (auto fenced = store->GetProperty(kFencedProperty); fenced.ok() && !fenced->empty()) {
    engine->fenced_ = *fenced;
  }
  if (replica) {
    engine->RefuseWrites("this node is a replica of " + config.replication.primary +
                         ": send writes to the primary (or promote this node: postdevai-cli replication promote)");
  } else if (!engine->fenced_.empty()) {
    engine->RefuseWrites(engine->fenced_);
  }
  engine->endpoint_ = SpawnEndpoint(sys, engine->controller_);
  return engine;
}

Engine::~Engine() { (void)Stop(); }

storage::WalFileReader Engine::WalFiles() const {
  // The epoch the WAL names archived segments with in this run (a
  // promotion's new epoch names segments from the next start on).
  return storage::WalFileReader(fs_, wal_dir_, wal_archive_dir_, wal_->epoch());
}

storage::StoreIdentity Engine::identity() const { return store_->identity(); }

std::uint64_t Engine::durable_lsn() const { return wal_->durable_lsn(); }

void Engine::RefuseWrites(std::string reason) {
  caf::anon_send(controller_, role_atom_v, std::move(reason));
}

Result<std::uint64_t> Engine::ApplyReplicated(std::vector<storage::ReplicatedRecord> records) {
  if (records.empty()) return Status::InvalidArgument("replicate: no records");
  std::vector<logged_payload> logged;
  std::vector<logged_write> writes;
  logged.reserve(records.size());
  std::vector<storage::Mutation> decoded;
  for (auto& r : records) {
    const std::string at = "replicated record LSN " + std::to_string(r.lsn);
    if (r.type == storage::kWalRecordDictionary) {
      // Before the values after it, which may need it.
      PDAI_RETURN_IF_ERROR(store_->ImportDictionary(r.payload).WithContext(at));
    } else if (r.type == storage::kWalRecordMutations) {
      decoded.clear();
      PDAI_RETURN_IF_ERROR(storage::DecodeMutations(r.payload, &decoded).WithContext(at));
      logged_write w{r.lsn, {}};
      w.mutations.reserve(decoded.size());
      for (const auto& m : decoded) {
        if (DataKindIndex(m.kind) >= kKinds) return Status::Corruption(at + ": unknown kind");
        mutation out{m.kind, std::string(m.key), {}, m.is_delete};
        if (!m.is_delete) {
          if (m.encoded) {
            auto raw = store_->DecodeEncoded(m.value);
            if (!raw.ok()) return raw.status().WithContext(at);
            out.value = std::move(*raw);
          } else {
            out.value = std::string(m.value);
          }
        }
        w.mutations.push_back(std::move(out));
      }
      writes.push_back(std::move(w));
    } else {
      return Status::Corruption(at + ": unknown record type " + std::to_string(r.type));
    }
    logged.push_back(logged_payload{r.lsn, std::move(r.payload), true, r.type});
  }
  caf::scoped_actor self{sys_};
  Result<std::uint64_t> result = Status::Unavailable("replicate: no answer from the engine");
  self->request(controller_, std::chrono::minutes(5), replicate_atom_v, std::move(logged), std::move(writes))
      .receive([&](std::uint64_t last) { result = last; }, [&](caf::error& err) { result = FromError(err); });
  return result;
}

Result<storage::StoreIdentity> Engine::Promote(const std::string& former_primary) {
  // Everything received is logged (ApplyReplicated returns once it is):
  // the new epoch starts after it. The epoch first: a crash before the
  // former primary is recorded leaves a replica of a later epoch than its
  // primary, which refuses it (promote it again), never a second primary of
  // the old epoch.
  auto identity = store_->StartNewEpoch(wal_->durable_lsn() + 1);
  if (!identity.ok()) return identity.status();
  PDAI_RETURN_IF_ERROR(store_->SetProperty(kPromotedFromProperty, former_primary));
  PDAI_RETURN_IF_ERROR(store_->SetProperty(kFencedProperty, ""));
  {
    std::lock_guard lock(fence_mu_);
    fenced_.clear();
  }
  store_->set_auto_training(true);
  RefuseWrites("");
  return identity;
}

Status Engine::AdoptEpoch(const storage::StoreIdentity& primary) {
  const storage::StoreIdentity mine = store_->identity();
  if (primary.id != mine.id) {
    // A new replica, empty, becomes a copy of its primary's store.
    if (store_->LastAppliedLsn() > 0 || wal_->durable_lsn() > 0) {
      return Status::InvalidArgument("the primary's store is " + primary.ToString() + ", this node's " +
                                     mine.ToString() + ", which holds writes");
    }
    PDAI_RETURN_IF_ERROR(wal_->AdoptStore(primary.id, primary.epoch));
    LogInfo("replication", "this new replica takes its primary's store id: " + primary.ToString());
  }
  if (primary.id == mine.id && primary.epoch == mine.epoch && primary.epoch_start_lsn == mine.epoch_start_lsn) {
    return Status::Ok();
  }
  PDAI_RETURN_IF_ERROR(store_->AdoptIdentity(primary));
  // Following the new primary: whatever fenced or promoted this node is history.
  PDAI_RETURN_IF_ERROR(store_->SetProperty(kFencedProperty, ""));
  PDAI_RETURN_IF_ERROR(store_->SetProperty(kPromotedFromProperty, ""));
  std::lock_guard lock(fence_mu_);
  fenced_.clear();
  return Status::Ok();
}

Status Engine::Fence(const storage::StoreIdentity& successor, const std::string& by) {
  const storage::StoreIdentity mine = store_->identity();
  if (successor.id != mine.id || successor.epoch <= mine.epoch) {
    return Status::InvalidArgument("refusing to be fenced by " + successor.ToString() + ": this node's store is " +
                                   mine.ToString());
  }
  const std::string reason = "this node was replaced by its promoted replica " + by + " (store " +
                             successor.ToString() + ", from LSN " + std::to_string(successor.epoch_start_lsn) +
                             "): it takes no writes; make it a replica of the new primary";
  PDAI_RETURN_IF_ERROR(store_->SetProperty(kFencedProperty, reason));
  std::lock_guard lock(fence_mu_);
  fenced_ = reason;
  RefuseWrites(reason);
  return Status::Ok();
}

Result<std::string> Engine::Backup() {
  caf::scoped_actor self{sys_};
  Result<std::string> result = Status::Unavailable("backup: no answer from the engine");
  self->request(controller_, std::chrono::minutes(60), backup_atom_v)
      .receive([&](records::backup_report& made) { result = made.path; },
               [&](caf::error& err) { result = FromError(err); });
  return result;
}

std::string Engine::promoted_from() const {
  auto from = store_->GetProperty(kPromotedFromProperty);
  return from.ok() ? *from : std::string();
}

std::string Engine::fenced() const {
  std::lock_guard lock(fence_mu_);
  return fenced_;
}

bool Engine::followed() const {
  auto followed = store_->GetProperty(kFollowedProperty);
  return followed.ok() && *followed == "1";
}

Status Engine::NoteFollowed() { return store_->SetProperty(kFollowedProperty, "1"); }

// Under fence_mu_, as Fence sends its refusal: the controller gets the two
// in the order they were decided, so a hold released never undoes a fence.
void Engine::HoldWrites(std::string reason) {
  std::lock_guard lock(fence_mu_);
  if (fenced_.empty()) RefuseWrites(std::move(reason));
}

void Engine::ReleaseWrites() {
  std::lock_guard lock(fence_mu_);
  if (fenced_.empty()) RefuseWrites("");
}

void Engine::OnUnexpectedStop(std::function<void(const std::string& why)> died) {
  auto once = std::make_shared<std::atomic<bool>>(false);
  auto watch = [&](const caf::actor& actor, const char* role) {
    actor->attach_functor([stopping = stopping_, once, died, role = std::string(role)](const caf::error& reason) {
      if (stopping->load() || once->exchange(true)) return;
      died("the engine's " + role + " stopped (" + caf::to_string(reason) + ")");
    });
  };
  watch(caf::actor_cast<caf::actor>(controller_), "controller");
  watch(caf::actor_cast<caf::actor>(endpoint_.actor), "network endpoint");
}

Status Engine::Stop() {
  if (stopped_) return Status::Ok();
  stopped_ = true;
  if (!controller_) return Status::Ok();  // Start failed before the actors ran
  stopping_->store(true);
  StopEndpoint(sys_, endpoint_);  // peers first: no request arrives after the checkpoint
  caf::scoped_actor self{sys_};
  Status result;
  self->request(controller_, std::chrono::minutes(5), sync_atom_v)
      .receive([](std::uint64_t) {}, [&](caf::error& err) { result = FromError(err).WithContext("final checkpoint"); });
  std::vector<caf::actor> all;
  self->request(supervisor_, std::chrono::minutes(1), route_atom_v)
      .receive([&](std::vector<caf::actor>& partitions) { all = std::move(partitions); }, [](caf::error&) {});
  // The supervisor would not restart them anyway: it ignores user_shutdown
  // exits. Asked first, it names the partitions as they are now (restarts
  // change their handles).
  all.insert(all.begin(), caf::actor_cast<caf::actor>(supervisor_));
  for (const auto& a : actors_) {
    if (a != caf::actor_cast<caf::actor>(supervisor_)) all.push_back(a);
  }
  all.push_back(caf::actor_cast<caf::actor>(controller_));
  for (const auto& a : all) {
    self->monitor(a);
    self->send_exit(a, caf::exit_reason::user_shutdown);
  }
  // Bounded: an actor that does not stop must not hang the host's shutdown.
  std::size_t down = 0;
  bool timed_out = false;
  self->receive_while([&] { return down < all.size() && !timed_out; })(
      [&](caf::down_msg&) { ++down; }, caf::after(std::chrono::minutes(1)) >> [&] { timed_out = true; });
  if (timed_out) {
    LogError("engine", std::to_string(all.size() - down) + " of " + std::to_string(all.size()) +
                           " actors did not stop within a minute; stopping without them");
    if (result.ok()) result = Status::Unavailable("engine stop: some actors did not stop within a minute");
  }
  return result;
}

}  // namespace postdevai::actors
