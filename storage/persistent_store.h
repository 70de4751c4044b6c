// The cold tier: one LevelDB database holding the four kinds of data, each
// value compressed by us (zstd, per-kind level and dictionary, see
// value_codec.h) and stamped with the LSN of the write that stored it.
//
// Durability model. Writes go to LevelDB unsynced: the journal's WAL is what
// makes an acknowledged write durable. Checkpoint(lsn) then makes everything
// the store received before it durable inside LevelDB and records `lsn`, so
// that recovery can replay only the WAL after CheckpointLsn().
//
// WAL replay is idempotent. Put is a plain overwrite and Delete a plain
// removal; neither compares LSNs (that would cost a read per write). Replay
// applies the WAL records after CheckpointLsn() in LSN order, exactly as they
// were first applied, so a record applied twice -- once before the crash,
// once by replay -- leaves the same final state: the last write to a key in
// LSN order wins either way. The contract for callers is therefore: apply
// writes in LSN order (the journal does); the store never reorders them, and
// an older LSN written after a newer one simply overwrites it.
//
// Errors. Get and GetLsn are per key: kNotFound when the key is absent,
// kCorruption when ITS stored value fails a check; other keys are unaffected.
// A failed LevelDB write (ENOSPC, EIO, a failed sync or background
// compaction) fails that call with kNoSpace/kIoError naming the path, and
// latches the store: LevelDB may have left a torn record in its log, and any
// record appended after it could be dropped by LevelDB's recovery. So the next
// write, Checkpoint, Compact or TrainDictionary first reopens the database
// (recovery drops the torn tail, which only held the failed write) -- or call
// Reopen() yourself. Reads keep using the old handle until then. After a
// kNoSpace failure the reopen waits for room: while the store's file system
// has less free than a reopen writes (ReopenRoomBytes), a write fails at
// once with kNoSpace and the old handle keeps serving reads. If a reopen
// fails all the same, the store is closed and reads return kClosed until a
// later write or Reopen() succeeds. A failed write may or may not have been
// applied; the WAL replay settles it.
//
// Thread-safety: every method may be called concurrently. Writes (Put, Write,
// Delete, Checkpoint, dictionary records) are serialized by the store, reads
// run in parallel with them and each other; Reopen waits for both.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "postdevai/status.h"
#include "storage/file_system.h"
#include "storage/key_schema.h"
#include "storage/value_codec.h"

namespace leveldb {
class Cache;
class DB;
class Env;
class FilterPolicy;
class WriteBatch;
}  // namespace leveldb

