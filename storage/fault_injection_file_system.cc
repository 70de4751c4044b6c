#include "storage/fault_injection_file_system.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <random>

namespace postdevai::storage {

// One unsynced change to a file: put `old_bytes` back at `offset` and set the
// file's size to `old_size` to undo it. `new_end` is where the change ended.
struct UndoEntry {
  std::uint64_t offset;
  std::string old_bytes;
  std::uint64_t old_size;
  std::uint64_t new_end;
};

struct FaultInjectionFileSystem::FileState {
  std::string path;             // current name; empty once removed
  std::vector<UndoEntry> undo;  // oldest first; cleared by Sync
};

namespace {

Status ErrorFor(StatusCode code, FaultOp op, const std::string& path) {
  static const char* names[] = {"create", "write", "sync", "allocate", "truncate",
                                "rename", "remove", "sync directory", "read"};
  std::string msg = std::string(names[static_cast<int>(op)]) + " " + path + ": injected " +
                    (code == StatusCode::kNoSpace ? "No space left on device" : "Input/output error");
  return Status(code, std::move(msg));
}

class FaultSequentialFile final : public SequentialFile {
 public:
  FaultSequentialFile(FaultInjectionFileSystem* fs, std::string path, std::unique_ptr<SequentialFile> base)
      : fs_(fs), path_(std::move(path)), base_(std::move(base)) {}
  Status Read(std::size_t n, char* scratch, std::string_view* out) override {
    PDAI_RETURN_IF_ERROR(fs_->MaybeFail(FaultOp::kRead, path_));
    return base_->Read(n, scratch, out);
  }
  Status Skip(std::uint64_t n) override { return base_->Skip(n); }

 private:
  FaultInjectionFileSystem* fs_;
  std::string path_;
  std::unique_ptr<SequentialFile> base_;
};

class FaultRandomAccessFile final : public RandomAccessFile {
 public:
  FaultRandomAccessFile(FaultInjectionFileSystem* fs, std::string path, std::unique_ptr<RandomAccessFile> base)
      : fs_(fs), path_(std::move(path)), base_(std::move(base)) {}
  Status Read(std::uint64_t offset, std::size_t n, char* scratch, std::string_view* out) const override {
    PDAI_RETURN_IF_ERROR(fs_->MaybeFail(FaultOp::kRead, path_));
    return base_->Read(offset, n, scratch, out);
  }

 private:
  FaultInjectionFileSystem* fs_;
  std::string path_;
  std::unique_ptr<RandomAccessFile> base_;
};

class FaultWritableFile final : public WritableFile {
 public:
  FaultWritableFile(FaultInjectionFileSystem* fs, std::string path, std::unique_ptr<WritableFile> base,
                    std::uint64_t size)
      : fs_(fs), state_(fs->StateFor(path)), base_(std::move(base)), size_(size) {}

