// Value codec: header, compression, dictionaries, and every way a stored value
// can lie about itself.
#include <catch2/catch.hpp>

#include <zstd.h>

#include <random>
#include <string>
#include <vector>

#include "storage/crc32c.h"
#include "storage/value_codec.h"

using namespace postdevai;
using namespace postdevai::storage;

namespace {

// "prefix" + number, spelled so that GCC 12 at -O3 does not raise its false
// -Wrestrict alarm on `"literal" + std::to_string(n)` (GCC PR105329).
std::string Numbered(std::string_view prefix, std::uint64_t n) {
  std::string s(prefix);
  s += std::to_string(n);
  return s;
}

// Source-code-like text: shared vocabulary, varying identifiers and numbers,
// so it compresses like the code records it stands for.
std::string CodeLikeRecord(std::mt19937_64& rng, std::size_t bytes) {
  static const char* lines[] = {
      "  if (!status.ok()) return status;\n",
      "  for (std::size_t i = 0; i < count; ++i) {\n",
      "#include <memory>\n",
      "  std::unique_ptr<PersistentStore> store;\n",
      "  // Returns the number of entries written so far.\n",
      "  return Result<std::string>(std::move(value));\n",
      "}\n\n",
      "namespace postdevai::storage {\n",
      "  const auto& options = store->options();\n",
  };
  std::string out;
  while (out.size() < bytes) {
    out += lines[rng() % (sizeof lines / sizeof lines[0])];
    out += Numbered("  int value_", rng() % 1000) + Numbered(" = ", rng() % 100000) + ";\n";
  }
  out.resize(bytes);
  return out;
}

std::string RandomBytes(std::mt19937_64& rng, std::size_t n) {
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// A zstd frame of `raw` with its content size, as anyone might produce.
std::string PlainFrame(std::string_view raw, bool with_content_size = true) {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, with_content_size ? 1 : 0);
  std::string out(ZSTD_compressBound(raw.size()), '\0');
  std::size_t n;
  if (with_content_size) {
    n = ZSTD_compress2(cctx, out.data(), out.size(), raw.data(), raw.size());
  } else {
    // Streaming with an unknown size leaves the content size out of the frame.
    ZSTD_outBuffer o{out.data(), out.size(), 0};
    ZSTD_inBuffer in{raw.data(), raw.size(), 0};
    n = ZSTD_compressStream2(cctx, &o, &in, ZSTD_e_end);
    REQUIRE(n == 0);
    n = o.pos;
  }
  ZSTD_freeCCtx(cctx);
  REQUIRE_FALSE(ZSTD_isError(n));
  out.resize(n);
  return out;
}

// An encoded value whose header says `header_raw` and whose payload is `frame`.
std::string Hostile(std::string_view header_raw, std::string_view frame, std::uint64_t lsn = 7) {
  ValueHeader h;
  h.compression = ValueCompression::kZstd;
  h.raw_length = static_cast<std::uint32_t>(header_raw.size());
  h.raw_crc32c = crc32c::Value(header_raw);
  h.lsn = lsn;
  return EncodeValueHeader(h) + std::string(frame);
}

}  // namespace

TEST_CASE("value header round-trips and is read without the payload", "[codec]") {
  ValueHeader h;
  h.compression = ValueCompression::kZstd;
  h.dictionary_id = 300;
  h.raw_length = 123456;
  h.lsn = 0x0123456789abcdefull;
  h.raw_crc32c = 0xdeadbeef;
  std::string encoded = EncodeValueHeader(h);
  auto parsed = ParseValueHeader(encoded + "payload that is never looked at");
  REQUIRE(parsed.ok());
  CHECK(parsed->compression == ValueCompression::kZstd);
  CHECK(parsed->dictionary_id == 300);
  CHECK(parsed->raw_length == 123456);
  CHECK(parsed->lsn == 0x0123456789abcdefull);
  CHECK(parsed->raw_crc32c == 0xdeadbeef);
  CHECK(parsed->header_length == encoded.size());
  auto lsn = LsnOf(encoded);
  REQUIRE(lsn.ok());
  CHECK(*lsn == 0x0123456789abcdefull);
}

TEST_CASE("every flipped bit and every truncation of a header is caught", "[codec]") {
  ValueCodec codec;
  auto encoded = codec.Encode("some value worth keeping", 42, EncodeOptions{});
  REQUIRE(encoded.ok());
  auto header = ParseValueHeader(*encoded);
  REQUIRE(header.ok());
  for (std::size_t i = 0; i < header->header_length; ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = *encoded;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      INFO("byte " << i << " bit " << bit);
      CHECK(LsnOf(bad).status().IsCorruption());
      CHECK(codec.Decode(bad).status().IsCorruption());
    }
  }
  for (std::size_t len = 0; len < encoded->size(); ++len) {
    INFO("truncated to " << len);
    CHECK(codec.Decode(std::string_view(*encoded).substr(0, len)).status().IsCorruption());
  }
}