namespace postdevai::storage {

// How one kind's values are compressed.
struct KindCompressionOptions {
  int level = 3;                // zstd level (negative levels are the fast ones)
  bool use_dictionary = true;   // train and use a per-kind dictionary
};

struct PersistentStoreOptions {
  // The LevelDB directory; created (with parents) when missing.
  std::string path;
  // Every file operation goes through it, LevelDB's included. Not owned; must
  // outlive the store.
  FileSystem* file_system = FileSystem::Default();
  // LevelDB block cache (blocks of encoded values), in MiB.
  std::size_t cache_size_mb = 64;
  // LevelDB memtable size: how much is buffered before a level-0 flush.
  std::size_t write_buffer_size = 8u << 20;
  // Most table files LevelDB keeps open at once (Options::max_open_files).
  // 0: LevelDbMaxOpenFiles() of the descriptor limit, after Open raised it
  // (RaiseDescriptorLimit); any other value is capped at that share. LevelDB
  // itself keeps it within 74 .. 50000. options() shows the value in use.
  int max_open_files = 0;
  // false: every value is stored raw (config `compression = "none"`).
  bool compression = true;
  // Indexed by KindIndex(). Embeddings barely compress and gain nothing from
  // a dictionary, so vectors use a fast level and none by default.
  std::array<KindCompressionOptions, kKindCount> kinds = {
      KindCompressionOptions{1, false}, KindCompressionOptions{3, true}, KindCompressionOptions{3, true},
      KindCompressionOptions{3, true}};
  // Automatic dictionary training, synchronously inside the write that
  // triggers it (a few hundred ms; training scans the kind's value headers
  // and decodes only the sampled records):
  //  - first: a kind that uses a dictionary but has none yet gets one once at
  //    least this many records AND this many raw bytes of it are stored;
  //  - again: once (growth - 1) times as many records have been written to
  //    the kind since its current dictionary was trained as the kind held
  //    then. A dictionary trained on a young store's first records fits what
  //    comes later poorly (measured on /usr/include: 2.6x with one early
  //    dictionary, 3.1x retraining at every doubling); geometric growth keeps
  //    it to O(log n) trainings. <= 1: never retrain automatically.
  // 0 records: no automatic training at all (TrainDictionary still works).
  // Records written before a reopen count towards the first training only.
  std::uint64_t dictionary_training_records = 1000;
  std::uint64_t dictionary_training_bytes = 1u << 20;
  double dictionary_retrain_growth = 2.0;
  // Size limit of a trained dictionary, and how many raw bytes of the kind's
  // records (an even sample over the whole kind) to train it from.
  std::size_t dictionary_bytes = 64u << 10;
  std::size_t dictionary_sample_bytes = 8u << 20;
  // Limit on one value's raw length; larger values are refused (kTooLarge).
  std::uint32_t max_value_bytes = kDefaultMaxValueBytes;
};

// A group of writes applied atomically by PersistentStore::Write.
// Not thread-safe; owned by the caller.
class StoreWriteBatch {
 public:
  void Put(Kind kind, std::string_view key, std::string_view value, std::uint64_t lsn);
  // A value already encoded by PersistentStore::EncodeUnstamped (compressed
  // once, on the writer's side): stored as it is, stamped with lsn.
  void PutEncoded(Kind kind, std::string_view key, std::string_view encoded, std::uint64_t lsn);
  void Delete(Kind kind, std::string_view key, std::uint64_t lsn);
  std::size_t size() const { return ops_.size(); }
  bool empty() const { return ops_.empty(); }
  std::size_t bytes() const { return bytes_.size(); }  // of the keys and values held
  void Clear() {  // keeps the memory, for the next batch
    ops_.clear();
    bytes_.clear();
  }