  Status Append(std::string_view data) override {
    bool short_write = false;
    Status s = fs_->MaybeFail(FaultOp::kWrite, path(), &short_write);
    if (!s.ok() && short_write) {
      std::string_view half = data.substr(0, data.size() / 2);
      fs_->RecordWrite(*state_, size_, half.size(), {}, size_);
      (void)base_->Append(half);
      (void)base_->Flush();
      size_ += half.size();
    }
    PDAI_RETURN_IF_ERROR(s);
    fs_->RecordWrite(*state_, size_, data.size(), {}, size_);
    size_ += data.size();
    return base_->Append(data);
  }
  Status WriteAt(std::uint64_t offset, std::string_view data) override {
    bool short_write = false;
    Status s = fs_->MaybeFail(FaultOp::kWrite, path(), &short_write);
    if (!s.ok() && !short_write) return s;
    std::string_view part = short_write ? data.substr(0, data.size() / 2) : data;
    PDAI_RETURN_IF_ERROR(base_->Flush());
    std::string old = ReadOld(offset, part.size());
    fs_->RecordWrite(*state_, offset, part.size(), std::move(old), size_);
    Status w = base_->WriteAt(offset, part);
    size_ = std::max<std::uint64_t>(size_, offset + part.size());
    if (!s.ok()) return s;
    return w;
  }
  Status Allocate(std::uint64_t offset, std::uint64_t len) override {
    PDAI_RETURN_IF_ERROR(fs_->MaybeFail(FaultOp::kAllocate, path()));
    if (offset + len > size_) {
      fs_->RecordWrite(*state_, size_, 0, {}, size_);
      PDAI_RETURN_IF_ERROR(base_->Allocate(offset, len));
      size_ = offset + len;
      return Status::Ok();
    }
    return base_->Allocate(offset, len);
  }
  Status Truncate(std::uint64_t size) override {
    PDAI_RETURN_IF_ERROR(fs_->MaybeFail(FaultOp::kTruncate, path()));
    PDAI_RETURN_IF_ERROR(base_->Flush());
    std::string cut = size < size_ ? ReadOld(size, size_ - size) : std::string();
    fs_->RecordTruncate(*state_, size_, std::move(cut));
    PDAI_RETURN_IF_ERROR(base_->Truncate(size));
    size_ = size;
    return Status::Ok();
  }
  Status Flush() override {
    PDAI_RETURN_IF_ERROR(fs_->MaybeFail(FaultOp::kWrite, path()));
    return base_->Flush();
  }
  Status Sync() override {
    PDAI_RETURN_IF_ERROR(fs_->MaybeFail(FaultOp::kSync, path()));
    PDAI_RETURN_IF_ERROR(base_->Sync());
    fs_->RecordSync(*state_);
    return Status::Ok();
  }
  Status Close() override { return base_->Close(); }
  int fd() const override { return base_->fd(); }

 private:
  std::string ReadOld(std::uint64_t offset, std::uint64_t len) {
    if (offset >= size_) return {};
    len = std::min(len, size_ - offset);
    std::string old(len, '\0');
    ssize_t r = ::pread(base_->fd(), old.data(), len, static_cast<off_t>(offset));
    if (r < 0) std::abort();  // the undo log would be wrong: a test harness bug
    old.resize(static_cast<std::size_t>(r));
    return old;
  }

  std::string path() const { return fs_->PathOf(*state_); }