TEST_CASE("values round-trip with and without compression", "[codec]") {
  ValueCodec codec;
  std::mt19937_64 rng(1);
  std::vector<std::string> values = {"", "x", CodeLikeRecord(rng, 100), CodeLikeRecord(rng, 1500),
                                     CodeLikeRecord(rng, 300000), RandomBytes(rng, 4096)};
  for (bool compress : {false, true}) {
    for (int level : {-5, 1, 3, 19}) {
      for (std::size_t i = 0; i < values.size(); ++i) {
        INFO("compress " << compress << " level " << level << " value " << i);
        auto encoded = codec.Encode(values[i], 1000 + i, EncodeOptions{compress, level, 0});
        REQUIRE(encoded.ok());
        ValueHeader header;
        auto decoded = codec.Decode(*encoded, &header);
        REQUIRE(decoded.ok());
        CHECK(*decoded == values[i]);
        CHECK(header.lsn == 1000 + i);
        CHECK(header.raw_length == values[i].size());
        if (!compress) CHECK(header.compression == ValueCompression::kNone);
      }
    }
  }
  // Text compresses; random bytes are kept raw rather than grown by a frame.
  auto text = codec.Encode(values[4], 1, EncodeOptions{});
  REQUIRE(text.ok());
  CHECK(text->size() * 4 < values[4].size());
  auto noise = codec.Encode(values[5], 1, EncodeOptions{});
  REQUIRE(noise.ok());
  CHECK(ParseValueHeader(*noise)->compression == ValueCompression::kNone);
  CHECK(noise->size() <= values[5].size() + 32);
}

TEST_CASE("a value over the limit is refused as too large", "[codec]") {
  ValueCodec small(1000);
  auto r = small.Encode(std::string(1001, 'a'), 1, EncodeOptions{});
  CHECK(r.status().code() == StatusCode::kTooLarge);
  CHECK(r.status().message().find("1001") != std::string::npos);
  CHECK(r.status().message().find("1000") != std::string::npos);
  CHECK(small.Encode(std::string(1000, 'a'), 1, EncodeOptions{}).ok());

  ValueCodec standard;  // 64 MiB
  auto big = standard.Encode(std::string(kDefaultMaxValueBytes + 1, 'b'), 1, EncodeOptions{});
  CHECK(big.status().code() == StatusCode::kTooLarge);
}

TEST_CASE("decompression is bounded by our header, not by the frame", "[codec]") {
  ValueCodec codec;
  std::mt19937_64 rng(2);
  std::string raw = CodeLikeRecord(rng, 4000);

  SECTION("a frame claiming more bytes than the header is rejected") {
    std::string value = Hostile(raw.substr(0, 1000), PlainFrame(raw));
    auto r = codec.Decode(value);
    REQUIRE(r.status().IsCorruption());
    CHECK(r.status().message().find("claims 4000") != std::string::npos);
  }
  SECTION("a frame claiming fewer bytes than the header is rejected") {
    std::string value = Hostile(raw + raw, PlainFrame(raw));
    CHECK(codec.Decode(value).status().IsCorruption());
  }
  SECTION("a frame without a content size that decodes to more is stopped at the header's length") {
    std::string value = Hostile(raw.substr(0, 1000), PlainFrame(raw, /*with_content_size=*/false));
    auto r = codec.Decode(value);
    REQUIRE(r.status().IsCorruption());
    CHECK(r.status().message().find("does not decode") != std::string::npos);
  }
  SECTION("a frame without a content size that decodes to less is rejected") {
    std::string value = Hostile(raw + "tail", PlainFrame(raw, /*with_content_size=*/false));
    CHECK(codec.Decode(value).status().IsCorruption());
  }
  SECTION("a header over the limit is rejected before anything is allocated") {
    ValueCodec small(2000);
    std::string value = Hostile(raw, PlainFrame(raw));
    auto r = small.Decode(value);
    REQUIRE(r.status().IsCorruption());
    CHECK(r.status().message().find("limit") != std::string::npos);
  }
  SECTION("the same frame with an honest header decodes") {
    auto r = codec.Decode(Hostile(raw, PlainFrame(raw)));
    REQUIRE(r.ok());
    CHECK(*r == raw);
  }
  SECTION("bytes after the frame are rejected") {
    CHECK(codec.Decode(Hostile(raw, PlainFrame(raw) + "x")).status().IsCorruption());
  }
}

