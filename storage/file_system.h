// The one seam through which every byte of PostDevAI's files and every reading
// of the clock passes (modelled on leveldb::Env). Production code uses
// FileSystem::Default(); tests swap in a FaultInjectionFileSystem to inject
// ENOSPC, EIO, short writes and power cuts. LevelDB itself is routed through
// the same seam by storage/leveldb_env.h.
//
// Errors: every call returns a Status whose message names the path and the
// failing operation; ENOSPC/EDQUOT map to kNoSpace, ENOENT to kNotFound,
// everything else to kIoError.
// Thread-safety: FileSystem methods are thread-safe. A file object may be used
// by one thread at a time, except RandomAccessFile::Read, which is thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "postdevai/status.h"

namespace postdevai::storage {

class SequentialFile {
 public:
  virtual ~SequentialFile() = default;
  // Reads up to n bytes into scratch; *out views the bytes read (fewer at EOF,
  // empty at EOF).
  virtual Status Read(std::size_t n, char* scratch, std::string_view* out) = 0;
  virtual Status Skip(std::uint64_t n) = 0;
};

class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;
  // Reads up to n bytes at offset; *out may point into scratch. Thread-safe.
  virtual Status Read(std::uint64_t offset, std::size_t n, char* scratch,
                      std::string_view* out) const = 0;
};

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Appends at the current end of the file (may buffer until Flush/Sync).
  virtual Status Append(std::string_view data) = 0;
  // Writes at an absolute offset (pwrite), unbuffered. Used to overwrite
  // pre-zeroed WAL segments so that fdatasync need not update metadata.
  virtual Status WriteAt(std::uint64_t offset, std::string_view data) = 0;
  // Reserves [offset, offset+len) on disk (fallocate): a full disk fails here,
  // not later.
  virtual Status Allocate(std::uint64_t offset, std::uint64_t len) = 0;
  virtual Status Truncate(std::uint64_t size) = 0;
  // Hands buffered appends to the OS (no durability).
  virtual Status Flush() = 0;
  // Makes every byte written so far durable (fdatasync). A failed Sync leaves
  // the file's durable state unknown: callers must not retry and acknowledge.
  virtual Status Sync() = 0;
  virtual Status Close() = 0;
  // The OS file descriptor (opened read-write, so it can be mmap'ed), or -1
  // for files that have none.
  virtual int fd() const = 0;
};

struct FileLock {
  virtual ~FileLock() = default;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // The process-wide POSIX file system. Never deleted.
  static FileSystem* Default();

  virtual Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) = 0;
  virtual Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path) = 0;
  // Creates or truncates. Files are created 0600 and directories 0700 (see
  // CreateDir): they hold users' code and session history, for their owner
  // only. An existing file or directory keeps its mode.
  virtual Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) = 0;
  // Opens an existing file (or creates it, 0600) positioned at its end;
  // WriteAt may overwrite anywhere in it.
  virtual Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) = 0;

  virtual bool FileExists(const std::string& path) = 0;
  // Names (not paths) of the entries of dir, without "." and "..".
  virtual Result<std::vector<std::string>> GetChildren(const std::string& dir) = 0;
  virtual Status RemoveFile(const std::string& path) = 0;
  // Creates one directory (mode 0700) whose parent exists (mkdir); ok when a
  // directory of that name exists, kInvalidArgument when a file does. Not
  // durable by itself: the new entry is in the parent, which must be synced
  // (CreateDirs does that).
  virtual Status CreateDir(const std::string& dir) = 0;
  // Creates dir and any missing parents (ok when it exists), through
  // CreateDir, durably: after creating a directory it syncs its parent
  // (SyncDir), so that a power cut cannot take away a directory, and the files
  // synced into it, after CreateDirs returned. A directory that exists is
  // taken as it is. On error, the directories created so far stay.
  Status CreateDirs(const std::string& dir);
  virtual Status RemoveDir(const std::string& dir) = 0;
  virtual Result<std::uint64_t> GetFileSize(const std::string& path) = 0;
  virtual Status RenameFile(const std::string& from, const std::string& to) = 0;
  // A second name `to` for the file `from` (link(2)): both then name the same
  // bytes. Fails (kIoError) across file systems, and where links are not
  // supported; callers fall back to CopyFile. Durable once `to`'s directory
  // is synced.
  virtual Status LinkFile(const std::string& from, const std::string& to) = 0;
  // fsync of a directory: makes creations, renames and removals in it durable.
  virtual Status SyncDir(const std::string& dir) = 0;
  virtual Status TruncateFile(const std::string& path, std::uint64_t size) = 0;
  // An exclusive advisory lock (flock) on path, created (0600) if missing;
  // kBusy when another process holds it.
  virtual Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) = 0;

  // Microseconds since an arbitrary epoch (monotonic) and since the Unix epoch.
  virtual std::uint64_t NowMicros() = 0;
  virtual std::uint64_t WallClockMicros() = 0;
};

// Maps an errno value to a Status naming the operation and the path.
Status StatusFromErrno(int err, std::string_view op, std::string_view path);

// Joins a directory and a name with one '/'.
std::string JoinPath(std::string_view dir, std::string_view name);

// Reads a whole file through fs: one read, straight into a string of the
// file's size.
Result<std::string> ReadFileToString(FileSystem* fs, const std::string& path);

// The file's first max_bytes (all of it, at most) into *data, whose capacity
// is reused (WAL recovery reads one segment after another into one buffer).
Status ReadFilePrefixInto(FileSystem* fs, const std::string& path, std::uint64_t max_bytes, std::string* data);

// Writes data to path atomically and durably: temp file, Sync, rename, SyncDir.
Status WriteFileAtomically(FileSystem* fs, const std::string& path, std::string_view data);

// What CopyFile copied.
struct CopiedFile {
  std::uint64_t bytes = 0;
  std::uint32_t crc32c = 0;  // of the bytes copied
};
// Copies the first `max_bytes` bytes of `from` (all of it by default) into a
// new file `to` (truncated if it exists) and syncs it; the caller syncs
// `to`'s directory. Works across file systems. Reads in 1 MiB pieces, so a
// file that grows meanwhile is copied up to the size it had when the copy
// began (or max_bytes). The CRC32C of what was copied goes to *copied.
Status CopyFile(FileSystem* fs, const std::string& from, const std::string& to, CopiedFile* copied = nullptr,
                std::uint64_t max_bytes = UINT64_MAX);
// The size and CRC32C of a file's bytes, read in 1 MiB pieces. `progress`
// (may be null) is told the bytes read so far.
Result<CopiedFile> ChecksumFile(FileSystem* fs, const std::string& path,
                                const std::function<void(std::uint64_t bytes)>& progress = {});
// Moves `from` to `to` durably: a rename on one file system, else a copy
// (synced) and the removal of `from`; then both directories are synced.
Status MoveFile(FileSystem* fs, const std::string& from, const std::string& to);
// Removes dir and everything in it.
Status RemoveTree(FileSystem* fs, const std::string& dir);
// The directory part of a path ("." when it has none).
std::string DirName(const std::string& path);

}  // namespace postdevai::storage
