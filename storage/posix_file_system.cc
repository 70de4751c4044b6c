// POSIX implementation of the FileSystem seam.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "storage/file_system.h"

#include <algorithm>
#include <limits>

#include "storage/crc32c.h"

namespace postdevai::storage {

Status StatusFromErrno(int err, std::string_view op, std::string_view path) {
  std::string msg(op);
  msg += " ";
  msg += path;
  msg += ": ";
  msg += std::strerror(err);
  switch (err) {
    case ENOSPC:
    case EDQUOT: return Status::NoSpace(std::move(msg));
    case ENOENT: return Status::NotFound(std::move(msg));
    case EWOULDBLOCK: return Status::Busy(std::move(msg));
    default: return Status::IoError(std::move(msg));
  }
}

std::string JoinPath(std::string_view dir, std::string_view name) {
  std::string p(dir);
  if (!p.empty() && p.back() != '/') p += '/';
  p += name;
  return p;
}

namespace {

class PosixSequentialFile final : public SequentialFile {
 public:
  PosixSequentialFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixSequentialFile() override { ::close(fd_); }
  Status Read(std::size_t n, char* scratch, std::string_view* out) override {
    std::size_t got = 0;
    while (got < n) {
      ssize_t r = ::read(fd_, scratch + got, n - got);
      if (r < 0) {
        if (errno == EINTR) continue;
        return StatusFromErrno(errno, "read", path_);
      }
      if (r == 0) break;
      got += static_cast<std::size_t>(r);
    }
    *out = std::string_view(scratch, got);
    return Status::Ok();
  }
  Status Skip(std::uint64_t n) override {
    if (::lseek(fd_, static_cast<off_t>(n), SEEK_CUR) < 0) return StatusFromErrno(errno, "seek", path_);
    return Status::Ok();
  }

 private:
  std::string path_;
  int fd_;
};

class PosixRandomAccessFile final : public RandomAccessFile {
 public:
  PosixRandomAccessFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixRandomAccessFile() override { ::close(fd_); }
  Status Read(std::uint64_t offset, std::size_t n, char* scratch, std::string_view* out) const override {
    std::size_t got = 0;
    while (got < n) {
      ssize_t r = ::pread(fd_, scratch + got, n - got, static_cast<off_t>(offset + got));
      if (r < 0) {
        if (errno == EINTR) continue;
        return StatusFromErrno(errno, "read", path_);
      }
      if (r == 0) break;
      got += static_cast<std::size_t>(r);
    }
    *out = std::string_view(scratch, got);
    return Status::Ok();
  }

 private:
  std::string path_;
  int fd_;
};

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) (void)Close();
  }
  Status Append(std::string_view data) override {
    // Small appends are buffered; big ones go straight through.
    if (buffer_.size() + data.size() > kBufferSize) {
      PDAI_RETURN_IF_ERROR(Flush());
      if (data.size() >= kBufferSize) return WriteAll(data);
    }
    buffer_.append(data);
    return Status::Ok();
  }
  Status WriteAt(std::uint64_t offset, std::string_view data) override {
    PDAI_RETURN_IF_ERROR(Flush());
    std::size_t done = 0;
    while (done < data.size()) {
      ssize_t r = ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return StatusFromErrno(errno, "write", path_);
      }
      done += static_cast<std::size_t>(r);
    }
    return Status::Ok();
  }
  Status Allocate(std::uint64_t offset, std::uint64_t len) override {
    int r = ::posix_fallocate(fd_, static_cast<off_t>(offset), static_cast<off_t>(len));
    if (r != 0) return StatusFromErrno(r, "allocate", path_);
    return Status::Ok();
  }
  Status Truncate(std::uint64_t size) override {
    PDAI_RETURN_IF_ERROR(Flush());
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) return StatusFromErrno(errno, "truncate", path_);
    return Status::Ok();
  }
  Status Flush() override {
    if (buffer_.empty()) return Status::Ok();
    Status s = WriteAll(buffer_);
    buffer_.clear();
    return s;
  }
  Status Sync() override {
    PDAI_RETURN_IF_ERROR(Flush());
    if (::fdatasync(fd_) != 0) return StatusFromErrno(errno, "sync", path_);
    return Status::Ok();
  }
  Status Close() override {
    Status s = Flush();
    if (fd_ >= 0 && ::close(fd_) != 0 && s.ok()) s = StatusFromErrno(errno, "close", path_);
    fd_ = -1;
    return s;
  }
  int fd() const override { return fd_; }

 private:
  static constexpr std::size_t kBufferSize = 64 * 1024;
  Status WriteAll(std::string_view data) {
    std::size_t done = 0;
    while (done < data.size()) {
      ssize_t r = ::write(fd_, data.data() + done, data.size() - done);
      if (r < 0) {
        if (errno == EINTR) continue;
        return StatusFromErrno(errno, "write", path_);
      }
      done += static_cast<std::size_t>(r);
    }
    return Status::Ok();
  }
  std::string path_;
  int fd_;
  std::string buffer_;
};