TEST_CASE("a flipped payload byte never yields wrong bytes", "[codec]") {
  // Either the frame or the checksum rejects it, or -- a bit zstd's decoder
  // does not use -- the value decodes to exactly the original bytes.
  ValueCodec codec;
  std::mt19937_64 rng(3);
  std::string raw = CodeLikeRecord(rng, 2000);
  int caught = 0, harmless = 0;
  for (bool compress : {false, true}) {
    auto encoded = codec.Encode(raw, 9, EncodeOptions{compress, 3, 0});
    REQUIRE(encoded.ok());
    std::size_t start = ParseValueHeader(*encoded)->header_length;
    for (std::size_t i = start; i < encoded->size(); i += 7) {
      std::string bad = *encoded;
      bad[i] = static_cast<char>(bad[i] ^ 0x10);
      INFO("compress " << compress << " byte " << i);
      auto r = codec.Decode(bad);
      if (r.ok()) {
        CHECK(compress);
        CHECK(*r == raw);
        ++harmless;
      } else {
        CHECK(r.status().IsCorruption());
        ++caught;
      }
    }
  }
  CHECK(caught > 10 * harmless);
}

TEST_CASE("dictionaries: trained, used, required and never replaced", "[codec]") {
  std::mt19937_64 rng(4);
  std::vector<std::string> samples;
  for (int i = 0; i < 2000; ++i) samples.push_back(CodeLikeRecord(rng, 600 + rng() % 900));
  auto dict = TrainDictionary(samples, 16 << 10, 3);
  REQUIRE(dict.ok());
  CHECK(dict->size() <= (16u << 10));
  CHECK(dict->size() > 1000);

  ValueCodec codec;
  REQUIRE(codec.AddDictionary(1, *dict).ok());
  CHECK(codec.AddDictionary(1, *dict).ok());  // same bytes: no-op
  CHECK(codec.AddDictionary(1, "other bytes").code() == StatusCode::kInvalidArgument);
  CHECK(codec.AddDictionary(0, *dict).code() == StatusCode::kInvalidArgument);
  CHECK(codec.Encode("abc", 1, EncodeOptions{true, 3, 99}).status().code() == StatusCode::kInvalidArgument);

  // Fresh records (not in the training set) of 1-2 KiB.
  std::uint64_t raw_total = 0, plain_total = 0, dict_total = 0;
  for (int i = 0; i < 200; ++i) {
    std::string raw = CodeLikeRecord(rng, 1024 + rng() % 1024);
    auto plain = codec.Encode(raw, i, EncodeOptions{true, 3, 0});
    auto with = codec.Encode(raw, i, EncodeOptions{true, 3, 1});
    REQUIRE(plain.ok());
    REQUIRE(with.ok());
    CHECK(ParseValueHeader(*with)->dictionary_id == 1);
    auto back = codec.Decode(*with);
    REQUIRE(back.ok());
    CHECK(*back == raw);
    raw_total += raw.size();
    plain_total += plain->size();
    dict_total += with->size();
  }
  INFO("ratio without dictionary " << double(raw_total) / plain_total << ", with " << double(raw_total) / dict_total);
  CHECK(dict_total < plain_total);

  // A codec that lacks the dictionary reports the value as corrupt, naming it.
  ValueCodec other;
  auto with = codec.Encode(samples[0], 5, EncodeOptions{true, 3, 1});
  REQUIRE(with.ok());
  auto r = other.Decode(*with);
  REQUIRE(r.status().IsCorruption());
  CHECK(r.status().message().find("dictionary 1") != std::string::npos);
  // And one with different bytes under that id fails the checksum or the frame.
  std::vector<std::string> other_samples;
  for (int i = 0; i < 2000; ++i) other_samples.push_back(RandomBytes(rng, 64) + CodeLikeRecord(rng, 500));
  auto dict2 = TrainDictionary(other_samples, 16 << 10, 3);
  REQUIRE(dict2.ok());
  REQUIRE(other.AddDictionary(1, *dict2).ok());
  CHECK(other.Decode(*with).status().IsCorruption());
}

TEST_CASE("training from too little data is an error, not a crash", "[codec]") {
  std::vector<std::string> few = {"a", "b", "c"};
  auto r = TrainDictionary(few, 16 << 10, 3);
  CHECK(r.status().code() == StatusCode::kInvalidArgument);
  CHECK(TrainDictionary({}, 16 << 10, 3).status().code() == StatusCode::kInvalidArgument);
}
