#include "simd/lexical_embedder.h"

#include "simd/code_words.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <unordered_set>

namespace postdevai {

namespace {

// Words so common in code or English that sharing them says little. Fixed:
// changing this list changes the model (it would be "lexical-v2").
const std::unordered_set<std::string_view>& StopWords() {
  static const std::unordered_set<std::string_view> words = {
      // English
      "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "do", "does", "for", "from", "has", "have", "how",
      "i", "in", "into", "is", "it", "its", "me", "my", "no", "not", "of", "on", "or", "our", "so", "than", "that",
      "the", "their", "them", "then", "there", "these", "they", "this", "to", "up", "was", "we", "what", "when",
      "where", "which", "who", "why", "will", "with", "you", "your",
      // keywords and ubiquitous names of common languages
      "abstract", "auto", "bool", "break", "case", "catch", "char", "class", "const", "continue", "def", "default",
      "delete", "double", "elif", "else", "end", "enum", "export", "extern", "false", "final", "float", "fn", "func",
      "function", "get", "if", "impl", "import", "include", "inline", "int", "interface", "let", "long", "mut",
      "namespace", "new", "nil", "none", "null", "nullptr", "override", "package", "pass", "private", "protected",
      "pub", "public", "return", "self", "set", "short", "signed", "size", "static", "std", "str", "string",
      "struct", "super", "switch", "template", "throw", "true", "try", "type", "typedef", "typename", "uint",
      "unsigned", "use", "using", "var", "virtual", "void", "while", "yield"};
  return words;
}

using words::ForEachWord;
using words::SplitIdentifier;

std::uint64_t Mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// FNV-1a over the bytes, seeded by feature kind so "ab" as a part and "ab" as
// a whole identifier are different features; then mixed for good low bits.
std::uint64_t Hash(std::string_view s, std::uint64_t seed) {
  std::uint64_t h = 0xCBF29CE484222325ull ^ (seed * 0x100000001B3ull);
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001B3ull;
  }
  return Mix(h);
}

enum FeatureSeed : std::uint64_t { kPartSeed = 1, kWholeSeed = 2, kPairSeed = 3 };

bool AllDigits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The fixed stand-in for inverse document frequency.
float PartWeight(std::string_view part) {
  if (StopWords().count(part)) return 0.1f;
  if (AllDigits(part)) return 0.2f;
  switch (part.size()) {
    case 1: return 0.1f;
    case 2: return 0.35f;
    case 3: return 0.7f;
    default: return part.size() >= 8 ? 1.2f : 1.0f;
  }
}

struct Feature {
  std::uint64_t hash;
  float weight;
};

}  // namespace

LexicalEmbedder::LexicalEmbedder(std::size_t dimension) : dimension_(std::max<std::size_t>(dimension, 2)) {}

std::vector<std::string> LexicalEmbedder::Tokenize(std::string_view text) {
  std::vector<std::string> parts;
  std::string scratch;
  ForEachWord(text, [&](std::string_view word) {
    SplitIdentifier(word, scratch, [&](const std::string& part) { parts.push_back(part); });
  });
  return parts;
}

void LexicalEmbedder::Embed(std::string_view text, std::span<float> out) const {
  assert(out.size() == dimension_);
  std::fill(out.begin(), out.end(), 0.0f);
  std::vector<Feature> features;
  features.reserve(text.size() / 3 + 8);
  std::string scratch, whole, previous, pair;
  ForEachWord(text, [&](std::string_view word) {
    whole.clear();
    previous.clear();
    float previous_weight = 0;
    std::size_t parts = 0;
    SplitIdentifier(word, scratch, [&](const std::string& part) {
      const float weight = PartWeight(part);
      features.push_back({Hash(part, kPartSeed), weight});
      if (parts > 0) {
        pair.assign(previous).append(1, ' ').append(part);
        // A pair is as informative as its weaker part, and a bit less.
        features.push_back({Hash(pair, kPairSeed), 0.6f * std::min(weight, previous_weight)});
      }
      whole += part;
      previous = part;
      previous_weight = weight;
      ++parts;
    });
    if (parts >= 2) features.push_back({Hash(whole, kWholeSeed), 1.5f});
  });
  if (features.empty()) return;

  // Sublinear term frequency: a feature seen n times counts 1 + ln(n) times.
  std::sort(features.begin(), features.end(), [](const Feature& a, const Feature& b) { return a.hash < b.hash; });
  const std::size_t dim = dimension_;
  for (std::size_t i = 0; i < features.size();) {
    std::size_t j = i;
    while (j < features.size() && features[j].hash == features[i].hash) ++j;
    const float value = features[i].weight * (1.0f + std::log(static_cast<float>(j - i)));
    // Two signed buckets per feature: a collision in one bucket does not erase it.
    const std::uint64_t h1 = features[i].hash;
    const std::uint64_t h2 = Mix(h1 ^ 0x9E3779B97F4A7C15ull);
    out[h1 % dim] += (h1 >> 63) ? -value : value;
    out[h2 % dim] += (h2 >> 63) ? -value : value;
    i = j;
  }
  double norm = 0;
  for (float v : out) norm += double(v) * v;
  if (norm <= 0) return;
  const float inv = static_cast<float>(1.0 / std::sqrt(norm));
  for (float& v : out) v *= inv;
}

std::vector<float> LexicalEmbedder::Embed(std::string_view text) const {
  std::vector<float> out(dimension_);
  Embed(text, out);
  return out;
}

}  // namespace postdevai
