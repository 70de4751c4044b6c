// A FileSystem wrapper for tests that kill, tear and corrupt (after LevelDB's
// FaultInjectionTestEnv and RocksDB's FaultInjectionTestFS).
//
// It forwards to a real base file system and remembers, per file, what has not
// been made durable yet: bytes written since the last Sync, files created or
// renamed since their directory's last SyncDir. DropUnsyncedData() then acts out
// a power cut: every unsynced write is undone (appended bytes are truncated,
// overwritten regions get their old bytes back), unsynced new files disappear.
//
// Directory entries: by default it behaves like ext4 with ordered metadata
// (what LevelDB relies on): creations and renames survive a power cut, only
// unsynced bytes are lost. With set_strict_directories(true) it acts out strict
// POSIX: a creation or rename not followed by SyncDir of its directory is undone,
// and a directory created (CreateDir) but not synced into its parent vanishes
// with everything in it.
//
// Errors can be injected per kind of operation, optionally only on paths that
// contain a substring, after skipping a number of matching calls, for a number
// of calls (or forever). A short write writes half of the data before failing
// with ENOSPC, as a real full disk does.
//
// Hooks (RocksDB's sync points): a test can have a function called at the
// start of every call of one kind, to block a thread there and order threads
// without sleeping.
//
// Thread-safe. Files opened through it must be closed before DropUnsyncedData.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "storage/file_system.h"

namespace postdevai::storage {

enum class FaultOp : std::uint8_t {
  kCreate,    // NewWritableFile / NewAppendableFile / CreateDir
  kWrite,     // Append, WriteAt, Flush
  kSync,      // WritableFile::Sync
  kAllocate,  // WritableFile::Allocate
  kTruncate,  // WritableFile::Truncate, TruncateFile
  kRename,    // RenameFile
  kRemove,    // RemoveFile, RemoveDir
  kSyncDir,   // SyncDir
  kRead,      // SequentialFile / RandomAccessFile reads
};

struct FaultRule {
  FaultOp op;
  StatusCode code = StatusCode::kIoError;  // kNoSpace or kIoError
  std::string path_contains;               // empty: every path
  int skip = 0;                            // matching calls to let through first
  int count = -1;                          // failures to inject; -1: until cleared
  bool short_write = false;                // kWrite only: write half, then fail
};

class FaultInjectionFileSystem final : public FileSystem {
 public:
  explicit FaultInjectionFileSystem(FileSystem* base = FileSystem::Default());
  ~FaultInjectionFileSystem() override;

  void InjectFault(FaultRule rule);
  void ClearFaults();
  // How many calls of this kind passed through (failed ones included).
  std::uint64_t CallCount(FaultOp op) const;
  // How many faults were injected so far.
  std::uint64_t InjectedCount() const;

  void set_strict_directories(bool strict);

  // Calls hook(path) at the start of every call of kind `op` (before any
  // injected fault), on the calling thread, holding no lock of this file
  // system: the hook may block until the test lets the thread go on. A null
  // hook removes it.
  void SetHook(FaultOp op, std::function<void(const std::string& path)> hook);

  // Power cut: undo every write not covered by a Sync; with strict directories
  // also undo the creations and renames in a directory since its last SyncDir
  // (directories created since their parent's last SyncDir go with all they hold).
  Status DropUnsyncedData();
  // Like a power cut that tore the last writes: of each unsynced write, keeps a
  // pseudo-random subset of its 512-byte sectors and undoes the rest.
  Status TearUnsyncedData(std::uint64_t seed);

  // FileSystem
  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) override;
  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path) override;
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override;
  Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) override;
  bool FileExists(const std::string& path) override;
  Result<std::vector<std::string>> GetChildren(const std::string& dir) override;
  Status RemoveFile(const std::string& path) override;
  Status CreateDir(const std::string& dir) override;
  Status RemoveDir(const std::string& dir) override;
  Result<std::uint64_t> GetFileSize(const std::string& path) override;
  Status RenameFile(const std::string& from, const std::string& to) override;
  // Forwarded (a kCreate fault on `to` fails it); a power cut does not undo links.
  Status LinkFile(const std::string& from, const std::string& to) override;
  Status SyncDir(const std::string& dir) override;
  Status TruncateFile(const std::string& path, std::uint64_t size) override;
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override;
  std::uint64_t NowMicros() override;
  std::uint64_t WallClockMicros() override;

  // Used by the file wrappers. A FileState follows its file through renames.
  struct FileState;
  Status MaybeFail(FaultOp op, const std::string& path, bool* short_write = nullptr);
  std::shared_ptr<FileState> StateFor(const std::string& path);
  void RecordWrite(FileState& state, std::uint64_t offset, std::uint64_t len, std::string old_bytes,
                   std::uint64_t old_size);
  void RecordSync(FileState& state);
  void RecordTruncate(FileState& state, std::uint64_t old_size, std::string cut_bytes);
  std::string PathOf(const FileState& state) const;

 private:
  Status Restore(bool tear, std::uint64_t seed);

  FileSystem* base_;
  mutable std::mutex mu_;
  std::vector<FaultRule> rules_;
  std::map<FaultOp, std::uint64_t> calls_;
  std::uint64_t injected_ = 0;
  std::map<std::string, std::shared_ptr<FileState>> files_;  // by current path
  bool strict_directories_ = false;
  std::map<FaultOp, std::function<void(const std::string&)>> hooks_;
  std::set<std::string> unsynced_new_files_;  // created, directory not synced since
  std::set<std::string> unsynced_new_dirs_;   // created, parent not synced since
  std::vector<std::pair<std::string, std::string>> unsynced_renames_;  // (from, to), oldest first
};

}  // namespace postdevai::storage
