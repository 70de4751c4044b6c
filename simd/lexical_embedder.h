// LexicalEmbedder: the built-in embedding model ("lexical-v1") for users
// without a neural model. It is lexical, not semantic: two texts are close when
// they share (rare) identifiers and words, not when they mean the same thing.
//
// How a text becomes a vector:
//  * Words are runs of letters, digits and '_'. Identifiers are split into
//    parts at '_', at camelCase boundaries (getUserName -> get user name,
//    HTTPServer -> http server) and between letters and digits; parts are
//    lower-cased. So get_user_name, getUserName and GetUserName embed alike.
//  * Features: every part; every multi-part identifier as a whole
//    ("getusername": the most specific signal); adjacent parts of an
//    identifier as pairs ("user name").
//  * Weights stand in for inverse document frequency with a fixed prior, so
//    the model never changes with what was ingested (a vector stored today
//    stays comparable with a query tomorrow): keywords of common languages and
//    English stop words weigh little, single letters and numbers little, longer
//    parts more, whole identifiers most. Repeats count sublinearly (1 + ln n).
//  * Each feature is hashed (64-bit, fixed seeds) to two signed buckets of the
//    vector; the result is scaled to unit length (all zeros for a text without
//    words), so inner product and cosine agree.
// Deterministic: the same text and dimension give bit-identical vectors on
// every machine and run.
//
// Thread-safety: immutable after construction; Embed may be called from any
// number of threads at once.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace postdevai {

class LexicalEmbedder {
 public:
  // The model name recorded with every vector this embedder makes.
  static constexpr std::string_view kModelName = "lexical-v1";
  static constexpr std::size_t kDefaultDimension = 384;

  // `dimension` must be at least 2 (the config's [vectors] dimension).
  explicit LexicalEmbedder(std::size_t dimension = kDefaultDimension);

  std::string_view model() const { return kModelName; }
  std::size_t dimension() const { return dimension_; }

  // Writes the embedding of `text` to out. Precondition: out.size() == dimension().
  void Embed(std::string_view text, std::span<float> out) const;
  std::vector<float> Embed(std::string_view text) const;

  // The lower-cased identifier parts of `text`, in order (what the features
  // are made of); for tests and diagnostics.
  static std::vector<std::string> Tokenize(std::string_view text);

 private:
  std::size_t dimension_;
};

}  // namespace postdevai
