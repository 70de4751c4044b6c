// Moves the records of a store written with the old code ids to the ids
// CodeIdForPath gives now.
//
// Code records and code files' vectors records are keyed by the id of their
// path. Stores written before 2026-12 used 16 hex digits of a 64-bit FNV-1a
// hash, which anyone could make collide; CodeIdForPath now uses SHA-256.
// Without this move, such a store's files would no longer be found by path.
//
// A record is moved only when its key is exactly the old id of the path it
// holds (so a key that merely looks like one stays where it is). Each batch
// moves its records atomically (put under the new id, delete the old), and
// the store is checkpointed before the store property that marks the move as
// done is written: a crash at any point leaves every record under one of its
// two ids, and the next start finishes the move. Runs once per store, at
// start-up, after the WAL replay and before anything else reads the store.
// Blocking (LevelDB reads and writes).
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

#include "postdevai/config.h"
#include "postdevai/status.h"

namespace postdevai::storage {
class PersistentStore;
}

namespace postdevai::actors {

// Called for every key the move put or deleted (so that RAM-Lake files that
// still hold an old key drop it).
using MovedKeyObserver = std::function<void(DataKind kind, std::string_view key, std::uint64_t lsn, bool erased)>;

// The number of records moved (0 when the store already uses the current ids).
Result<std::size_t> MoveLegacyCodeIds(storage::PersistentStore& store, const MovedKeyObserver& observe);

// The id the old scheme gave `path` (for tests that build an old store).
std::string LegacyCodeIdForPath(std::string_view path);

}  // namespace postdevai::actors
