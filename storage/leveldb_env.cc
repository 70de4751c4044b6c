#include "storage/leveldb_env.h"

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <leveldb/slice.h>

namespace postdevai::storage {

leveldb::Status ToLevelDbStatus(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return leveldb::Status::OK();
    case StatusCode::kNotFound: return leveldb::Status::NotFound(status.message());
    case StatusCode::kCorruption: return leveldb::Status::Corruption(status.message());
    case StatusCode::kInvalidArgument: return leveldb::Status::InvalidArgument(status.message());
    case StatusCode::kIoError: return leveldb::Status::IOError(status.message());
    default:
      // LevelDB has no code for these; carry ours in front of the message so
      // that FromLevelDbStatus can give the caller kNoSpace back, not a
      // generic I/O error.
      return leveldb::Status::IOError(status.ToString());
  }
}

Status FromLevelDbStatus(const leveldb::Status& status) {
  if (status.ok()) return Status::Ok();
  // leveldb::Status exposes its message only through ToString(), which starts
  // with a fixed name of the code ("IO error: ..."); strip it.
  std::string text = status.ToString();
  auto strip = [&text](std::string_view prefix) {
    if (std::string_view(text).substr(0, prefix.size()) == prefix) text.erase(0, prefix.size());
  };
  if (status.IsNotFound()) {
    strip("NotFound: ");
    return Status::NotFound(std::move(text));
  }
  if (status.IsCorruption()) {
    strip("Corruption: ");
    return Status::Corruption(std::move(text));
  }
  if (status.IsInvalidArgument()) {
    strip("Invalid argument: ");
    return Status::InvalidArgument(std::move(text));
  }
  if (status.IsNotSupportedError()) {
    strip("Not implemented: ");
    return Status::InvalidArgument("not supported by LevelDB: " + text);
  }
  strip("IO error: ");
  for (StatusCode code : {StatusCode::kNoSpace, StatusCode::kTooLarge, StatusCode::kClosed,
                          StatusCode::kUnavailable, StatusCode::kBusy}) {
    std::string prefix(StatusCodeName(code));
    prefix += ": ";
    if (text.compare(0, prefix.size(), prefix) == 0) return Status(code, text.substr(prefix.size()));
  }
  return Status::IoError(std::move(text));
}

