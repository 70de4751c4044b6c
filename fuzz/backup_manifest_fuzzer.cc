// Fuzz target: a backup's manifest (storage/backup.h) read from disk, and
// what the CLI and a restore do with one that parses.
//
// Input: the bytes of the BACKUP file. Flag: when the input has no valid end
// line, the target also tries it with one appended (its CRC32C computed), so
// that mutations reach the line parser behind the checksum.
//
// Checked beyond "no crash, no out-of-bounds read, no hang":
//   * a manifest that parses names only relative paths inside the backup
//     (no "..", no leading '/'): verification never reads outside it;
//   * verifying it (its files are absent) reports one problem per file and
//     never succeeds;
//   * ListBackups on its parent lists it exactly when it parses.
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <string>

#include "fuzz/fuzz_harness.h"
#include "storage/backup.h"
#include "storage/crc32c.h"

namespace {

using postdevai::fuzz::Fail;
using postdevai::fuzz::ScratchDir;
namespace storage = postdevai::storage;

void Check(const ScratchDir& scratch, const std::string& text) {
  scratch.Clear();
  const std::string dir = scratch / "backup-fuzz";
  std::filesystem::create_directories(dir);
  {
    std::ofstream out(dir + "/BACKUP", std::ios::binary);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
  }
  storage::FileSystem* fs = storage::FileSystem::Default();
  auto manifest = storage::ReadBackupManifest(fs, dir);
  auto listed = storage::ListBackups(fs, scratch.path());
  if (!listed.ok()) Fail("ListBackups failed: " + listed.status().ToString());
  if (listed->size() != (manifest.ok() ? 1u : 0u)) Fail("ListBackups disagrees with ReadBackupManifest");
  if (!manifest.ok()) return;
  for (const auto& f : manifest->files) {
    if (f.path.empty() || f.path.front() == '/' || f.path.find("..") != std::string::npos) {
      Fail("a manifest names a path outside its backup: " + f.path);
    }
  }
  auto verified = storage::VerifyBackup(fs, dir);
  if (!verified.ok()) Fail("VerifyBackup failed on a manifest that parses: " + verified.status().ToString());
  if (verified->files != manifest->files.size()) Fail("VerifyBackup did not look at every file");
  // Its files are absent, except where a listed path names the manifest
  // itself (or a directory): then it still cannot match a checksum by chance
  // often enough to matter, but it may; only "every absent file is a problem"
  // is promised.
  if (!manifest->files.empty() && verified->ok()) {
    for (const auto& f : manifest->files) {
      if (!std::filesystem::exists(dir + "/" + f.path)) Fail("an absent file passed verification: " + f.path);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const ScratchDir scratch("backup-manifest");
  if (size > (1 << 20)) return 0;
  std::string text(reinterpret_cast<const char*>(data), size);
  Check(scratch, text);
  if (text.find("\nend ") == std::string::npos) {
    if (!text.empty() && text.back() != '\n') text += '\n';
    char end[32];
    std::snprintf(end, sizeof end, "end %08" PRIx32 "\n", postdevai::storage::crc32c::Value(text));
    Check(scratch, text + end);
  }
  return 0;
}