 private:
  friend class PersistentStore;
  void Add(bool is_delete, bool encoded, Kind kind, std::string_view key, std::string_view value, std::uint64_t lsn);
  // Keys and values live in one buffer, not a string each: a replay batch
  // holds thousands of them.
  struct Op {
    bool is_delete;
    bool encoded;  // value is EncodeUnstamped's output, not raw bytes
    Kind kind;
    std::size_t key_length;
    std::size_t offset;  // of the key in bytes_; the value follows it
    std::size_t value_length;
    std::uint64_t lsn;
  };
  std::string_view KeyOf(const Op& op) const { return std::string_view(bytes_).substr(op.offset, op.key_length); }
  std::string_view ValueOf(const Op& op) const {
    return std::string_view(bytes_).substr(op.offset + op.key_length, op.value_length);
  }
  std::vector<Op> ops_;
  std::string bytes_;
};

// One record as ForEach / ForEachHeader present it. The views are valid only
// during the visitor call.
struct StoredRecord {
  std::string_view key;          // the caller's key, without the kind prefix
  std::string_view value;        // decoded value; empty in ForEachHeader
  std::uint64_t lsn = 0;
  std::uint32_t raw_bytes = 0;   // length of the decoded value
  std::uint32_t stored_bytes = 0;  // length of the encoded value (header + payload)
  std::uint32_t dictionary_id = 0;  // 0: written without a dictionary
};
// Return false to stop the iteration.
using RecordVisitor = std::function<bool(const StoredRecord&)>;

struct KindStats {
  std::uint64_t entries = 0;
  std::uint64_t key_bytes = 0;
  std::uint64_t raw_bytes = 0;      // decoded value bytes
  std::uint64_t stored_bytes = 0;   // encoded value bytes, headers included
  std::uint64_t entries_with_dictionary = 0;
  // LevelDB's estimate of the kind's on-disk bytes (table files only: the
  // memtable is not counted until it is flushed).
  std::uint64_t approximate_disk_bytes = 0;
  // The dictionary new values of this kind are written with; 0: none.
  std::uint32_t dictionary_id = 0;
  double compression_ratio() const {
    return stored_bytes == 0 ? 1.0 : static_cast<double>(raw_bytes) / static_cast<double>(stored_bytes);
  }
};

struct DictionaryInfo {
  std::uint32_t id = 0;
  Kind kind = Kind::kCode;
  std::size_t bytes = 0;            // dictionary size
  std::size_t samples = 0;          // records it was trained from
  std::uint64_t sample_bytes = 0;
  std::uint64_t kind_records = 0;   // records of the kind when it was trained
};

// LevelDB's share of a process whose soft RLIMIT_NOFILE limit is soft_limit
// (RLIM_INFINITY: no limit): half, within LevelDB's own bounds of 74 ..
// 50000. The other half is headroom for everything else that takes a
// descriptor: WAL segments, RAM-Lake files and their locks, sockets. With
// 2 MiB tables LevelDB's old fixed 1000 took nearly all of the usual 1024
// once the store passed ~2 GB, and WAL segments and connections then failed.
// Pure; thread-safe.
int LevelDbMaxOpenFiles(std::uint64_t soft_limit);

// Raises this process's soft RLIMIT_NOFILE limit to its hard limit (the hard
// limit is ours to use; the usual soft 1024 is far below what a busy engine
// needs) and returns the soft limit in force afterwards. Process-wide and
// idempotent; best effort: when the limit cannot be raised it returns the one
// in force, and 1024 when it cannot even be read. PersistentStore::Open calls
// it. Thread-safe.
std::uint64_t RaiseDescriptorLimit();

// Who a store is: a random id made when the store is created, and an epoch
// that starts at 1 and that a restore (or a replica's promotion) raises. Both
// go into every WAL segment header, every RAM-Lake file's watermark and every
// backup, so that files of another store, or of this store before a restore,
// are never taken for its own.
struct StoreIdentity {
  std::uint64_t id = 0;
  std::uint64_t epoch = 0;
  // The first LSN of this epoch (0: epoch 1, or not recorded): a replica of
  // an earlier epoch that holds this LSN or later ones holds writes this
  // history does not have (it diverged at a promotion or a restore).
  std::uint64_t epoch_start_lsn = 0;
  // One number for both, never 0: what RAM-Lake files and the vector index
  // snapshot record.
  std::uint64_t Fingerprint() const;
  // "4f1c...e2/epoch 3", for messages.
  std::string ToString() const;
};

// A value as the store holds it: the bytes and the LSN of the write.
struct StoredValue {
  std::string value;
  std::uint64_t lsn = 0;
};

class PersistentStore {
 public:
  // Opens (creating if missing) the store at options.path, first raising the
  // descriptor limit (RaiseDescriptorLimit) and sizing LevelDB's open tables
  // by it (see max_open_files). kInvalidArgument for bad options, kBusy when
  // another process holds the directory, kCorruption when the checkpoint
  // record is unreadable, I/O errors as they come.
  static Result<std::unique_ptr<PersistentStore>> Open(const PersistentStoreOptions& options);

  // Closes LevelDB. Unsynced writes since the last Checkpoint are left to
  // LevelDB's log (not synced here).
  ~PersistentStore();
  PersistentStore(const PersistentStore&) = delete;
  PersistentStore& operator=(const PersistentStore&) = delete;

  // Stores value under (kind, key), stamped with lsn; unsynced (see top).
  // kTooLarge when value exceeds max_value_bytes (nothing is written).
  // May train the kind's first dictionary (see PersistentStoreOptions).
  Status Put(Kind kind, std::string_view key, std::string_view value, std::uint64_t lsn);
  // Removes (kind, key); removing an absent key is ok. lsn counts towards
  // LastAppliedLsn().
  Status Delete(Kind kind, std::string_view key, std::uint64_t lsn);
  // Applies every write of the batch atomically, in batch order; unsynced.
  // kTooLarge for any oversized value, before anything is written; for a
  // PutEncoded value, Restamp's errors (see ValueCodec).
  Status Write(const StoreWriteBatch& batch);

