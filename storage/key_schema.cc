#include "storage/key_schema.h"

namespace postdevai::storage {

namespace {

// On-disk prefix bytes (see the header). Written out rather than computed from
// Kind so that renumbering the enum can never silently remap stored data.
constexpr char kInternalPrefix = '\x00';
constexpr char kVectorsPrefix = '\x01';
constexpr char kCodePrefix = '\x02';
constexpr char kHistoryPrefix = '\x03';
constexpr char kMetadataPrefix = '\x04';

// Second byte of internal keys: what the metadata record is.
constexpr char kCheckpointTag = 'C';
constexpr char kDictionaryTag = 'D';
constexpr char kPropertyTag = 'P';

char PrefixOf(Kind kind) {
  switch (kind) {
    case Kind::kVectors: return kVectorsPrefix;
    case Kind::kCode: return kCodePrefix;
    case Kind::kHistory: return kHistoryPrefix;
    case Kind::kMetadata: return kMetadataPrefix;
  }
  return kInternalPrefix;  // unreachable for valid kinds
}

std::optional<Kind> KindOfPrefix(char prefix) {
  switch (prefix) {
    case kVectorsPrefix: return Kind::kVectors;
    case kCodePrefix: return Kind::kCode;
    case kHistoryPrefix: return Kind::kHistory;
    case kMetadataPrefix: return Kind::kMetadata;
    default: return std::nullopt;
  }
}

}  // namespace

std::string EncodeKey(Kind kind, std::string_view user_key) {
  std::string key;
  key.reserve(1 + user_key.size());
  key.push_back(PrefixOf(kind));
  key.append(user_key);
  return key;
}

std::optional<DecodedKey> DecodeKey(std::string_view stored_key) {
  if (stored_key.empty()) return std::nullopt;
  auto kind = KindOfPrefix(stored_key.front());
  if (!kind) return std::nullopt;
  return DecodedKey{*kind, stored_key.substr(1)};
}

KeyRange KindRange(Kind kind) {
  char prefix = PrefixOf(kind);
  return KeyRange{std::string(1, prefix), std::string(1, static_cast<char>(prefix + 1))};
}

std::string KeyPastEverything() {
  // Every prefix in use is below 0x05; 0xff sorts after all of them bytewise.
  return std::string(1, '\xff');
}

std::string CheckpointLsnKey() { return std::string{kInternalPrefix, kCheckpointTag}; }

std::string PropertyKey(std::string_view name) { return std::string{kInternalPrefix, kPropertyTag} + std::string(name); }

KeyRange DictionaryRange() {
  return KeyRange{std::string{kInternalPrefix, kDictionaryTag},
                  std::string{kInternalPrefix, static_cast<char>(kDictionaryTag + 1)}};
}

std::string DictionaryKey(std::uint32_t id) {
  std::string key{kInternalPrefix, kDictionaryTag};
  for (int shift = 24; shift >= 0; shift -= 8) key.push_back(static_cast<char>((id >> shift) & 0xff));
  return key;
}

std::optional<std::uint32_t> DictionaryIdFromKey(std::string_view stored_key) {
  if (stored_key.size() != 6 || stored_key[0] != kInternalPrefix || stored_key[1] != kDictionaryTag) {
    return std::nullopt;
  }
  std::uint32_t id = 0;
  for (int i = 2; i < 6; ++i) id = (id << 8) | static_cast<unsigned char>(stored_key[i]);
  return id;
}

}  // namespace postdevai::storage