struct PosixFileLock final : FileLock {
  explicit PosixFileLock(int fd) : fd(fd) {}
  ~PosixFileLock() override {
    ::flock(fd, LOCK_UN);
    ::close(fd);
  }
  int fd;
};

class PosixFileSystem final : public FileSystem {
 public:
  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return StatusFromErrno(errno, "open", path);
    return std::unique_ptr<SequentialFile>(new PosixSequentialFile(path, fd));
  }
  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return StatusFromErrno(errno, "open", path);
    return std::unique_ptr<RandomAccessFile>(new PosixRandomAccessFile(path, fd));
  }
  // Owner-only modes (0600 files, 0700 directories) given to open/mkdir
  // themselves: no window in which another user can open a new file, and no
  // process-wide umask to change.
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return StatusFromErrno(errno, "create", path);
    return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd));
  }
  Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) override {
    // Not O_APPEND: on Linux pwrite ignores its offset on O_APPEND files, and
    // WriteAt must be able to overwrite in place.
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return StatusFromErrno(errno, "open", path);
    if (::lseek(fd, 0, SEEK_END) < 0) {
      int err = errno;
      ::close(fd);
      return StatusFromErrno(err, "seek", path);
    }
    return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd));
  }
  bool FileExists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }
  Result<std::vector<std::string>> GetChildren(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return StatusFromErrno(errno, "list", dir);
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
      std::string_view n(e->d_name);
      if (n == "." || n == "..") continue;
      names.emplace_back(n);
    }
    ::closedir(d);
    return names;
  }
  Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return StatusFromErrno(errno, "remove", path);
    return Status::Ok();
  }
  Status CreateDir(const std::string& dir) override {
    if (::mkdir(dir.c_str(), 0700) == 0) return Status::Ok();
    if (errno != EEXIST) return StatusFromErrno(errno, "create directory", dir);
    struct stat st;
    if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return Status::Ok();
    return Status::InvalidArgument("create directory " + dir + ": a file of that name exists");
  }
  Status RemoveDir(const std::string& dir) override {
    if (::rmdir(dir.c_str()) != 0) return StatusFromErrno(errno, "remove directory", dir);
    return Status::Ok();
  }
  Result<std::uint64_t> GetFileSize(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return StatusFromErrno(errno, "stat", path);
    return static_cast<std::uint64_t>(st.st_size);
  }
  Status RenameFile(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return StatusFromErrno(errno, "rename " + from + " to", to);
    return Status::Ok();
  }
  Status LinkFile(const std::string& from, const std::string& to) override {
    if (::link(from.c_str(), to.c_str()) != 0) return StatusFromErrno(errno, "link " + from + " to", to);
    return Status::Ok();
  }
  Status SyncDir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return StatusFromErrno(errno, "open directory", dir);
    Status s;
    if (::fsync(fd) != 0) s = StatusFromErrno(errno, "sync directory", dir);
    ::close(fd);
    return s;
  }
  Status TruncateFile(const std::string& path, std::uint64_t size) override {
    if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0) return StatusFromErrno(errno, "truncate", path);
    return Status::Ok();
  }
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return StatusFromErrno(errno, "open lock file", path);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK) return Status::Busy("lock " + path + ": held by another process");
      return StatusFromErrno(err, "lock", path);
    }
    return std::unique_ptr<FileLock>(new PosixFileLock(fd));
  }
  std::uint64_t NowMicros() override {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now().time_since_epoch()).count());
  }
  std::uint64_t WallClockMicros() override {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::system_clock::now().time_since_epoch()).count());
  }
};

}  // namespace

Status FileSystem::CreateDirs(const std::string& path) {
  std::string dir = path;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (dir.empty()) return Status::Ok();
  if (FileExists(dir)) return CreateDir(dir);  // ok for a directory, an error for a file
  auto slash = dir.find_last_of('/');
  const std::string parent = slash == std::string::npos ? "." : (slash == 0 ? "/" : dir.substr(0, slash));
  if (slash != std::string::npos && slash > 0) PDAI_RETURN_IF_ERROR(CreateDirs(parent));
  PDAI_RETURN_IF_ERROR(CreateDir(dir));
  // The new directory is an entry in its parent: until the parent is synced a
  // power cut may take it away, and every file synced into it with it.
  return SyncDir(parent).WithContext("creating directory " + dir);
}

FileSystem* FileSystem::Default() {
  static PosixFileSystem* fs = new PosixFileSystem();
  return fs;
}

