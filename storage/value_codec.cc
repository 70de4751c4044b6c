#include "storage/value_codec.h"

#include <algorithm>
#include <mutex>
#include <random>

#define ZDICT_STATIC_LINKING_ONLY  // ZDICT_optimizeTrainFromBuffer_fastCover (exported by libzstd 1.5)
#include <zdict.h>
#include <zstd.h>

#include "records/coding.h"
#include "storage/crc32c.h"

namespace postdevai::storage {

namespace {

// --- header fields ---

// --- per-thread zstd contexts ---
// A context is a few hundred KiB of state that is expensive to set up; one per
// thread lets Encode/Decode run concurrently without a lock or a pool.

struct CCtxDeleter {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxDeleter {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};
struct CDictDeleter {
  void operator()(ZSTD_CDict* d) const { ZSTD_freeCDict(d); }
};
struct DDictDeleter {
  void operator()(ZSTD_DDict* d) const { ZSTD_freeDDict(d); }
};

ZSTD_CCtx* ThreadCCtx() {
  thread_local std::unique_ptr<ZSTD_CCtx, CCtxDeleter> cctx(ZSTD_createCCtx());
  return cctx.get();
}

ZSTD_DCtx* ThreadDCtx() {
  thread_local std::unique_ptr<ZSTD_DCtx, DCtxDeleter> dctx(ZSTD_createDCtx());
  return dctx.get();
}

std::string ZstdError(std::string_view what, std::size_t code) {
  std::string msg(what);
  msg += ": ";
  msg += ZSTD_getErrorName(code);
  return msg;
}

}  // namespace

// --- header ---

std::string EncodeValueHeader(const ValueHeader& header) {
  std::string out;
  out.reserve(32);
  AppendValueHeader(header, &out);
  return out;
}

void AppendValueHeader(const ValueHeader& header, std::string* out) {
  const std::size_t start = out->size();
  out->push_back(static_cast<char>(header.format_version));
  out->push_back(static_cast<char>(header.compression));
  records::PutVarint64(out, header.dictionary_id);
  records::PutVarint64(out, header.raw_length);
  records::PutVarint64(out, header.lsn);
  records::PutFixed32(out, header.raw_crc32c);
  records::PutFixed32(out, crc32c::Value(std::string_view(*out).substr(start)));
}

Result<ValueHeader> ParseValueHeader(std::string_view encoded) {
  if (encoded.size() < 2) return Status::Corruption("value of " + std::to_string(encoded.size()) + " bytes has no header");
  ValueHeader h;
  h.format_version = static_cast<std::uint8_t>(encoded[0]);
  if (h.format_version != kValueFormatVersion) {
    return Status::Corruption("value has unknown format version " + std::to_string(h.format_version));
  }
  auto compression = static_cast<std::uint8_t>(encoded[1]);
  if (compression > static_cast<std::uint8_t>(ValueCompression::kZstd)) {
    return Status::Corruption("value has unknown compression " + std::to_string(compression));
  }
  h.compression = static_cast<ValueCompression>(compression);
  std::string_view rest = encoded.substr(2);
  std::uint32_t header_crc = 0;
  if (!records::GetVarint32(&rest, &h.dictionary_id) || !records::GetVarint32(&rest, &h.raw_length) ||
      !records::GetVarint64(&rest, &h.lsn) || !records::GetFixed32(&rest, &h.raw_crc32c)) {
    return Status::Corruption("value header is truncated or malformed");
  }
  const std::size_t checked = encoded.size() - rest.size();
  if (!records::GetFixed32(&rest, &header_crc)) return Status::Corruption("value header is truncated");
  if (crc32c::Value(encoded.data(), checked) != header_crc) {
    return Status::Corruption("value header fails its checksum");
  }
  h.header_length = static_cast<std::uint32_t>(encoded.size() - rest.size());
  return h;
}

Result<std::uint64_t> LsnOf(std::string_view encoded) {
  auto header = ParseValueHeader(encoded);
  if (!header.ok()) return header.status();
  return header->lsn;
}

// --- codec ---

struct ValueCodec::Dictionary {
  std::string bytes;
  std::unique_ptr<ZSTD_DDict, DDictDeleter> ddict;                     // built on first decode
  std::map<int, std::unique_ptr<ZSTD_CDict, CDictDeleter>> cdicts;     // by level, built on first encode
};

ValueCodec::ValueCodec(std::uint32_t max_value_bytes) : max_value_bytes_(max_value_bytes) {}
ValueCodec::~ValueCodec() = default;

Status ValueCodec::AddDictionary(std::uint32_t id, std::string_view bytes) {
  if (id == 0) return Status::InvalidArgument("compression dictionary id 0 is reserved for 'no dictionary'");
  if (bytes.empty()) return Status::InvalidArgument("compression dictionary " + std::to_string(id) + " is empty");
  std::unique_lock lock(mu_);
  auto it = dictionaries_.find(id);
  if (it != dictionaries_.end()) {
    if (it->second->bytes == bytes) return Status::Ok();
    return Status::InvalidArgument("compression dictionary " + std::to_string(id) +
                                   " is already registered with different bytes");
  }
  auto dict = std::make_unique<Dictionary>();
  dict->bytes.assign(bytes);
  dictionaries_.emplace(id, std::move(dict));
  return Status::Ok();
}

bool ValueCodec::HasDictionary(std::uint32_t id) const {
  std::shared_lock lock(mu_);
  return dictionaries_.count(id) != 0;
}

std::vector<std::uint32_t> ValueCodec::DictionaryIds() const {
  std::shared_lock lock(mu_);
  std::vector<std::uint32_t> ids;
  for (const auto& [id, dict] : dictionaries_) ids.push_back(id);
  return ids;
}

const ValueCodec::Dictionary* ValueCodec::FindDictionary(std::uint32_t id) const {
  auto it = dictionaries_.find(id);
  return it == dictionaries_.end() ? nullptr : it->second.get();
}

Result<const void*> ValueCodec::CompressionDictionary(std::uint32_t id, int level) const {
  {
    std::shared_lock lock(mu_);
    const Dictionary* dict = FindDictionary(id);
    if (dict == nullptr) return Status::InvalidArgument("unknown compression dictionary " + std::to_string(id));
    auto it = dict->cdicts.find(level);
    if (it != dict->cdicts.end()) return static_cast<const void*>(it->second.get());
  }
  // Digesting a dictionary costs about as much as compressing it; do it once
  // per (id, level). Entries are never erased, so the pointer stays valid
  // after the lock is released.
  std::unique_lock lock(mu_);
  auto* dict = const_cast<Dictionary*>(FindDictionary(id));
  auto& slot = dict->cdicts[level];
  if (!slot) {
    slot.reset(ZSTD_createCDict(dict->bytes.data(), dict->bytes.size(), level));
    if (!slot) {
      dict->cdicts.erase(level);
      return Status::InvalidArgument("zstd cannot load compression dictionary " + std::to_string(id));
    }
  }
  return static_cast<const void*>(slot.get());
}

Result<const void*> ValueCodec::DecompressionDictionary(std::uint32_t id) const {
  {
    std::shared_lock lock(mu_);
    const Dictionary* dict = FindDictionary(id);
    if (dict == nullptr) {
      return Status::Corruption("value was compressed with dictionary " + std::to_string(id) +
                                ", which the store does not have");
    }
    if (dict->ddict) return static_cast<const void*>(dict->ddict.get());
  }
  std::unique_lock lock(mu_);
  auto* dict = const_cast<Dictionary*>(FindDictionary(id));
  if (!dict->ddict) {
    dict->ddict.reset(ZSTD_createDDict(dict->bytes.data(), dict->bytes.size()));
    if (!dict->ddict) return Status::Corruption("zstd cannot load dictionary " + std::to_string(id));
  }
  return static_cast<const void*>(dict->ddict.get());
}

Result<std::string> ValueCodec::Encode(std::string_view raw, std::uint64_t lsn, const EncodeOptions& options) const {
  if (raw.size() > max_value_bytes_) {
    return Status::TooLarge("value of " + std::to_string(raw.size()) + " bytes exceeds the limit of " +
                            std::to_string(max_value_bytes_) + " bytes per value");
  }
  ValueHeader header;
  header.raw_length = static_cast<std::uint32_t>(raw.size());
  header.lsn = lsn;
  header.raw_crc32c = crc32c::Value(raw);

  if (options.compress && !raw.empty()) {
    ZSTD_CCtx* cctx = ThreadCCtx();
    ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 0);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_dictIDFlag, 0);
    if (options.dictionary_id != 0) {
      auto cdict = CompressionDictionary(options.dictionary_id, options.level);
      if (!cdict.ok()) return cdict.status();
      // The level is the CDict's (it was digested for it).
      ZSTD_CCtx_refCDict(cctx, static_cast<const ZSTD_CDict*>(*cdict));
    } else {
      ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, options.level);
    }
    header.compression = ValueCompression::kZstd;
    header.dictionary_id = options.dictionary_id;
    std::string out = EncodeValueHeader(header);
    const std::size_t header_size = out.size();
    out.resize(header_size + ZSTD_compressBound(raw.size()));
    std::size_t n = ZSTD_compress2(cctx, out.data() + header_size, out.size() - header_size, raw.data(), raw.size());
    if (ZSTD_isError(n)) return Status::InvalidArgument(ZstdError("zstd compression failed", n));
    if (n < raw.size()) {
      out.resize(header_size + n);
      return out;
    }
    // Incompressible: fall through and store the raw bytes, which are smaller
    // and cheaper to read.
  }
  header.compression = ValueCompression::kNone;
  header.dictionary_id = 0;
  std::string out = EncodeValueHeader(header);
  out.append(raw);
  return out;
}

