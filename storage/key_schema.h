// How the persistent store lays out its keys inside one LevelDB database.
//
// Every stored key starts with one byte that says what it is:
//
//   0x00  internal store metadata (checkpoint LSN, compression dictionaries)
//   0x01  vectors     0x02  code     0x03  history     0x04  metadata
//
// followed by the caller's key bytes, unchanged. One prefix byte per kind keeps
// the kinds apart (a kind is one contiguous key range, so it can be iterated,
// counted and sized on its own) and keeps user keys from ever colliding with
// internal ones. The prefix bytes are part of the on-disk format: they are
// spelled out here and never derived from enum values that might be renumbered.
//
// Thread-safety: pure functions on values.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "postdevai/config.h"

namespace postdevai::storage {

// The four kinds of data PostDevAI keeps: the public DataKind (names via
// DataKindName / DataKindFromName).
using Kind = ::postdevai::DataKind;
inline constexpr std::size_t kKindCount = kDataKindCount;
inline constexpr std::array<Kind, kKindCount> kAllKinds = kAllDataKinds;
inline constexpr std::size_t KindIndex(Kind kind) { return DataKindIndex(kind); }

// Key of a user record: the kind's prefix byte followed by user_key.
std::string EncodeKey(Kind kind, std::string_view user_key);

struct DecodedKey {
  Kind kind;
  std::string_view user_key;  // points into the stored key
};
// Splits a stored key; nullopt for internal keys and unknown prefixes.
std::optional<DecodedKey> DecodeKey(std::string_view stored_key);

// The half-open range [begin, end) holding every key of a kind.
struct KeyRange {
  std::string begin;
  std::string end;
};
KeyRange KindRange(Kind kind);

// A key past every key the store writes (user and internal alike).
std::string KeyPastEverything();

// --- Internal metadata keys (prefix 0x00) ---

// The LSN recorded by the last successful PersistentStore::Checkpoint.
std::string CheckpointLsnKey();

// A named property of the store's format (PersistentStore::SetProperty).
std::string PropertyKey(std::string_view name);

// A compression dictionary: the range holding all of them, and the key of
// dictionary `id`. Ids are big-endian so that iteration visits them in order.
KeyRange DictionaryRange();
std::string DictionaryKey(std::uint32_t id);
// The id from a DictionaryKey; nullopt for any other key.
std::optional<std::uint32_t> DictionaryIdFromKey(std::string_view stored_key);

}  // namespace postdevai::storage
