// Routes every file operation LevelDB makes through PostDevAI's FileSystem
// seam, so that fault injection (ENOSPC, EIO, short writes) and simulated
// power cuts reach LevelDB exactly as they reach our own files.
//
// Also the ONE place that converts between LevelDB's Status and ours.
//
// Internal to storage/: only persistent_store.cc and tests use it.
#pragma once

#include <memory>

#include <leveldb/env.h>
#include <leveldb/status.h>

#include "postdevai/status.h"
#include "storage/file_system.h"

namespace postdevai::storage {

// Creates a leveldb::Env over `fs` (not owned; must outlive the Env and every
// DB opened with it).
//
// Files, directories, locks and the clock go through `fs`; background threads
// (Schedule, StartThread), sleeping, the info-log writer and GetTestDirectory
// are delegated to leveldb::Env::Default().
//
// Durability beyond LevelDB's own POSIX Env, so that a strict power-cut model
// (a new directory entry is lost unless its directory is synced) holds too:
//   - the first Sync of a file this Env created also syncs its directory, so a
//     synced log or table file can never vanish with its directory entry;
//   - every Sync of a MANIFEST file syncs the directory (as LevelDB's POSIX Env
//     does);
//   - a rename onto CURRENT is followed by a directory sync, so the switch to a
//     new MANIFEST is durable when LevelDB believes it is.
//
// Thread-safe, as leveldb::Env requires.
std::unique_ptr<leveldb::Env> NewLevelDbEnv(FileSystem* fs);

// Status conversion, both directions, lossless for every StatusCode: codes that
// LevelDB cannot express (kNoSpace, kBusy, ...) travel as an IOError whose
// message starts with the code's name ("no space: ...") and are restored by
// FromLevelDbStatus. Messages keep the path and operation.
leveldb::Status ToLevelDbStatus(const Status& status);
Status FromLevelDbStatus(const leveldb::Status& status);

}  // namespace postdevai::storage
