// Fuzz target: the encoding of every value the persistent store keeps
// (storage/value_codec.h: our header, then the raw bytes or one zstd frame),
// through the real ValueCodec with a registered dictionary.
//
// Input: a mode byte, then (mode 0) a repair byte, (modes 1 and 2) an
// options byte and a u64 LSN, then (mode 2) a u32 position and a u8 mask,
// then the bytes.
//   mode 0  the rest is a stored value: Decode it (what a read from LevelDB
//           does with whatever the disk holds). Repair bit 0 first rewrites
//           the header checksum, bit 1 (uncompressed values) the raw one, so
//           that mutated lengths, LSNs and dictionary ids get past the CRCs;
//   mode 1  the rest is a raw value: Encode it, then Decode and Restamp;
//   mode 2  the rest is a raw value: Encode it, XOR one byte of the encoded
//           value with the mask (0 taken as 1), then Decode.
// Options byte: bit 0 compress, bit 1 with dictionary 1, bits 2-5 the level.
//
// Checked beyond "no crash, no out-of-bounds access":
//   * Decode of any bytes either fails with kCorruption (the contract: every
//     failure of a stored value is kCorruption) or returns exactly the raw
//     length its header says, never above max_value_bytes, with the LSN
//     LsnOf reads; a value that decodes re-encodes and restamps to values
//     that decode to the same bytes;
//   * Encode -> Decode round-trips bytes and LSN, whatever the options;
//     Restamp changes the LSN and nothing else; an encoded value is never
//     larger than its header plus the raw bytes;
//   * a corrupted byte is reported as kCorruption or decodes to the original
//     (CRC32C catches every error burst of up to 32 bits): never other bytes;
//   * bounded allocation: the codec's limit is 1 MiB and LLVMFuzzerInitialize
//     sets -malloc_limit_mb=16 (unless given), so a decoder that believed a
//     length from the input (a frame's content size, a varint) crashes as
//     "malloc exceeds limit".
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "fuzz/fuzz_harness.h"
#include "fuzz/value_codec_dictionary.h"
#include "records/coding.h"
#include "storage/crc32c.h"
#include "storage/value_codec.h"