  // The value encoded (compressed) as this store would store it for `kind`,
  // with its dictionary and level, but stamped with LSN 0: the write path
  // compresses once, before the journal gives the write its LSN, logs these
  // bytes and applies them with StoreWriteBatch::PutEncoded. A dictionary it
  // refers to is already durable in the store (dictionaries are synced before
  // they are used). kTooLarge when raw exceeds max_value_bytes. Thread-safe,
  // and takes no lock of the store's.
  Result<std::string> EncodeUnstamped(Kind kind, std::string_view key, std::string_view raw) const;
  // The raw bytes of a value EncodeUnstamped made (a write not applied yet);
  // ValueCodec::Decode's errors. Thread-safe.
  Result<std::string> DecodeEncoded(std::string_view encoded) const { return codec_.Decode(encoded); }

  // The value of (kind, key): kNotFound, kCorruption for this key's value only,
  // kClosed after a failed reopen.
  Result<std::string> Get(Kind kind, std::string_view key) const;
  // The value and the LSN that wrote it, from one lookup. Same errors as Get.
  Result<StoredValue> GetWithLsn(Kind kind, std::string_view key) const;
  // The LSN that wrote (kind, key), read from the value's header without
  // decompressing it. Same errors as Get.
  Result<std::uint64_t> GetLsn(Kind kind, std::string_view key) const;

  // Visits every record of `kind` in key order, values decoded, as of a
  // LevelDB snapshot taken at the start. A record that fails to decode is
  // skipped; the others are still visited, and the call then returns
  // kCorruption naming how many failed and the first one. The visitor runs
  // under the store's read lock: it must not call back into the store.
  Status ForEach(Kind kind, const RecordVisitor& visit) const;
  // Like ForEach but reads only the value headers (LSN, sizes): no
  // decompression. For warm-restart LSN comparison and statistics.
  Status ForEachHeader(Kind kind, const RecordVisitor& visit) const;

  // Counts and sizes of one kind. Scans the kind's value headers: O(entries).
  // Fails like ForEachHeader.
  Result<KindStats> Stats(Kind kind) const;

  // Cheap figures for metrics, O(1) (Stats is a scan): raw and encoded bytes
  // of every value written since Open, and LevelDB's estimate of the bytes the
  // whole store takes on disk (written-out tables; the memtable not yet).
  struct WriteTotals {
    std::uint64_t raw_bytes = 0;
    std::uint64_t stored_bytes = 0;
  };
  WriteTotals Totals() const {
    return {raw_bytes_written_.load(std::memory_order_relaxed), stored_bytes_written_.load(std::memory_order_relaxed)};
  }
  std::uint64_t ApproximateDiskBytes() const;

  // Trains a new dictionary for `kind` from an even sample of all its stored
  // records and makes it the kind's current one; values written earlier keep
  // the dictionary they were written with. The dictionary is written with a
  // synced write before any value can use it. kInvalidArgument when the kind
  // has too few records to train from or compression/dictionaries are off.
  Result<DictionaryInfo> TrainDictionary(Kind kind);
  // Every dictionary in the store, oldest first.
  std::vector<DictionaryInfo> Dictionaries() const;

  // Where a new dictionary is logged before any value can use it: the engine
  // appends `payload` to its WAL (a kWalRecordDictionary record, durably), so
  // that a restore replaying the WAL archive onto a backup older than the
  // dictionary finds it (ImportDictionary) before the values that need it.
  // An error fails the training. Null (the default): not logged. Set it
  // before writes begin; not thread-safe with training.
  using DictionaryLog = std::function<Status(std::string_view payload)>;
  void SetDictionaryLog(DictionaryLog log) { dictionary_log_ = std::move(log); }
  // Whether writes may train dictionaries on their own (see
  // PersistentStoreOptions; default true). Off while the WAL is replayed at
  // start: a dictionary trained then could not be logged (the log is not
  // open yet).
  void set_auto_training(bool on) { auto_training_.store(on, std::memory_order_relaxed); }
  // Adds the dictionary a DictionaryLog payload carries, durably, unless the
  // store has it already (ok); it becomes its kind's current dictionary when
  // newer. kCorruption for a payload that does not decode.
  Status ImportDictionary(std::string_view payload);