namespace {

std::string ParentDir(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string_view BaseName(std::string_view path) {
  auto slash = path.find_last_of('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

class SequentialFileAdapter final : public leveldb::SequentialFile {
 public:
  explicit SequentialFileAdapter(std::unique_ptr<storage::SequentialFile> file) : file_(std::move(file)) {}
  leveldb::Status Read(size_t n, leveldb::Slice* result, char* scratch) override {
    std::string_view out;
    Status s = file_->Read(n, scratch, &out);
    *result = leveldb::Slice(out.data(), out.size());
    return ToLevelDbStatus(s);
  }
  leveldb::Status Skip(uint64_t n) override { return ToLevelDbStatus(file_->Skip(n)); }

 private:
  std::unique_ptr<storage::SequentialFile> file_;
};

class RandomAccessFileAdapter final : public leveldb::RandomAccessFile {
 public:
  explicit RandomAccessFileAdapter(std::unique_ptr<storage::RandomAccessFile> file) : file_(std::move(file)) {}
  leveldb::Status Read(uint64_t offset, size_t n, leveldb::Slice* result, char* scratch) const override {
    std::string_view out;
    Status s = file_->Read(offset, n, scratch, &out);
    *result = leveldb::Slice(out.data(), out.size());
    return ToLevelDbStatus(s);
  }

 private:
  std::unique_ptr<storage::RandomAccessFile> file_;
};

class WritableFileAdapter final : public leveldb::WritableFile {
 public:
  WritableFileAdapter(FileSystem* fs, std::string path, std::unique_ptr<storage::WritableFile> file)
      : fs_(fs),
        path_(std::move(path)),
        file_(std::move(file)),
        is_manifest_(BaseName(path_).substr(0, 9) == "MANIFEST-") {}

  leveldb::Status Append(const leveldb::Slice& data) override {
    return ToLevelDbStatus(file_->Append(std::string_view(data.data(), data.size())));
  }
  leveldb::Status Close() override { return ToLevelDbStatus(file_->Close()); }
  leveldb::Status Flush() override { return ToLevelDbStatus(file_->Flush()); }
  leveldb::Status Sync() override {
    Status s = file_->Sync();
    // LevelDB treats a synced file as durable, but a file created since its
    // directory was last synced can still disappear in a power cut, bytes and
    // all. Sync the directory the first time (and, like LevelDB's POSIX Env,
    // on every MANIFEST sync, which also publishes new table files).
    if (s.ok() && (!directory_synced_ || is_manifest_)) {
      s = fs_->SyncDir(ParentDir(path_));
      if (s.ok()) directory_synced_ = true;
    }
    return ToLevelDbStatus(s);
  }

 private:
  FileSystem* fs_;
  std::string path_;
  std::unique_ptr<storage::WritableFile> file_;
  bool is_manifest_;
  bool directory_synced_ = false;
};

class FileLockAdapter final : public leveldb::FileLock {
 public:
  explicit FileLockAdapter(std::unique_ptr<storage::FileLock> lock) : lock_(std::move(lock)) {}

 private:
  std::unique_ptr<storage::FileLock> lock_;  // released on destruction
};

class LevelDbEnv final : public leveldb::Env {
 public:
  explicit LevelDbEnv(FileSystem* fs) : fs_(fs), threads_(leveldb::Env::Default()) {}

  leveldb::Status NewSequentialFile(const std::string& path, leveldb::SequentialFile** result) override {
    *result = nullptr;
    auto file = fs_->NewSequentialFile(path);
    if (!file.ok()) return ToLevelDbStatus(file.status());
    *result = new SequentialFileAdapter(std::move(*file));
    return leveldb::Status::OK();
  }
  leveldb::Status NewRandomAccessFile(const std::string& path, leveldb::RandomAccessFile** result) override {
    *result = nullptr;
    auto file = fs_->NewRandomAccessFile(path);
    if (!file.ok()) return ToLevelDbStatus(file.status());
    *result = new RandomAccessFileAdapter(std::move(*file));
    return leveldb::Status::OK();
  }
  leveldb::Status NewWritableFile(const std::string& path, leveldb::WritableFile** result) override {
    *result = nullptr;
    auto file = fs_->NewWritableFile(path);
    if (!file.ok()) return ToLevelDbStatus(file.status());
    *result = new WritableFileAdapter(fs_, path, std::move(*file));
    return leveldb::Status::OK();
  }
  leveldb::Status NewAppendableFile(const std::string& path, leveldb::WritableFile** result) override {
    *result = nullptr;
    auto file = fs_->NewAppendableFile(path);
    if (!file.ok()) return ToLevelDbStatus(file.status());
    *result = new WritableFileAdapter(fs_, path, std::move(*file));
    return leveldb::Status::OK();
  }
  bool FileExists(const std::string& path) override { return fs_->FileExists(path); }
  leveldb::Status GetChildren(const std::string& dir, std::vector<std::string>* result) override {
    result->clear();
    auto names = fs_->GetChildren(dir);
    if (!names.ok()) return ToLevelDbStatus(names.status());
    *result = std::move(*names);
    return leveldb::Status::OK();
  }
  leveldb::Status RemoveFile(const std::string& path) override { return ToLevelDbStatus(fs_->RemoveFile(path)); }
  leveldb::Status CreateDir(const std::string& dir) override { return ToLevelDbStatus(fs_->CreateDirs(dir)); }
  leveldb::Status RemoveDir(const std::string& dir) override { return ToLevelDbStatus(fs_->RemoveDir(dir)); }
  leveldb::Status GetFileSize(const std::string& path, uint64_t* size) override {
    *size = 0;
    auto got = fs_->GetFileSize(path);
    if (!got.ok()) return ToLevelDbStatus(got.status());
    *size = *got;
    return leveldb::Status::OK();
  }
  leveldb::Status RenameFile(const std::string& from, const std::string& to) override {
    Status s = fs_->RenameFile(from, to);
    // LevelDB installs a new MANIFEST by renaming a temp file onto CURRENT and
    // never syncs the directory afterwards; make that switch durable here.
    if (s.ok() && BaseName(to) == "CURRENT") s = fs_->SyncDir(ParentDir(to));
    return ToLevelDbStatus(s);
  }
  leveldb::Status LockFile(const std::string& path, leveldb::FileLock** lock) override {
    *lock = nullptr;
    auto held = fs_->LockFile(path);
    if (!held.ok()) return ToLevelDbStatus(held.status());
    *lock = new FileLockAdapter(std::move(*held));
    return leveldb::Status::OK();
  }
  leveldb::Status UnlockFile(leveldb::FileLock* lock) override {
    delete lock;
    return leveldb::Status::OK();
  }

  void Schedule(void (*function)(void*), void* arg) override { threads_->Schedule(function, arg); }
  void StartThread(void (*function)(void*), void* arg) override { threads_->StartThread(function, arg); }
  leveldb::Status GetTestDirectory(std::string* path) override { return threads_->GetTestDirectory(path); }
  leveldb::Status NewLogger(const std::string& path, leveldb::Logger** result) override {
    // LevelDB's own logger writes LOG outside the seam and creates it 0644;
    // created here first, 0600 like every file of ours, it keeps that mode
    // (the logger opens it without truncating, and LevelDB has just renamed
    // the previous LOG away). Best effort: the logger reports its own errors.
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) ::close(fd);
    return threads_->NewLogger(path, result);
  }
  uint64_t NowMicros() override { return fs_->NowMicros(); }
  void SleepForMicroseconds(int micros) override { threads_->SleepForMicroseconds(micros); }

 private:
  FileSystem* fs_;
  leveldb::Env* threads_;  // LevelDB's process-wide default Env; never deleted
};

}  // namespace

std::unique_ptr<leveldb::Env> NewLevelDbEnv(FileSystem* fs) { return std::make_unique<LevelDbEnv>(fs); }

}  // namespace postdevai::storage
