// The encoding of every value the persistent store writes: a small header of
// our own followed by the payload, raw or one zstd frame.
//
// Header (format version 1), in order:
//   u8       format version (1)
//   u8       compression: 0 none, 1 zstd
//   varint32 dictionary id (0: compressed without a dictionary)
//   varint32 raw length in bytes
//   varint64 LSN of the write that stored the value
//   fixed32  CRC32C of the raw bytes
//   fixed32  CRC32C of the header bytes above
// The header has its own checksum so that the LSN can be read and trusted
// without touching the payload (LsnOf); the raw CRC proves the decoded bytes.
//
// Decoding trusts nothing in the payload: the output buffer is exactly the raw
// length from OUR header (which is itself bounded by max_value_bytes), a zstd
// frame that declares a different content size is rejected before
// decompression, and a frame that decodes to more or fewer bytes is rejected.
// Every failure of a stored value is kCorruption naming what is wrong.
//
// zstd frames are written with a content size, without zstd's own checksum
// (the raw CRC32C covers it) and without zstd's dictionary id (the header
// carries ours). A value whose compressed form would not be smaller than the
// raw bytes is stored uncompressed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "postdevai/status.h"

namespace postdevai::storage {

enum class ValueCompression : std::uint8_t { kNone = 0, kZstd = 1 };

inline constexpr std::uint8_t kValueFormatVersion = 1;
// Default limit on the raw length of one value.
inline constexpr std::uint32_t kDefaultMaxValueBytes = 64u << 20;

struct ValueHeader {
  std::uint8_t format_version = kValueFormatVersion;
  ValueCompression compression = ValueCompression::kNone;
  std::uint32_t dictionary_id = 0;
  std::uint32_t raw_length = 0;
  std::uint64_t lsn = 0;
  std::uint32_t raw_crc32c = 0;
  // Set by ParseValueHeader: how many bytes of the encoded value the header
  // takes (the payload starts there). Ignored by EncodeValueHeader.
  std::uint32_t header_length = 0;
};

// Serializes a header, computing its header checksum. (The codec uses it; tests
// use it to build hostile values.)
std::string EncodeValueHeader(const ValueHeader& header);
void AppendValueHeader(const ValueHeader& header, std::string* out);  // the same, appended

// Parses and verifies the header of an encoded value without looking at the
// payload. kCorruption if it is truncated, of an unknown format or fails its
// checksum.
Result<ValueHeader> ParseValueHeader(std::string_view encoded);

// The LSN stored in an encoded value's header; as cheap as ParseValueHeader.
Result<std::uint64_t> LsnOf(std::string_view encoded);

// How to encode one value.
struct EncodeOptions {
  bool compress = true;            // false: store raw (compression "none")
  int level = 3;                   // zstd level, used when compress is true
  std::uint32_t dictionary_id = 0; // 0: no dictionary; else one added with AddDictionary
};

// Encodes and decodes values; holds the dictionaries values may refer to.
//
// Dictionaries are registered once under an id and never removed or replaced,
// so every value written with one stays readable for the codec's lifetime.
// Their digested forms (ZSTD_CDict per id and level, ZSTD_DDict per id) are
// built on first use and cached.
//
// Thread-safety: every method may be called concurrently (zstd contexts are
// per thread; the dictionary tables are guarded by a shared mutex).
class ValueCodec {
 public:
  explicit ValueCodec(std::uint32_t max_value_bytes = kDefaultMaxValueBytes);
  ~ValueCodec();
  ValueCodec(const ValueCodec&) = delete;
  ValueCodec& operator=(const ValueCodec&) = delete;

  std::uint32_t max_value_bytes() const { return max_value_bytes_; }

  // Registers dictionary `id` (> 0) with its bytes (copied). Registering the
  // same bytes again is a no-op; different bytes under a known id, id 0 or an
  // empty dictionary are kInvalidArgument.
  Status AddDictionary(std::uint32_t id, std::string_view bytes);
  bool HasDictionary(std::uint32_t id) const;
  // Ids of every registered dictionary, ascending.
  std::vector<std::uint32_t> DictionaryIds() const;

  // Encodes `raw` written at `lsn`. kTooLarge when raw exceeds
  // max_value_bytes(); kInvalidArgument for an unknown dictionary id.
  Result<std::string> Encode(std::string_view raw, std::uint64_t lsn, const EncodeOptions& options) const;

  // The same encoded value stamped with another LSN: the header is rewritten,
  // the payload copied as it is (no compression work). This is how a value
  // compressed before its write had an LSN (Encode with lsn 0, on the
  // writer's side) is stored under the LSN the journal gave it. The header is
  // verified (kCorruption), its raw length bounded by max_value_bytes()
  // (kTooLarge) and its dictionary must be registered (kCorruption naming
  // it); the payload is proved by Decode when the value is read.
  Result<std::string> Restamp(std::string_view encoded, std::uint64_t lsn) const;
  // Restamp into *out (overwritten; its capacity is reused, which spares a
  // batch of writes an allocation per value). *raw_length, when given,
  // receives the value's decoded length. *out is unspecified on error.
  Status RestampInto(std::string_view encoded, std::uint64_t lsn, std::string* out,
                     std::uint64_t* raw_length = nullptr) const;

  // Decodes a value produced by Encode. kCorruption (naming the problem) for
  // anything that is not a sound value; *header_out, when given, receives the
  // parsed header even then, if the header itself was sound.
  Result<std::string> Decode(std::string_view encoded, ValueHeader* header_out = nullptr) const;

 private:
  struct Dictionary;
  const Dictionary* FindDictionary(std::uint32_t id) const;
  // The digested dictionaries; created on first use. Never null on success.
  Result<const void*> CompressionDictionary(std::uint32_t id, int level) const;   // ZSTD_CDict*
  Result<const void*> DecompressionDictionary(std::uint32_t id) const;            // ZSTD_DDict*

  const std::uint32_t max_value_bytes_;
  mutable std::shared_mutex mu_;
  std::map<std::uint32_t, std::unique_ptr<Dictionary>> dictionaries_;  // never erased
};

// Trains a zstd dictionary of at most max_dictionary_bytes from samples (each
// one a whole raw value), tuned for compression `level`. kInvalidArgument
// when zstd cannot train one from them (too few or too small samples), with
// zstd's reason in the message.
Result<std::string> TrainDictionary(const std::vector<std::string>& samples, std::size_t max_dictionary_bytes,
                                    int level);

}  // namespace postdevai::storage