  // Compacts the whole key space (LevelDB CompactRange over everything):
  // drops overwritten and deleted values. Blocks until done; reports a failed
  // compaction.
  Status Compact();

  // Makes every write this store completed before the call durable in
  // LevelDB, then durably records `lsn` as the checkpoint LSN. On success a
  // power cut at any later moment loses nothing written before the call, and
  // CheckpointLsn() returns `lsn` after reopening. kInvalidArgument when lsn
  // is below the current checkpoint LSN.
  //
  // How: LevelDB's log files are synced only by a sync=true write, and only
  // the CURRENT one; a log closed when the memtable rolled over was never
  // synced. So Checkpoint first flushes the memtable into a level-0 table
  // (table file synced, MANIFEST synced, directory synced) -- after that no
  // log holds anything written before the call -- and only then writes the
  // checkpoint record with sync=true.
  Status Checkpoint(std::uint64_t lsn);
  // The LSN of the last successful Checkpoint (0 for a new store).
  std::uint64_t CheckpointLsn() const { return checkpoint_lsn_.load(std::memory_order_acquire); }
  // The highest LSN of any write applied since Open, or CheckpointLsn() if
  // higher. When writes arrive in LSN order, a Checkpoint at this LSN covers
  // everything the store has seen.
  std::uint64_t LastAppliedLsn() const { return last_applied_lsn_.load(std::memory_order_acquire); }

  // This store's identity (see StoreIdentity). Open makes it, durably, for a
  // store that has none (a new store, or one made by an older build).
  StoreIdentity identity() const;
  // Raises the epoch by one, durably (a synced write), and returns the new
  // identity; `first_lsn` is the first LSN of the new epoch. For a restore
  // and a promotion: what the store holds from now on is a new history.
  Result<StoreIdentity> StartNewEpoch(std::uint64_t first_lsn);
  // Takes a primary's identity, durably: for a replica, which is a copy of
  // its primary's store. kInvalidArgument when this store holds writes
  // (LastAppliedLsn() > 0) under another id.
  Status AdoptIdentity(const StoreIdentity& identity);

  // A consistent copy of the store in `dir` (created; must hold no store),
  // as of a checkpoint made first (as Checkpoint does) at LastAppliedLsn():
  // what a backup holds. Returns that LSN. Writes wait meanwhile. LevelDB's table files, which it
  // never changes, are hard-linked when `dir` is on the same file system
  // (copied otherwise); its MANIFEST, CURRENT and log files are copied.
  // LevelDB may compact in the background meanwhile: tables are linked
  // before and after the MANIFEST is copied, so every table the copied
  // MANIFEST names is there unless a second compaction removed it within the
  // copy; opening the copy (as backups do) proves it.
  Result<std::uint64_t> CheckpointInto(const std::string& dir);

  // Named properties of the stored data's format (e.g. which key scheme its
  // records use), kept beside the checkpoint. SetProperty is synced: once it
  // returns Ok the property survives a crash. GetProperty: kNotFound when the
  // property was never set.
  Status SetProperty(std::string_view name, std::string_view value);
  Result<std::string> GetProperty(std::string_view name) const;

  // Closes and reopens LevelDB (recovering from its log), e.g. after a failed
  // write. Ok when the store is usable again; otherwise the store is closed
  // (reads return kClosed) and the error says why.
  Status Reopen();

  const PersistentStoreOptions& options() const { return options_; }

 private:
  explicit PersistentStore(PersistentStoreOptions options);

