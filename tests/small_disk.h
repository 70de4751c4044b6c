// A small file system of its own for a test, that fills up for real (ENOSPC
// from the kernel, not from fault injection): a tmpfs (a RAM disk) or an ext4
// image on a loop device (a data disk: the node refuses to keep its data on
// a RAM disk). Mounting needs root; mounted() says whether it worked, so a
// test elsewhere can say it was skipped.
#pragma once

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/test_util.h"

namespace postdevai::testing {

// A file system of `bytes` mounted on a fresh directory, unmounted (and its
// loop device released) at the end.
class SmallDisk {
 public:
  enum class Kind { kRamDisk, kExt4 };
  SmallDisk(Kind kind, std::uint64_t bytes, const std::string& tag = "small-disk")
      : image_dir_(tag + "-image"), dir_(tag) {
    if (kind == Kind::kRamDisk) {
      const std::string options = "size=" + std::to_string(bytes) + ",mode=0700";
      mounted_ = ::mount("tmpfs", dir_.path().c_str(), "tmpfs", 0, options.c_str()) == 0;
      if (!mounted_) error_ = std::strerror(errno);
      return;
    }
    const std::string image = image_dir_ / "disk.img";
    { std::ofstream create(image); }
    std::filesystem::resize_file(image, bytes);
    const std::string quiet = " >/dev/null 2>&1";
    if (std::system(("/usr/sbin/mkfs.ext4 -q -F -m 0 " + image + quiet).c_str()) != 0) {
      error_ = "mkfs.ext4 failed";
    } else if (std::system(("/usr/bin/mount -o loop " + image + " " + dir_.path() + quiet).c_str()) != 0) {
      error_ = "mount -o loop failed";
    } else {
      mounted_ = true;
      std::filesystem::remove_all(dir_ / "lost+found");
      ::chmod(dir_.path().c_str(), 0700);
    }
  }
  ~SmallDisk() {
    // Lazy: a process of the test still holding a file must not keep it mounted.
    if (mounted_) ::umount2(dir_.path().c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }
  std::string path() const { return dir_.path(); }

  // Fills the disk with a file until `leave` bytes are free (or it is full).
  void FillLeaving(std::uint64_t leave) {
    std::ofstream filler(dir_ / "filler", std::ios::binary | std::ios::app);
    const std::string block(64 * 1024, 'x');
    while (Free() > leave && filler.write(block.data(), static_cast<std::streamsize>(std::min<std::uint64_t>(
                                                             block.size(), Free() - leave)))) {
      filler.flush();
      if (!filler) break;
    }
  }
  // Gives back what FillLeaving took.
  void RemoveFiller() { std::filesystem::remove(dir_ / "filler"); }
  std::uint64_t Free() const {
    struct statvfs vfs {};
    if (::statvfs(dir_.path().c_str(), &vfs) != 0) return 0;
    return std::uint64_t(vfs.f_bavail) * vfs.f_frsize;
  }

 private:
  TempDir image_dir_;  // the ext4 image (on the work disk)
  TempDir dir_;
  bool mounted_ = false;
  std::string error_;
};

}  // namespace postdevai::testing