Status ReadFilePrefixInto(FileSystem* fs, const std::string& path, std::uint64_t max_bytes, std::string* data) {
  auto size = fs->GetFileSize(path);
  if (!size.ok()) return size.status();
  auto file = fs->NewRandomAccessFile(path);
  if (!file.ok()) return file.status();
  data->resize(std::min(*size, max_bytes));
  std::string_view got;
  PDAI_RETURN_IF_ERROR((*file)->Read(0, data->size(), data->data(), &got));
  if (got.data() != data->data()) std::memmove(data->data(), got.data(), got.size());
  data->resize(got.size());
  return Status::Ok();
}

Result<std::string> ReadFileToString(FileSystem* fs, const std::string& path) {
  std::string data;
  PDAI_RETURN_IF_ERROR(ReadFilePrefixInto(fs, path, std::numeric_limits<std::uint64_t>::max(), &data));
  return data;
}

Status WriteFileAtomically(FileSystem* fs, const std::string& path, std::string_view data) {
  std::string tmp = path + ".tmp";
  auto file = fs->NewWritableFile(tmp);
  if (!file.ok()) return file.status();
  Status s = (*file)->Append(data);
  if (s.ok()) s = (*file)->Sync();
  Status c = (*file)->Close();
  if (s.ok()) s = c;
  if (s.ok()) s = fs->RenameFile(tmp, path);
  if (!s.ok()) {
    (void)fs->RemoveFile(tmp);
    return s;
  }
  return fs->SyncDir(DirName(path));
}

Status RemoveTree(FileSystem* fs, const std::string& dir) {
  auto children = fs->GetChildren(dir);
  if (!children.ok()) return children.status();
  for (const auto& name : *children) {
    const std::string path = JoinPath(dir, name);
    if (!fs->RemoveFile(path).ok()) PDAI_RETURN_IF_ERROR(RemoveTree(fs, path));  // a directory
  }
  return fs->RemoveDir(dir);
}

std::string DirName(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
}

Status CopyFile(FileSystem* fs, const std::string& from, const std::string& to, CopiedFile* copied,
                std::uint64_t max_bytes) {
  auto size = fs->GetFileSize(from);
  if (!size.ok()) return size.status();
  auto in = fs->NewSequentialFile(from);
  if (!in.ok()) return in.status();
  auto out = fs->NewWritableFile(to);
  if (!out.ok()) return out.status();
  std::uint64_t left = std::min(*size, max_bytes);
  std::uint32_t crc = 0;
  std::string scratch(std::min<std::uint64_t>(left, 1u << 20), '\0');
  Status s;
  while (left > 0 && s.ok()) {
    std::string_view chunk;
    s = (*in)->Read(static_cast<std::size_t>(std::min<std::uint64_t>(left, scratch.size())), scratch.data(), &chunk);
    if (!s.ok()) break;
    if (chunk.empty()) {
      s = Status::IoError("copy " + from + ": the file shrank while it was copied");
      break;
    }
    crc = crc32c::Extend(crc, chunk.data(), chunk.size());
    s = (*out)->Append(chunk);
    left -= chunk.size();
  }
  if (s.ok()) s = (*out)->Sync();
  Status c = (*out)->Close();
  if (s.ok()) s = c;
  if (!s.ok()) {
    (void)fs->RemoveFile(to);
    return s.WithContext("copying " + from + " to " + to);
  }
  if (copied != nullptr) *copied = CopiedFile{std::min(*size, max_bytes), crc};
  return Status::Ok();
}

Result<CopiedFile> ChecksumFile(FileSystem* fs, const std::string& path,
                                const std::function<void(std::uint64_t bytes)>& progress) {
  auto in = fs->NewSequentialFile(path);
  if (!in.ok()) return in.status();
  CopiedFile sum;
  std::string scratch(1u << 20, '\0');
  for (;;) {
    std::string_view chunk;
    PDAI_RETURN_IF_ERROR((*in)->Read(scratch.size(), scratch.data(), &chunk));
    if (chunk.empty()) return sum;
    sum.crc32c = crc32c::Extend(sum.crc32c, chunk.data(), chunk.size());
    sum.bytes += chunk.size();
    if (progress) progress(sum.bytes);
  }
}

Status MoveFile(FileSystem* fs, const std::string& from, const std::string& to) {
  if (!fs->RenameFile(from, to).ok()) {
    // Another file system (EXDEV), most likely: copy, then remove.
    PDAI_RETURN_IF_ERROR(CopyFile(fs, from, to));
    PDAI_RETURN_IF_ERROR(fs->SyncDir(DirName(to)));
    PDAI_RETURN_IF_ERROR(fs->RemoveFile(from));
    return fs->SyncDir(DirName(from));
  }
  PDAI_RETURN_IF_ERROR(fs->SyncDir(DirName(to)));
  return fs->SyncDir(DirName(from));
}

}  // namespace postdevai::storage