namespace {

using postdevai::StatusCode;
using postdevai::fuzz::Fail;
using postdevai::fuzz::InputReader;
namespace storage = postdevai::storage;
namespace records = postdevai::records;
namespace crc32c = postdevai::storage::crc32c;

constexpr std::uint32_t kMaxValueBytes = 1u << 20;
constexpr std::uint32_t kDictionaryId = 1;

const storage::ValueCodec& Codec() {
  static const storage::ValueCodec* codec = [] {
    auto* c = new storage::ValueCodec(kMaxValueBytes);
    if (!c->AddDictionary(kDictionaryId, postdevai::fuzz::kValueCodecDictionary).ok()) {
      Fail("cannot register the dictionary");
    }
    return c;
  }();
  return *codec;
}

storage::EncodeOptions OptionsFrom(std::uint8_t flags) {
  static constexpr int kLevels[16] = {-5, -1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 3, 3, 3, 3};
  storage::EncodeOptions options;
  options.compress = flags & 1;
  options.dictionary_id = (flags & 2) ? kDictionaryId : 0;
  options.level = kLevels[(flags >> 2) & 15];
  return options;
}

void ExpectCorruption(const postdevai::Status& status, std::string_view what) {
  if (status.code() != StatusCode::kCorruption) {
    Fail(std::string(what) + " failed with other than kCorruption: " + status.ToString());
  }
}

// Decodes `encoded`, expecting exactly `raw` at `lsn`.
void ExpectDecodes(std::string_view encoded, std::string_view raw, std::uint64_t lsn, std::string_view what) {
  storage::ValueHeader header;
  auto decoded = Codec().Decode(encoded, &header);
  if (!decoded.ok()) Fail(std::string(what) + " does not decode: " + decoded.status().ToString());
  if (*decoded != raw) Fail(std::string(what) + " decodes to other bytes");
  if (header.lsn != lsn) Fail(std::string(what) + " decodes with another LSN");
  auto read_lsn = storage::LsnOf(encoded);
  if (!read_lsn.ok() || *read_lsn != lsn) Fail(std::string(what) + ": LsnOf disagrees with Decode");
}

// Rewrites the checksums of a value whose header fields parse (the layout of
// storage/value_codec.h): bit 0 the header's, bit 1 the raw bytes' of an
// uncompressed value.
void RepairChecksums(std::string* value, std::uint8_t repair) {
  if (value->size() < 2) return;
  std::string_view rest = std::string_view(*value).substr(2);
  std::uint32_t dictionary_id, raw_length, raw_crc;
  std::uint64_t lsn;
  if (!records::GetVarint32(&rest, &dictionary_id) || !records::GetVarint32(&rest, &raw_length) ||
      !records::GetVarint64(&rest, &lsn)) {
    return;
  }
  const std::size_t raw_crc_at = value->size() - rest.size();
  if (!records::GetFixed32(&rest, &raw_crc) || rest.size() < 4) return;
  const std::size_t header_crc_at = raw_crc_at + 4;
  char* p = value->data();
  if ((repair & 2) && (*value)[1] == 0) {
    const std::size_t payload_at = header_crc_at + 4;
    records::EncodeFixed32(p + raw_crc_at, crc32c::Value(p + payload_at, value->size() - payload_at));
  }
  if (repair & 3) records::EncodeFixed32(p + header_crc_at, crc32c::Value(p, header_crc_at));
}

void DecodeStored(std::string_view encoded) {
  storage::ValueHeader header;
  auto decoded = Codec().Decode(encoded, &header);
  auto parsed = storage::ParseValueHeader(encoded);
  if (parsed.ok() && (parsed->lsn != header.lsn || parsed->raw_length != header.raw_length ||
                      parsed->header_length != header.header_length)) {
    Fail("Decode's header_out is not the header ParseValueHeader reads");
  }
  if (!decoded.ok()) return ExpectCorruption(decoded.status(), "Decode of stored bytes");
  if (!parsed.ok()) Fail("a value decodes but its header does not parse");
  if (parsed->header_length > encoded.size()) Fail("the header is longer than the value");
  if (decoded->size() != header.raw_length) Fail("Decode returned other than the header's raw length");
  if (decoded->size() > kMaxValueBytes) Fail("Decode returned more than max_value_bytes");
  if (header.compression == storage::ValueCompression::kNone &&
      encoded.substr(header.header_length) != *decoded) {
    Fail("an uncompressed value decodes to other than its payload");
  }
  auto lsn = storage::LsnOf(encoded);
  if (!lsn.ok() || *lsn != header.lsn) Fail("LsnOf disagrees with Decode");

  // What decoded once survives re-encoding (with the options it was stored
  // with) and restamping.
  storage::EncodeOptions options;
  options.compress = header.compression == storage::ValueCompression::kZstd;
  options.dictionary_id = header.dictionary_id;
  auto again = Codec().Encode(*decoded, header.lsn, options);
  if (!again.ok()) Fail("a decoded value does not encode again: " + again.status().ToString());
  ExpectDecodes(*again, *decoded, header.lsn, "a decoded value, encoded again,");
  auto restamped = Codec().Restamp(encoded, header.lsn + 1);
  if (!restamped.ok()) {
    // Restamp (unlike Decode) also refuses an uncompressed value that names
    // an unknown dictionary; it says so with kCorruption.
    if (restamped.status().code() == StatusCode::kCorruption && header.dictionary_id != 0 &&
        !Codec().HasDictionary(header.dictionary_id)) {
      return;
    }
    Fail("a value that decodes cannot be restamped: " + restamped.status().ToString());
  }
  ExpectDecodes(*restamped, *decoded, header.lsn + 1, "a decoded value, restamped,");
}

void RoundTrip(std::string_view raw, std::uint64_t lsn, const storage::EncodeOptions& options) {
  auto encoded = Codec().Encode(raw, lsn, options);
  if (!encoded.ok()) Fail("Encode failed: " + encoded.status().ToString());
  auto header = storage::ParseValueHeader(*encoded);
  if (!header.ok()) Fail("an encoded value's header does not parse: " + header.status().ToString());
  if (encoded->size() > header->header_length + raw.size()) {
    Fail("an encoded value is larger than its header plus the raw bytes");
  }
  if (header->compression == storage::ValueCompression::kNone && header->dictionary_id != 0) {
    Fail("an uncompressed value names a dictionary");
  }
  ExpectDecodes(*encoded, raw, lsn, "an encoded value");
  const std::uint64_t other_lsn = ~lsn;
  auto restamped = Codec().Restamp(*encoded, other_lsn);
  if (!restamped.ok()) Fail("Restamp of an encoded value failed: " + restamped.status().ToString());
  ExpectDecodes(*restamped, raw, other_lsn, "a restamped value");
  auto restamped_header = storage::ParseValueHeader(*restamped);
  if (std::string_view(*restamped).substr(restamped_header->header_length) !=
      std::string_view(*encoded).substr(header->header_length)) {
    Fail("Restamp changed the payload");
  }
}

void Corrupt(std::string_view raw, std::uint64_t lsn, const storage::EncodeOptions& options, std::uint32_t position,
             std::uint8_t mask) {
  auto encoded = Codec().Encode(raw, lsn, options);
  if (!encoded.ok()) Fail("Encode failed: " + encoded.status().ToString());
  std::string damaged = std::move(*encoded);
  damaged[position % damaged.size()] ^= static_cast<char>(mask == 0 ? 1 : mask);
  storage::ValueHeader header;
  auto decoded = Codec().Decode(damaged, &header);
  if (!decoded.ok()) return ExpectCorruption(decoded.status(), "Decode of a damaged value");
  if (*decoded != raw || header.lsn != lsn) Fail("a damaged value decoded to other bytes or another LSN");
}

}  // namespace

// -malloc_limit_mb=16 unless the command line sets it (see above).
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  postdevai::fuzz::AddFlagUnlessGiven(argc, argv, "-malloc_limit_mb=16");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  InputReader input(data, size);
  const auto mode = input.Fixed<std::uint8_t>() % 3;
  if (mode == 0) {
    const auto repair = input.Fixed<std::uint8_t>();
    std::string stored(input.Rest());
    RepairChecksums(&stored, repair);
    DecodeStored(stored);
    return 0;
  }
  const auto options = OptionsFrom(input.Fixed<std::uint8_t>());
  const auto lsn = input.Fixed<std::uint64_t>();
  if (mode == 1) {
    RoundTrip(input.Rest(), lsn, options);
  } else {
    const auto position = input.Fixed<std::uint32_t>();
    const auto mask = input.Fixed<std::uint8_t>();
    Corrupt(input.Rest(), lsn, options, position, mask);
  }
  return 0;
}