  FaultInjectionFileSystem* fs_;
  std::shared_ptr<FaultInjectionFileSystem::FileState> state_;
  std::unique_ptr<WritableFile> base_;
  std::uint64_t size_;  // logical size, including buffered appends
};

}  // namespace

FaultInjectionFileSystem::FaultInjectionFileSystem(FileSystem* base) : base_(base) {}
FaultInjectionFileSystem::~FaultInjectionFileSystem() = default;

void FaultInjectionFileSystem::InjectFault(FaultRule rule) {
  std::lock_guard lock(mu_);
  rules_.push_back(std::move(rule));
}

void FaultInjectionFileSystem::set_strict_directories(bool strict) {
  std::lock_guard lock(mu_);
  strict_directories_ = strict;
}

void FaultInjectionFileSystem::ClearFaults() {
  std::lock_guard lock(mu_);
  rules_.clear();
}

std::uint64_t FaultInjectionFileSystem::CallCount(FaultOp op) const {
  std::lock_guard lock(mu_);
  auto it = calls_.find(op);
  return it == calls_.end() ? 0 : it->second;
}

std::uint64_t FaultInjectionFileSystem::InjectedCount() const {
  std::lock_guard lock(mu_);
  return injected_;
}

void FaultInjectionFileSystem::SetHook(FaultOp op, std::function<void(const std::string& path)> hook) {
  std::lock_guard lock(mu_);
  if (hook) {
    hooks_[op] = std::move(hook);
  } else {
    hooks_.erase(op);
  }
}

Status FaultInjectionFileSystem::MaybeFail(FaultOp op, const std::string& path, bool* short_write) {
  std::function<void(const std::string&)> hook;
  {
    std::lock_guard lock(mu_);
    auto it = hooks_.find(op);
    if (it != hooks_.end()) hook = it->second;
  }
  if (hook) hook(path);
  std::lock_guard lock(mu_);
  ++calls_[op];
  for (auto& rule : rules_) {
    if (rule.op != op || rule.count == 0) continue;
    if (!rule.path_contains.empty() && path.find(rule.path_contains) == std::string::npos) continue;
    if (rule.skip > 0) {
      --rule.skip;
      continue;
    }
    if (rule.count > 0) --rule.count;
    ++injected_;
    if (short_write != nullptr) *short_write = rule.short_write;
    return ErrorFor(rule.code, op, path);
  }
  return Status::Ok();
}

std::shared_ptr<FaultInjectionFileSystem::FileState> FaultInjectionFileSystem::StateFor(const std::string& path) {
  std::lock_guard lock(mu_);
  auto& state = files_[path];
  if (!state) {
    state = std::make_shared<FileState>();
    state->path = path;
  }
  return state;
}

std::string FaultInjectionFileSystem::PathOf(const FileState& state) const {
  std::lock_guard lock(mu_);
  return state.path;
}

void FaultInjectionFileSystem::RecordWrite(FileState& state, std::uint64_t offset, std::uint64_t len,
                                           std::string old_bytes, std::uint64_t old_size) {
  std::lock_guard lock(mu_);
  state.undo.push_back(UndoEntry{offset, std::move(old_bytes), old_size, offset + len});
}

void FaultInjectionFileSystem::RecordTruncate(FileState& state, std::uint64_t old_size, std::string cut_bytes) {
  std::lock_guard lock(mu_);
  std::uint64_t new_size = old_size - cut_bytes.size();
  state.undo.push_back(UndoEntry{new_size, std::move(cut_bytes), old_size, new_size});
}

void FaultInjectionFileSystem::RecordSync(FileState& state) {
  std::lock_guard lock(mu_);
  state.undo.clear();
}

Status FaultInjectionFileSystem::DropUnsyncedData() { return Restore(false, 0); }
Status FaultInjectionFileSystem::TearUnsyncedData(std::uint64_t seed) { return Restore(true, seed); }

Status FaultInjectionFileSystem::Restore(bool tear, std::uint64_t seed) {
  std::lock_guard lock(mu_);
  std::mt19937_64 rng(seed);
  constexpr std::uint64_t kSector = 512;
  for (auto& [path, state] : files_) {
    if (!base_->FileExists(path)) continue;
    auto file = base_->NewAppendableFile(path);
    if (!file.ok()) return file.status();
    auto& w = **file;
    for (auto it = state->undo.rbegin(); it != state->undo.rend(); ++it) {
      const UndoEntry& e = *it;
      if (!tear) {
        if (!e.old_bytes.empty()) PDAI_RETURN_IF_ERROR(w.WriteAt(e.offset, e.old_bytes));
        PDAI_RETURN_IF_ERROR(w.Truncate(e.old_size));
        continue;
      }
      // Torn: each sector of the write independently survived or not; bytes past
      // the old end survive up to a random sector boundary.
      for (std::uint64_t pos = 0; pos < e.old_bytes.size(); pos += kSector) {
        if (rng() & 1) continue;  // this sector reached the disk
        auto n = std::min<std::uint64_t>(kSector, e.old_bytes.size() - pos);
        PDAI_RETURN_IF_ERROR(w.WriteAt(e.offset + pos, std::string_view(e.old_bytes).substr(pos, n)));
      }
      if (e.new_end > e.old_size) {
        std::uint64_t extra = e.new_end - e.old_size;
        std::uint64_t keep = (rng() % (extra / kSector + 1)) * kSector;
        PDAI_RETURN_IF_ERROR(w.Truncate(std::min(e.old_size + keep, e.new_end)));
      }
    }
    state->undo.clear();
    PDAI_RETURN_IF_ERROR(w.Sync());
    PDAI_RETURN_IF_ERROR(w.Close());
  }
  if (strict_directories_) {
    for (auto it = unsynced_renames_.rbegin(); it != unsynced_renames_.rend(); ++it) {
      if (base_->FileExists(it->second)) PDAI_RETURN_IF_ERROR(base_->RenameFile(it->second, it->first));
    }
    for (const auto& path : unsynced_new_files_) {
      if (base_->FileExists(path)) PDAI_RETURN_IF_ERROR(base_->RemoveFile(path));
      files_.erase(path);
    }
    for (const auto& dir : unsynced_new_dirs_) {
      if (!base_->FileExists(dir)) continue;
      PDAI_RETURN_IF_ERROR(RemoveTree(base_, dir));
      const std::string prefix = dir + "/";
      std::erase_if(files_, [&](const auto& f) { return f.first.starts_with(prefix); });
    }
  }
  unsynced_renames_.clear();
  unsynced_new_files_.clear();
  unsynced_new_dirs_.clear();
  return Status::Ok();
}

Result<std::unique_ptr<SequentialFile>> FaultInjectionFileSystem::NewSequentialFile(const std::string& path) {
  auto base = base_->NewSequentialFile(path);
  if (!base.ok()) return base.status();
  return std::unique_ptr<SequentialFile>(new FaultSequentialFile(this, path, std::move(*base)));
}

Result<std::unique_ptr<RandomAccessFile>> FaultInjectionFileSystem::NewRandomAccessFile(const std::string& path) {
  auto base = base_->NewRandomAccessFile(path);
  if (!base.ok()) return base.status();
  return std::unique_ptr<RandomAccessFile>(new FaultRandomAccessFile(this, path, std::move(*base)));
}

Result<std::unique_ptr<WritableFile>> FaultInjectionFileSystem::NewWritableFile(const std::string& path) {
  PDAI_RETURN_IF_ERROR(MaybeFail(FaultOp::kCreate, path));
  bool existed = base_->FileExists(path);
  std::uint64_t old_size = 0;
  std::string old_content;
  if (existed) {
    auto content = ReadFileToString(base_, path);
    if (content.ok()) old_content = std::move(*content);
    old_size = old_content.size();
  }
  auto base = base_->NewWritableFile(path);
  if (!base.ok()) return base.status();
  {
    std::lock_guard lock(mu_);
    if (!existed) unsynced_new_files_.insert(path);
  }
  auto file = std::make_unique<FaultWritableFile>(this, path, std::move(*base), 0);
  if (existed) RecordTruncate(*StateFor(path), old_size, std::move(old_content));
  return std::unique_ptr<WritableFile>(std::move(file));
}

Result<std::unique_ptr<WritableFile>> FaultInjectionFileSystem::NewAppendableFile(const std::string& path) {
  PDAI_RETURN_IF_ERROR(MaybeFail(FaultOp::kCreate, path));
  bool existed = base_->FileExists(path);
  std::uint64_t size = 0;
  if (existed) {
    auto s = base_->GetFileSize(path);
    if (!s.ok()) return s.status();
    size = *s;
  }
  auto base = base_->NewAppendableFile(path);
  if (!base.ok()) return base.status();
  if (!existed) {
    std::lock_guard lock(mu_);
    unsynced_new_files_.insert(path);
  }
  return std::unique_ptr<WritableFile>(new FaultWritableFile(this, path, std::move(*base), size));
}

bool FaultInjectionFileSystem::FileExists(const std::string& path) { return base_->FileExists(path); }

Result<std::vector<std::string>> FaultInjectionFileSystem::GetChildren(const std::string& dir) {
  return base_->GetChildren(dir);
}

Status FaultInjectionFileSystem::RemoveFile(const std::string& path) {
  PDAI_RETURN_IF_ERROR(MaybeFail(FaultOp::kRemove, path));
  PDAI_RETURN_IF_ERROR(base_->RemoveFile(path));
  std::lock_guard lock(mu_);
  auto it = files_.find(path);
  if (it != files_.end()) {
    it->second->path.clear();
    files_.erase(it);
  }
  unsynced_new_files_.erase(path);
  return Status::Ok();
}

Status FaultInjectionFileSystem::CreateDir(const std::string& dir) {
  const bool existed = base_->FileExists(dir);
  if (!existed) PDAI_RETURN_IF_ERROR(MaybeFail(FaultOp::kCreate, dir));  // only a creation can fail as one
  PDAI_RETURN_IF_ERROR(base_->CreateDir(dir));
  if (!existed) {
    std::lock_guard lock(mu_);
    unsynced_new_dirs_.insert(dir);
  }
  return Status::Ok();
}

Status FaultInjectionFileSystem::RemoveDir(const std::string& dir) {
  PDAI_RETURN_IF_ERROR(MaybeFail(FaultOp::kRemove, dir));
  return base_->RemoveDir(dir);
}

Result<std::uint64_t> FaultInjectionFileSystem::GetFileSize(const std::string& path) {
  return base_->GetFileSize(path);
}

Status FaultInjectionFileSystem::LinkFile(const std::string& from, const std::string& to) {
  PDAI_RETURN_IF_ERROR(MaybeFail(FaultOp::kCreate, to));
  return base_->LinkFile(from, to);
}

Status FaultInjectionFileSystem::RenameFile(const std::string& from, const std::string& to) {
  PDAI_RETURN_IF_ERROR(MaybeFail(FaultOp::kRename, to));
  PDAI_RETURN_IF_ERROR(base_->RenameFile(from, to));
  std::lock_guard lock(mu_);
  auto it = files_.find(from);
  if (it != files_.end()) {
    auto state = std::move(it->second);
    files_.erase(it);
    state->path = to;
    files_[to] = std::move(state);
  }
  unsynced_renames_.emplace_back(from, to);
  return Status::Ok();
}

Status FaultInjectionFileSystem::SyncDir(const std::string& dir) {
  PDAI_RETURN_IF_ERROR(MaybeFail(FaultOp::kSyncDir, dir));
  PDAI_RETURN_IF_ERROR(base_->SyncDir(dir));
  std::lock_guard lock(mu_);
  auto in_dir = [&](const std::string& path) { return DirName(path) == dir || DirName(path) + "/" == dir; };
  std::erase_if(unsynced_new_files_, in_dir);
  std::erase_if(unsynced_new_dirs_, in_dir);
  std::erase_if(unsynced_renames_, [&](const auto& r) { return in_dir(r.second); });
  return Status::Ok();
}

Status FaultInjectionFileSystem::TruncateFile(const std::string& path, std::uint64_t size) {
  PDAI_RETURN_IF_ERROR(MaybeFail(FaultOp::kTruncate, path));
  auto old = base_->GetFileSize(path);
  if (!old.ok()) return old.status();
  std::string cut;
  if (size < *old) {
    auto content = ReadFileToString(base_, path);
    if (!content.ok()) return content.status();
    cut = content->substr(size);
  }
  PDAI_RETURN_IF_ERROR(base_->TruncateFile(path, size));
  RecordTruncate(*StateFor(path), *old, std::move(cut));
  return Status::Ok();
}

Result<std::unique_ptr<FileLock>> FaultInjectionFileSystem::LockFile(const std::string& path) {
  return base_->LockFile(path);
}

std::uint64_t FaultInjectionFileSystem::NowMicros() { return base_->NowMicros(); }
std::uint64_t FaultInjectionFileSystem::WallClockMicros() { return base_->WallClockMicros(); }

}  // namespace postdevai::storage