Result<std::string> ValueCodec::Restamp(std::string_view encoded, std::uint64_t lsn) const {
  std::string out;
  PDAI_RETURN_IF_ERROR(RestampInto(encoded, lsn, &out));
  return out;
}

Status ValueCodec::RestampInto(std::string_view encoded, std::uint64_t lsn, std::string* out,
                               std::uint64_t* raw_length) const {
  auto parsed = ParseValueHeader(encoded);
  if (!parsed.ok()) return parsed.status();
  ValueHeader header = *parsed;
  if (header.raw_length > max_value_bytes_) {
    return Status::TooLarge("value of " + std::to_string(header.raw_length) + " bytes exceeds the limit of " +
                            std::to_string(max_value_bytes_) + " bytes per value");
  }
  if (header.dictionary_id != 0 && !HasDictionary(header.dictionary_id)) {
    return Status::Corruption("value compressed with dictionary " + std::to_string(header.dictionary_id) +
                              ", which the store does not hold");
  }
  header.lsn = lsn;
  out->clear();
  AppendValueHeader(header, out);
  out->append(encoded.substr(parsed->header_length));
  if (raw_length != nullptr) *raw_length = header.raw_length;
  return Status::Ok();
}

Result<std::string> ValueCodec::Decode(std::string_view encoded, ValueHeader* header_out) const {
  auto parsed = ParseValueHeader(encoded);
  if (!parsed.ok()) return parsed.status();
  const ValueHeader& header = *parsed;
  if (header_out != nullptr) *header_out = header;
  if (header.raw_length > max_value_bytes_) {
    return Status::Corruption("value header claims " + std::to_string(header.raw_length) +
                              " bytes, above the limit of " + std::to_string(max_value_bytes_));
  }
  std::string_view payload = encoded.substr(header.header_length);
  std::string raw;
  if (header.compression == ValueCompression::kNone) {
    if (payload.size() != header.raw_length) {
      return Status::Corruption("uncompressed value holds " + std::to_string(payload.size()) +
                                " bytes, its header says " + std::to_string(header.raw_length));
    }
    raw.assign(payload);
  } else {
    // Check what the frame claims before allocating or decoding anything.
    unsigned long long frame_size = ZSTD_getFrameContentSize(payload.data(), payload.size());
    if (frame_size == ZSTD_CONTENTSIZE_ERROR) return Status::Corruption("value payload is not a zstd frame");
    if (frame_size != ZSTD_CONTENTSIZE_UNKNOWN && frame_size != header.raw_length) {
      return Status::Corruption("zstd frame claims " + std::to_string(frame_size) + " bytes, value header says " +
                                std::to_string(header.raw_length));
    }
    std::size_t frame_bytes = ZSTD_findFrameCompressedSize(payload.data(), payload.size());
    if (ZSTD_isError(frame_bytes)) return Status::Corruption(ZstdError("zstd frame is malformed", frame_bytes));
    if (frame_bytes != payload.size()) {
      return Status::Corruption("value has " + std::to_string(payload.size() - frame_bytes) +
                                " bytes after its zstd frame");
    }
    ZSTD_DCtx* dctx = ThreadDCtx();
    // Exactly the raw length from our header: a frame that would produce more
    // fails with "destination buffer too small" instead of allocating.
    raw.resize(header.raw_length);
    std::size_t n;
    if (header.dictionary_id != 0) {
      auto ddict = DecompressionDictionary(header.dictionary_id);
      if (!ddict.ok()) return ddict.status();
      n = ZSTD_decompress_usingDDict(dctx, raw.data(), raw.size(), payload.data(), payload.size(),
                                     static_cast<const ZSTD_DDict*>(*ddict));
    } else {
      n = ZSTD_decompressDCtx(dctx, raw.data(), raw.size(), payload.data(), payload.size());
    }
    if (ZSTD_isError(n)) return Status::Corruption(ZstdError("zstd frame does not decode", n));
    if (n != header.raw_length) {
      return Status::Corruption("zstd frame decodes to " + std::to_string(n) + " bytes, value header says " +
                                std::to_string(header.raw_length));
    }
  }
  if (crc32c::Value(raw) != header.raw_crc32c) return Status::Corruption("value fails its checksum");
  return raw;
}