  // The encoded value of (kind, key): kNotFound, kClosed, I/O errors.
  Result<std::string> ReadEncoded(Kind kind, std::string_view key) const;
  Status OpenDbLocked();                   // requires db_mu_ exclusive
  Status LoadMetadataLocked();             // requires db_mu_ held
  Status ReopenLocked();                   // requires write_mu_
  Status CheckpointLocked(std::uint64_t lsn);  // requires write_mu_
  Status LoadIdentity();                   // at Open
  // What a reopen may write: LevelDB's recovery turns its log (at most about
  // a write buffer) into a table, and starts a new log and MANIFEST.
  std::uint64_t ReopenRoomBytes() const { return 2 * std::uint64_t{options_.write_buffer_size} + (4u << 20); }
  // Applies `batch` under write_mu_ (held by caller), reopening first if an
  // earlier write failed; a failure latches the store.
  Status ApplyLocked(leveldb::WriteBatch* batch, bool sync, std::string_view what);
  // Visits (user key, encoded value) of every record of `kind`; fails only
  // when LevelDB does. The views are valid during the call.
  using EncodedVisitor = std::function<bool(std::string_view key, std::string_view encoded)>;
  Status ScanEncoded(Kind kind, const EncodedVisitor& visit) const;
  Status Scan(Kind kind, bool decode, const RecordVisitor& visit) const;
  EncodeOptions EncodeOptionsFor(Kind kind) const;
  Result<std::string> EncodeValue(Kind kind, std::string_view key, std::string_view value, std::uint64_t lsn) const;
  void NoteApplied(std::uint64_t lsn);
  // Counts what was just written towards automatic training and trains when
  // the thresholds are reached. Call with no lock held.
  void AfterWrite(const std::array<std::uint64_t, kKindCount>& records,
                  const std::array<std::uint64_t, kKindCount>& raw_bytes);
  bool UsesDictionary(Kind kind) const;
  Result<DictionaryInfo> TrainDictionaryLocked(Kind kind);  // requires training_mu_
  void InitTrainingCounters();

  const PersistentStoreOptions options_;
  std::unique_ptr<leveldb::Env> env_;
  std::unique_ptr<leveldb::Cache> block_cache_;
  std::unique_ptr<const leveldb::FilterPolicy> filter_policy_;
  ValueCodec codec_;

  // Lock order: training_mu_, then write_mu_, then db_mu_.
  std::atomic<std::uint64_t> raw_bytes_written_{0};
  std::atomic<std::uint64_t> stored_bytes_written_{0};
  std::mutex training_mu_;            // one dictionary training at a time
  std::mutex write_mu_;               // serializes LevelDB writes and reopen
  mutable std::shared_mutex db_mu_;   // shared: use db_; exclusive: replace it
  std::unique_ptr<leveldb::DB> db_;   // null when closed after a failed reopen
  bool write_failed_ = false;         // guarded by write_mu_
  Status write_failure_;              // guarded by write_mu_: why write_failed_
  Status close_reason_;               // guarded by db_mu_ (why db_ is null)

  std::atomic<std::uint64_t> checkpoint_lsn_{0};
  mutable std::mutex identity_mu_;
  StoreIdentity identity_;  // guarded by identity_mu_
  std::atomic<std::uint64_t> last_applied_lsn_{0};

  // Dictionaries: guarded by dictionaries_mu_; the current id per kind is also
  // readable lock-free by writers.
  mutable std::mutex dictionaries_mu_;
  std::vector<DictionaryInfo> dictionaries_;
  std::uint32_t next_dictionary_id_ = 1;
  std::array<std::atomic<std::uint32_t>, kKindCount> current_dictionary_{};
  // Towards automatic training: records and raw bytes written since the
  // kind's last training (or since Open), and the kind's size at that
  // training. The thresholds double after each failed training (back-off).
  std::array<std::atomic<std::uint64_t>, kKindCount> records_since_training_{};
  std::array<std::atomic<std::uint64_t>, kKindCount> bytes_since_training_{};
  std::array<std::atomic<std::uint64_t>, kKindCount> records_at_training_{};
  // Writes of each kind since Open, and that count at the last training:
  // retraining waits for the writes to grow too, so overwriting the same keys
  // retrains at exponentially spaced points, not every few thousand writes.
  std::array<std::atomic<std::uint64_t>, kKindCount> writes_since_open_{};
  std::array<std::atomic<std::uint64_t>, kKindCount> writes_at_training_{};
  std::array<std::atomic<std::uint32_t>, kKindCount> training_backoff_{};
  DictionaryLog dictionary_log_;
  std::atomic<bool> auto_training_{true};
};

}  // namespace postdevai::storage
