// What the fuzz targets share: a scratch directory for the files an input
// becomes, the check that turns a broken promise of the code under test into
// a crash libFuzzer keeps the input of, and the little-endian cutting of an
// input into parts. Header-only; no CAF, so the storage targets stay quick to
// build.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>

namespace postdevai::fuzz {

// Reports a property the code under test promises and this input broke, then
// aborts: libFuzzer saves the input as a crash.
[[noreturn]] inline void Fail(std::string_view what) {
  std::fprintf(stderr, "fuzz: property violated: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

// A directory of this process, removed with its contents at exit, beneath
// $POSTDEVAI_FUZZ_TMPDIR (scripts/fuzz.sh makes one per run and removes it
// even after a crash), else beneath /dev/shm: on tmpfs the fsyncs of the WAL
// and the engine cost nothing, so an input takes microseconds, not a disk
// sync. What these targets look for (parsing, bounds, recovery logic) does
// not depend on the disk.
class ScratchDir {
 public:
  explicit ScratchDir(std::string_view tag) {
    const char* root = std::getenv("POSTDEVAI_FUZZ_TMPDIR");
    path_ = std::string(root != nullptr && *root != '\0' ? root : "/dev/shm") + "/postdevai-fuzz-" +
            std::string(tag) + "-" + std::to_string(::getpid());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(std::string_view name) const { return path_ + "/" + std::string(name); }

  // Empties the directory for the next input.
  void Clear() const {
    for (const auto& entry : std::filesystem::directory_iterator(path_)) std::filesystem::remove_all(entry.path());
  }

 private:
  std::string path_;
};

// Reads an input from the front: fixed-width little-endian integers and
// length-prefixed parts. Past the end, integers read as zero and parts as
// empty, so every input means something.
class InputReader {
 public:
  InputReader(const std::uint8_t* data, std::size_t size) : rest_(reinterpret_cast<const char*>(data), size) {}

  template <class T>
  T Fixed() {
    T value = 0;
    const std::size_t n = std::min(sizeof(T), rest_.size());
    std::memcpy(&value, rest_.data(), n);  // little-endian: the machines are x86
    rest_.remove_prefix(n);
    return value;
  }
  // A u32 length, then that many bytes (fewer when the input ends first).
  std::string_view LengthPrefixed() {
    const std::size_t n = std::min<std::size_t>(Fixed<std::uint32_t>(), rest_.size());
    std::string_view part = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return part;
  }
  std::string_view Rest() {
    std::string_view part = rest_;
    rest_ = {};
    return part;
  }
  bool empty() const { return rest_.empty(); }

 private:
  std::string_view rest_;
};

// For LLVMFuzzerInitialize: appends a libFuzzer flag ("-name=value") to the
// command line unless the command line sets that flag already (it wins).
// libFuzzer parses its flags after LLVMFuzzerInitialize returns.
inline void AddFlagUnlessGiven(int* argc, char*** argv, const char* flag) {
  const std::string_view name(flag, std::strcspn(flag, "=") + 1);
  for (int i = 1; i < *argc; ++i) {
    if (std::string_view((*argv)[i]).substr(0, name.size()) == name) return;
  }
  char** args = new char*[*argc + 2];  // lives as long as the process
  for (int i = 0; i < *argc; ++i) args[i] = (*argv)[i];
  args[*argc] = const_cast<char*>(flag);
  args[*argc + 1] = nullptr;
  ++*argc;
  *argv = args;
}

}  // namespace postdevai::fuzz