Result<std::string> TrainDictionary(const std::vector<std::string>& samples, std::size_t max_dictionary_bytes,
                                    int level) {
  // zstd's parameter search trains on the first 75% of the samples and
  // scores on the rest; callers tend to pass samples in key order (one corner
  // of the key space after another), so shuffle them -- deterministically --
  // or the dictionary only learns the corners that sort first.
  std::vector<const std::string*> order;
  order.reserve(samples.size());
  for (const auto& s : samples) {
    if (!s.empty()) order.push_back(&s);  // zdict rejects empty samples
  }
  std::mt19937_64 rng(order.size());
  std::shuffle(order.begin(), order.end(), rng);
  std::string joined;
  std::vector<std::size_t> sizes;
  sizes.reserve(order.size());
  for (const std::string* s : order) {
    joined.append(*s);
    sizes.push_back(s->size());
  }
  std::string dict(max_dictionary_bytes, '\0');
  // fastCover with zstd's default search over its parameters (what
  // ZDICT_trainFromBuffer does), but told the level the values will be
  // compressed at so that the entropy tables suit it.
  ZDICT_fastCover_params_t params{};
  params.d = 8;
  params.steps = 4;
  params.zParams.compressionLevel = level;
  std::size_t n = ZDICT_optimizeTrainFromBuffer_fastCover(dict.data(), dict.size(), joined.data(), sizes.data(),
                                                          static_cast<unsigned>(sizes.size()), &params);
  if (ZDICT_isError(n)) {
    return Status::InvalidArgument("cannot train a compression dictionary from " + std::to_string(sizes.size()) +
                                   " samples of " + std::to_string(joined.size()) +
                                   " bytes: " + ZDICT_getErrorName(n));
  }
  dict.resize(n);
  return dict;
}

}  // namespace postdevai::storage
